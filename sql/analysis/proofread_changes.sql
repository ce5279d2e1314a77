-- What happened to the proofread cells between two versions? Cells are matched first by an
-- unchanged root id (the same segment), then by nucleus id (proofread_nuclei: a root with two
-- nuclei is keyed by the smaller one). change is 'same root', 'root changed' (the cell was
-- edited), 'added' (proofread at v2, not at v1) or 'lost' (proofread at v1, not at v2);
-- nucleus_root_v1/_v2 give the nucleus's root at each version even when the cell was not proofread
-- there (so an 'added' cell that already existed shows its old root). syn_in/syn_out are the
-- cell's synapses in each version's synapse snapshot (neuron_degrees.syn_in_all/syn_out_all,
-- autapses excluded): they change when an edit adds or removes pieces of the cell; compare them
-- only between snapshots taken with the same --synapses query. syn_in_proofread/syn_out_proofread
-- count only synapses with other proofread cells, so they also grow as more cells are proofread.
-- All counts are NULL where the cell is not proofread. v1 may be later than v2: the columns
-- follow the arguments.
-- Grain: one row per cell proofread at v1 or v2.
-- Usage: FROM proofread_changes(1078, 1181);  FROM proofread_changes(1078, 1181) WHERE change <> 'same root';
CREATE OR REPLACE MACRO proofread_changes(v1, v2) AS TABLE
WITH guard AS (
    SELECT require_snapshot(v1, 'proofreading') AND require_snapshot(v2, 'proofreading')
       AND require_snapshot(v1, 'synapses') AND require_snapshot(v2, 'synapses')
       AND require_snapshot(v1, 'cell_types_auto') AND require_snapshot(v2, 'cell_types_auto')
       AND require_snapshot(v1, 'cell_types_manual') AND require_snapshot(v2, 'cell_types_manual') AS ok
),
a AS (
    SELECT n.pt_root_id, n.nucleus_id, n.n_nuclei, d.cell_type, d.syn_in_all, d.syn_out_all, d.syn_in, d.syn_out
    FROM proofread_nuclei n
    LEFT JOIN (FROM neuron_degrees WHERE version = v1) d ON d.pt_root_id = n.pt_root_id
    WHERE n.version = v1 AND (SELECT ok FROM guard)
),
b AS (
    SELECT n.pt_root_id, n.nucleus_id, n.n_nuclei, d.cell_type, d.syn_in_all, d.syn_out_all, d.syn_in, d.syn_out
    FROM proofread_nuclei n
    LEFT JOIN (FROM neuron_degrees WHERE version = v2) d ON d.pt_root_id = n.pt_root_id
    WHERE n.version = v2 AND (SELECT ok FROM guard)
),
same_root AS (
    SELECT a.pt_root_id AS root_a, b.pt_root_id AS root_b FROM a JOIN b ON b.pt_root_id = a.pt_root_id
),
by_nucleus AS (
    SELECT a.pt_root_id AS root_a, b.pt_root_id AS root_b
    FROM (FROM a ANTI JOIN same_root s ON s.root_a = a.pt_root_id) a
    JOIN (FROM b ANTI JOIN same_root s ON s.root_b = b.pt_root_id) b ON b.nucleus_id = a.nucleus_id
),
matched AS (
    FROM same_root UNION ALL FROM by_nucleus
),
pairs AS (
    FROM matched
    UNION ALL
    SELECT a.pt_root_id, NULL FROM a ANTI JOIN matched m ON m.root_a = a.pt_root_id
    UNION ALL
    SELECT NULL, b.pt_root_id FROM b ANTI JOIN matched m ON m.root_b = b.pt_root_id
),
joined AS (
    SELECT
        coalesce(a.nucleus_id, b.nucleus_id) AS nucleus_id,
        CASE WHEN a.pt_root_id IS NULL THEN 'added'
             WHEN b.pt_root_id IS NULL THEN 'lost'
             WHEN a.pt_root_id = b.pt_root_id THEN 'same root'
             ELSE 'root changed' END AS change,
        a.pt_root_id AS root_id_v1,
        b.pt_root_id AS root_id_v2,
        coalesce(b.cell_type, a.cell_type) AS cell_type,
        greatest(coalesce(a.n_nuclei, 0), coalesce(b.n_nuclei, 0)) > 1 AS several_nuclei,
        a.syn_in_all AS syn_in_v1, b.syn_in_all AS syn_in_v2,
        a.syn_out_all AS syn_out_v1, b.syn_out_all AS syn_out_v2,
        a.syn_in AS syn_in_proofread_v1, b.syn_in AS syn_in_proofread_v2,
        a.syn_out AS syn_out_proofread_v1, b.syn_out AS syn_out_proofread_v2
    FROM pairs p
    LEFT JOIN a ON a.pt_root_id = p.root_a
    LEFT JOIN b ON b.pt_root_id = p.root_b
)
SELECT
    j.nucleus_id, j.change, v1 AS v1, v2 AS v2, j.root_id_v1, j.root_id_v2,
    n1.pt_root_id AS nucleus_root_v1, n2.pt_root_id AS nucleus_root_v2,
    j.cell_type, j.several_nuclei,
    j.syn_in_v1, j.syn_in_v2, j.syn_in_v2 - j.syn_in_v1 AS syn_in_change,
    j.syn_out_v1, j.syn_out_v2, j.syn_out_v2 - j.syn_out_v1 AS syn_out_change,
    j.syn_in_proofread_v1, j.syn_in_proofread_v2, j.syn_out_proofread_v1, j.syn_out_proofread_v2
FROM joined j
LEFT JOIN nucleus_roots n1 ON n1.version = v1 AND n1.nucleus_id = j.nucleus_id
LEFT JOIN nucleus_roots n2 ON n2.version = v2 AND n2.nucleus_id = j.nucleus_id
ORDER BY
    CASE j.change WHEN 'root changed' THEN 0 WHEN 'added' THEN 1 WHEN 'lost' THEN 2 ELSE 3 END,
    j.nucleus_id NULLS LAST, coalesce(j.root_id_v2, j.root_id_v1);
COMMENT ON MACRO TABLE proofread_changes IS 'Proofread cells between versions v1 and v2, matched by root id then nucleus id: same root / root changed / added / lost, with synapse counts at both versions.';
