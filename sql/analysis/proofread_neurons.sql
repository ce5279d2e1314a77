-- Which cells have a proofread axon at each version? The notebook's first step: the proofreading
-- table filtered on status_axon = 't' (1,436 cells at minnie65_public v1181). Positions are given in
-- voxels and in micrometres, with depth below the pia, and a neuroglancer link to the cell.
-- Grain: one row per proofread cell per version.
CREATE OR REPLACE VIEW proofread_neurons AS
SELECT
    p.version, p.pt_root_id, p.id, p.valid_id,
    p.status_axon, p.strategy_axon, p.status_dendrite, p.strategy_dendrite,
    p.pt_position_x, p.pt_position_y, p.pt_position_z,
    p.pt_position_x * voxel_um('x') AS x_um,
    p.pt_position_y * voxel_um('y') AS y_um,
    p.pt_position_z * voxel_um('z') AS z_um,
    depth_um(p.pt_position_y) AS depth_um,
    neuroglancer_url(p.pt_root_id, p.pt_position_x, p.pt_position_y, p.pt_position_z) AS neuroglancer_url
FROM stg_proofreading p
WHERE p.status_axon = 't';
COMMENT ON VIEW proofread_neurons IS 'Cells with a proofread axon (status_axon = ''t'') per version; positions in voxels and um, depth_um below the pia.';
COMMENT ON COLUMN proofread_neurons.pt_root_id IS 'Root id at this version (changes when the cell is edited).';
COMMENT ON COLUMN proofread_neurons.neuroglancer_url IS 'Link to the datastack''s neuroglancer with this cell selected, centred on pt_position.';
