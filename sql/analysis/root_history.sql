-- Where is this cell at other versions? The nucleus (or nuclei) on a root id at any version it
-- existed, and the root id each of those nuclei has at every version in the warehouse, with
-- whether that root is proofread there. A root id without a typed nucleus (an axon fragment, an
-- untyped cell) has no history here; a root id no version of the file knows is an error.
-- Grain: one row per nucleus per version.
-- Usage: FROM root_history(864691135808473885);
-- No CTEs here: DuckDB 1.4.0 cannot resolve a table macro's CTEs in a file a newer DuckDB wrote (1.4.5 can).
CREATE OR REPLACE MACRO root_history(root_id) AS TABLE
SELECT
    n.version, n.nucleus_id, n.pt_root_id,
    n.pt_root_id = root_id AS same_root,
    EXISTS (
        SELECT 1 FROM proofread_roots p WHERE p.version = n.version AND p.pt_root_id = n.pt_root_id
    ) AS proofread
FROM nucleus_roots n
WHERE n.nucleus_id IN (SELECT nucleus_id FROM nucleus_roots WHERE pt_root_id = root_id AND root_id <> 0)
  AND (
      SELECT CASE
          WHEN EXISTS (
              SELECT 1 FROM (SELECT DISTINCT version FROM meta.current_snapshots) s WHERE root_known(root_id, s.version)
          ) THEN true
          ELSE error('root id ' || root_id || ' is in no version of this warehouse (no nucleus, proofreading row or synapse names it)')
      END
  )
ORDER BY n.nucleus_id, n.version;
COMMENT ON MACRO TABLE root_history IS 'Root ids of the nuclei on a root id at every version in the warehouse, and whether each is proofread.';
