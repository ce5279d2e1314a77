-- Any view at one version, or an error naming the fix when the version is not in the file. A plain
-- view filtered on a missing version can only answer with no rows; this macro says why instead.
-- It checks every table role the view is built on, as meta.view_roles records them (read from the
-- sql/ files when they are applied).
-- Usage: FROM at_version('proofread_synapses', 1181);  FROM at_version('cell_types', 1181);
CREATE OR REPLACE MACRO at_version(view_name, v) AS TABLE
SELECT *
FROM query_table(view_name)
WHERE version = (
    SELECT CASE WHEN count(*) FILTER (WHERE NOT require_snapshot(v, r.role)) = 0 THEN v END
    FROM meta.view_roles r
    WHERE r.object_name = view_name
);
COMMENT ON MACRO TABLE at_version IS 'Any view at one version; an error naming the mwh ingest command when that version is not in the file.';
