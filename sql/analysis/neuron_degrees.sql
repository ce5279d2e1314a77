-- How connected is each proofread neuron? Among proofread cells (the connections view: autapses
-- removed): out_degree and in_degree (distinct proofread partners), syn_out and syn_in (synapses
-- to and from them) and reciprocal_partners (partners connected both ways). syn_out_all and
-- syn_in_all count every synapse of the cell that the version's synapse snapshot holds, autapses
-- excluded: with 'mwh ingest --synapses partners' that is all its inputs and outputs, with the
-- default 'proofread' query only those with proofread partners (see meta.snapshots.query).
-- Grain: one row per proofread cell per version.
CREATE OR REPLACE VIEW neuron_degrees AS
WITH cells AS (
    SELECT DISTINCT version, pt_root_id, coalesce(cell_type, 'no type') AS cell_type
    FROM proofread_cell_types
),
outs AS (
    SELECT version, pre_pt_root_id AS pt_root_id, count(*) AS out_degree, sum(syn_count)::BIGINT AS syn_out
    FROM connections GROUP BY ALL
),
ins AS (
    SELECT version, post_pt_root_id AS pt_root_id, count(*) AS in_degree, sum(syn_count)::BIGINT AS syn_in
    FROM connections GROUP BY ALL
),
reciprocal AS (
    SELECT a.version, a.pre_pt_root_id AS pt_root_id, count(*) AS reciprocal_partners
    FROM connections a
    JOIN connections b
        ON b.version = a.version AND b.pre_pt_root_id = a.post_pt_root_id AND b.post_pt_root_id = a.pre_pt_root_id
    GROUP BY ALL
),
all_out AS (
    SELECT s.version, s.pre_pt_root_id AS pt_root_id, count(*) AS syn_out_all
    FROM stg_synapses s
    SEMI JOIN cells c ON c.version = s.version AND c.pt_root_id = s.pre_pt_root_id
    WHERE s.pre_pt_root_id <> s.post_pt_root_id
    GROUP BY ALL
),
all_in AS (
    SELECT s.version, s.post_pt_root_id AS pt_root_id, count(*) AS syn_in_all
    FROM stg_synapses s
    SEMI JOIN cells c ON c.version = s.version AND c.pt_root_id = s.post_pt_root_id
    WHERE s.pre_pt_root_id <> s.post_pt_root_id
    GROUP BY ALL
)
SELECT
    c.version, c.pt_root_id, c.cell_type,
    coalesce(o.out_degree, 0) AS out_degree,
    coalesce(i.in_degree, 0) AS in_degree,
    coalesce(o.syn_out, 0) AS syn_out,
    coalesce(i.syn_in, 0) AS syn_in,
    coalesce(r.reciprocal_partners, 0) AS reciprocal_partners,
    coalesce(ao.syn_out_all, 0) AS syn_out_all,
    coalesce(ai.syn_in_all, 0) AS syn_in_all
FROM cells c
LEFT JOIN outs o ON o.version = c.version AND o.pt_root_id = c.pt_root_id
LEFT JOIN ins i ON i.version = c.version AND i.pt_root_id = c.pt_root_id
LEFT JOIN reciprocal r ON r.version = c.version AND r.pt_root_id = c.pt_root_id
LEFT JOIN all_out ao ON ao.version = c.version AND ao.pt_root_id = c.pt_root_id
LEFT JOIN all_in ai ON ai.version = c.version AND ai.pt_root_id = c.pt_root_id;
COMMENT ON VIEW neuron_degrees IS 'In/out degree, synapse counts and reciprocal partners of each proofread cell among proofread cells, plus all its synapses in the snapshot; one row per proofread cell per version.';
COMMENT ON COLUMN neuron_degrees.out_degree IS 'Distinct proofread cells this cell makes at least one synapse onto (autapses removed).';
COMMENT ON COLUMN neuron_degrees.syn_out_all IS 'Output synapses in the version''s synapse snapshot (autapses excluded); depends on the snapshot''s query.';
