-- Staging for the auto cell-type table, joined to the nucleus table as query_table returns it,
-- with target_id renamed nucleus_id. Grain: one row per cell-type annotation per version.
-- Input: the cell_types_auto table's raw snapshots.
CREATE OR REPLACE VIEW stg_cell_types_auto AS
WITH source AS (
    SELECT * FROM {{raw.cell_types_auto}}
    WHERE snapshot_id IN (SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'cell_types_auto')
)
SELECT
    version, id, target_id AS nucleus_id, classification_system, cell_type,
    pt_root_id, pt_supervoxel_id, volume, pt_position_x, pt_position_y, pt_position_z
FROM source;
COMMENT ON VIEW stg_cell_types_auto IS 'auto cell types per version with target_id renamed nucleus_id; positions in voxels.';
