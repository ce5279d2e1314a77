-- Where is each synapse, in units a person reads? The synapse's centre (ctr_pt_position) in voxels
-- and in micrometres, its depth below the pia in micrometres (voxel size and pia from
-- meta.datastack), and a neuroglancer link with both partners selected, centred on the synapse.
-- Only synapses in the version's synapse snapshot are here (see meta.snapshots for its query).
-- Grain: one row per synapse per version.
CREATE OR REPLACE VIEW synapse_positions AS
SELECT
    s.version, s.id, s.pre_pt_root_id, s.post_pt_root_id, s.size,
    s.ctr_pt_position_x, s.ctr_pt_position_y, s.ctr_pt_position_z,
    s.ctr_pt_position_x * voxel_um('x') AS ctr_x_um,
    s.ctr_pt_position_y * voxel_um('y') AS ctr_y_um,
    s.ctr_pt_position_z * voxel_um('z') AS ctr_z_um,
    depth_um(s.ctr_pt_position_y) AS depth_um,
    neuroglancer_synapse_url(
        s.pre_pt_root_id, s.post_pt_root_id, s.ctr_pt_position_x, s.ctr_pt_position_y, s.ctr_pt_position_z
    ) AS neuroglancer_url
FROM stg_synapses s;
COMMENT ON VIEW synapse_positions IS 'Synapses with their centre in voxels and um, depth below the pia (um) and a neuroglancer link; one row per synapse per version.';
COMMENT ON COLUMN synapse_positions.depth_um IS 'Depth of the synapse centre below the pia in um: (y - pia_y_voxels) * voxel y size.';
COMMENT ON COLUMN synapse_positions.neuroglancer_url IS 'Link with the pre and post root ids selected, centred on the synapse (computed only when selected).';
