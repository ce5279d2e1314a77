-- How far below the pia is a point, in micrometres? Its y in voxels less the pia's y
-- (meta.datastack.pia_y_voxels, written in as a literal when the views are created), times the
-- voxel height. Cortical depth is what layer assignments and the depth plots read.
-- Usage: SELECT depth_um(pt_position_y) FROM proofread_neurons;
CREATE OR REPLACE MACRO depth_um(y_voxels) AS (y_voxels - {{datastack.pia_y_voxels}}) * voxel_um('y');
COMMENT ON MACRO depth_um IS 'Depth below the pia in micrometres of a y position in voxels (meta.datastack.pia_y_voxels).';
