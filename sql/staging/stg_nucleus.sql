-- Staging for the nucleus table: every detected cell body at each version, with its stable id,
-- volume, position (voxels) and the root id it sits in at that version. Root id 0 is a nucleus in
-- no segment; a root id with two nuclei is a merge. Grain: one row per nucleus per version.
-- Input: the nucleus table's raw snapshots.
CREATE OR REPLACE VIEW stg_nucleus AS
WITH source AS (
    SELECT * FROM {{raw.nucleus}}
    WHERE snapshot_id IN (SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'nucleus')
)
SELECT
    version, id AS nucleus_id, pt_root_id, pt_supervoxel_id, volume,
    pt_position_x, pt_position_y, pt_position_z
FROM source;
COMMENT ON VIEW stg_nucleus IS 'Nucleus table rows per version (current snapshot): nucleus_id, root id, volume (um^3), position in voxels.';
COMMENT ON COLUMN stg_nucleus.nucleus_id IS 'Nucleus id: stable across versions, the key to follow a cell.';
