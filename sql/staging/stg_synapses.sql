-- Staging for the synapse table: the current snapshot's rows at each version (which synapses a
-- snapshot holds depends on its query: see meta.snapshots). Grain: one row per synapse per version.
-- Input: the synapse table's raw snapshots (fixed columns stored once, root ids per version).
CREATE OR REPLACE VIEW stg_synapses AS
WITH source AS (
    SELECT * FROM {{raw.synapses}}
    WHERE snapshot_id IN (SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'synapses')
)
SELECT
    version, id, pre_pt_root_id, post_pt_root_id, size,
    pre_pt_supervoxel_id, post_pt_supervoxel_id,
    ctr_pt_position_x, ctr_pt_position_y, ctr_pt_position_z,
    pre_pt_position_x, pre_pt_position_y, pre_pt_position_z,
    post_pt_position_x, post_pt_position_y, post_pt_position_z
FROM source;
COMMENT ON VIEW stg_synapses IS 'Synapse rows per version (current snapshot); size in voxels, positions in voxels.';
