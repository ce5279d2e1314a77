-- What happened to the proofread cells between two versions? Cells are matched first by an
-- unchanged root id (the same segment), then by nucleus id (proofread_nuclei: a root with two
-- nuclei is keyed by the smaller one). In one join: a cell whose root id is proofread at the other
-- version matches on root id, any other cell on its nucleus id (a cell without one cannot match).
-- change is 'same root', 'root changed' (the cell was edited), 'added' (proofread at v2, not at
-- v1) or 'lost' (proofread at v1, not at v2); nucleus_root_v1/_v2 give the nucleus's root at each
-- version even when the cell was not proofread there (so an 'added' cell that already existed
-- shows its old root). syn_in/syn_out are the cell's synapses in each version's synapse snapshot
-- (proofread_cell_state.syn_in_all/syn_out_all, autapses excluded): they change when an edit adds
-- or removes pieces of the cell; compare them only between snapshots taken with the same
-- --synapses query. syn_in_proofread/syn_out_proofread count only synapses with other proofread
-- cells, so they also grow as more cells are proofread. Counts are NULL where the cell is not
-- proofread. v1 may be later than v2: the columns follow the arguments.
-- Grain: one row per cell proofread at v1 or v2.
-- Usage: FROM proofread_changes(1078, 1181);  FROM proofread_changes(1078, 1181) WHERE change <> 'same root';
-- No CTEs here: DuckDB 1.4.0 cannot resolve a table macro's CTEs in a file a newer DuckDB wrote (1.4.5 can).
CREATE OR REPLACE MACRO proofread_changes(v1, v2) AS TABLE
SELECT
    coalesce(a.nucleus_id, b.nucleus_id) AS nucleus_id,
    CASE WHEN a.pt_root_id IS NULL THEN 'added'
         WHEN b.pt_root_id IS NULL THEN 'lost'
         WHEN a.pt_root_id = b.pt_root_id THEN 'same root'
         ELSE 'root changed' END AS change,
    v1 AS v1, v2 AS v2,
    a.pt_root_id AS root_id_v1, b.pt_root_id AS root_id_v2,
    n1.pt_root_id AS nucleus_root_v1, n2.pt_root_id AS nucleus_root_v2,
    coalesce(b.cell_type, a.cell_type) AS cell_type,
    greatest(coalesce(a.n_nuclei, 0), coalesce(b.n_nuclei, 0)) > 1 AS several_nuclei,
    a.syn_in_all AS syn_in_v1, b.syn_in_all AS syn_in_v2, b.syn_in_all - a.syn_in_all AS syn_in_change,
    a.syn_out_all AS syn_out_v1, b.syn_out_all AS syn_out_v2, b.syn_out_all - a.syn_out_all AS syn_out_change,
    a.syn_in AS syn_in_proofread_v1, b.syn_in AS syn_in_proofread_v2,
    a.syn_out AS syn_out_proofread_v1, b.syn_out AS syn_out_proofread_v2
FROM (
    SELECT
        c.*,
        c.nucleus_id IS NULL OR c.pt_root_id IN (SELECT pt_root_id FROM proofread_roots WHERE version = v2) AS by_root,
        CASE WHEN c.nucleus_id IS NULL OR c.pt_root_id IN (SELECT pt_root_id FROM proofread_roots WHERE version = v2)
             THEN c.pt_root_id ELSE c.nucleus_id END AS match_id
    FROM proofread_cell_state c
    WHERE c.version = v1
      AND (SELECT require_snapshot(v1, 'proofreading') AND require_snapshot(v1, 'synapses')
              AND require_snapshot(v1, 'cell_types_auto') AND require_snapshot(v1, 'cell_types_manual'))
) a
FULL OUTER JOIN (
    SELECT
        c.*,
        c.nucleus_id IS NULL OR c.pt_root_id IN (SELECT pt_root_id FROM proofread_roots WHERE version = v1) AS by_root,
        CASE WHEN c.nucleus_id IS NULL OR c.pt_root_id IN (SELECT pt_root_id FROM proofread_roots WHERE version = v1)
             THEN c.pt_root_id ELSE c.nucleus_id END AS match_id
    FROM proofread_cell_state c
    WHERE c.version = v2
      AND (SELECT require_snapshot(v2, 'proofreading') AND require_snapshot(v2, 'synapses')
              AND require_snapshot(v2, 'cell_types_auto') AND require_snapshot(v2, 'cell_types_manual'))
) b ON b.by_root = a.by_root AND b.match_id = a.match_id
LEFT JOIN nucleus_roots n1 ON n1.version = v1 AND n1.nucleus_id = coalesce(a.nucleus_id, b.nucleus_id)
LEFT JOIN nucleus_roots n2 ON n2.version = v2 AND n2.nucleus_id = coalesce(a.nucleus_id, b.nucleus_id)
ORDER BY
    CASE change WHEN 'root changed' THEN 0 WHEN 'added' THEN 1 WHEN 'lost' THEN 2 ELSE 3 END,
    nucleus_id NULLS LAST, coalesce(root_id_v2, root_id_v1);
COMMENT ON MACRO TABLE proofread_changes IS 'Proofread cells between versions v1 and v2, matched by root id then nucleus id: same root / root changed / added / lost, with synapse counts at both versions.';
