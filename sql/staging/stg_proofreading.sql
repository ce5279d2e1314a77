-- Staging for the proofreading status table: the current snapshot's rows at each version, as CAVE
-- returns them (positions in voxels). Grain: one row per proofreading annotation per version.
-- Input: the proofreading table's raw snapshots.
CREATE OR REPLACE VIEW stg_proofreading AS
WITH source AS (
    SELECT * FROM {{raw.proofreading}}
    WHERE snapshot_id IN (SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'proofreading')
)
SELECT
    version, id, created, valid, pt_supervoxel_id, pt_root_id, valid_id,
    status_dendrite, status_axon, strategy_dendrite, strategy_axon,
    pt_position_x, pt_position_y, pt_position_z
FROM source;
COMMENT ON VIEW stg_proofreading IS 'Proofreading status table rows per version (current snapshot); positions in voxels.';
