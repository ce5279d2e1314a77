-- Which cell is each proofread root id? The proofreading table has no nucleus id, so a proofread
-- cell's root id at a version is looked up in nucleus_roots at the same version. Most roots have
-- one nucleus; a root with several (a merge) is flagged and keyed by its smallest nucleus id (a
-- nucleus has one root per version, so the key is still unique within a version); a root with
-- none (no typed nucleus) has nucleus_id NULL and can only be followed by an unchanged root id.
-- Grain: one row per proofread cell per version.
CREATE OR REPLACE VIEW proofread_nuclei AS
WITH cells AS (
    SELECT version, pt_root_id FROM proofread_roots
)
SELECT
    c.version, c.pt_root_id,
    min(n.nucleus_id) AS nucleus_id,
    count(n.nucleus_id) AS n_nuclei,
    list(n.nucleus_id ORDER BY n.nucleus_id) FILTER (WHERE n.nucleus_id IS NOT NULL) AS nucleus_ids
FROM cells c
LEFT JOIN nucleus_roots n ON n.version = c.version AND n.pt_root_id = c.pt_root_id AND c.pt_root_id <> 0
GROUP BY c.version, c.pt_root_id;
COMMENT ON VIEW proofread_nuclei IS 'Nucleus id of each proofread cell per version (smallest if the root has several; NULL if none); one row per proofread cell per version.';
COMMENT ON COLUMN proofread_nuclei.nucleus_id IS 'The cell''s key across versions: its nucleus id, the smallest when n_nuclei > 1.';
COMMENT ON COLUMN proofread_nuclei.n_nuclei IS 'Nuclei on this root id: 1 normally, 2 or more for a merged segment, 0 when no typed nucleus is on it.';
