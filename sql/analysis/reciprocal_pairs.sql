-- Which pairs of proofread cells connect both ways? Every unordered pair (a, b) of proofread cells
-- with at least one synapse a -> b and one b -> a (autapses removed), a being the smaller root
-- id, with the synapse count each way and both cells' merged types ('no type' when neither type
-- table has the cell). Grain: one row per reciprocally connected pair per version.
CREATE OR REPLACE VIEW reciprocal_pairs AS
WITH cells AS (
    SELECT DISTINCT version, pt_root_id, coalesce(cell_type, 'no type') AS cell_type
    FROM proofread_cell_types
)
SELECT
    ab.version,
    ab.pre_pt_root_id AS root_id_a,
    ab.post_pt_root_id AS root_id_b,
    ta.cell_type AS cell_type_a,
    tb.cell_type AS cell_type_b,
    ab.syn_count AS syn_a_to_b,
    ba.syn_count AS syn_b_to_a
FROM connections ab
JOIN connections ba
    ON ba.version = ab.version AND ba.pre_pt_root_id = ab.post_pt_root_id AND ba.post_pt_root_id = ab.pre_pt_root_id
JOIN cells ta ON ta.version = ab.version AND ta.pt_root_id = ab.pre_pt_root_id
JOIN cells tb ON tb.version = ab.version AND tb.pt_root_id = ab.post_pt_root_id
WHERE ab.pre_pt_root_id < ab.post_pt_root_id;
COMMENT ON VIEW reciprocal_pairs IS 'Pairs of proofread cells connected in both directions (root_id_a < root_id_b) with synapses each way; one row per pair per version.';
