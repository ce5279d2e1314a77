-- Which cells have a proofread axon at each version? The notebook's first step: the proofreading
-- table filtered on the datastack's proofread filter (status_axon = 't' on minnie65_public: 1,436
-- cells at v1181; datastacks.toml is its one master, and the synapse ingest takes the synapses of
-- exactly these cells). Positions are given in voxels and in micrometres, with depth below the
-- pia, a neuroglancer link to the cell, and the cell's nucleus id from the nucleus table (the
-- smallest when a merged root has several; NULL when no nucleus is on the root).
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
    neuroglancer_url(p.pt_root_id, p.pt_position_x, p.pt_position_y, p.pt_position_z) AS neuroglancer_url,
    n.nucleus_id, coalesce(n.n_nuclei, 0) AS n_nuclei
FROM stg_proofreading p
LEFT JOIN (
    -- Only the proofread cells' nuclei are counted: grouping the whole nucleus table first took
    -- 120 of 170 ms at 10x the notebook (940 k nuclei against 14 k cells).
    SELECT s.version, s.pt_root_id, min(s.nucleus_id) AS nucleus_id, count(*) AS n_nuclei
    FROM stg_nucleus s
    SEMI JOIN proofread_roots r ON r.version = s.version AND r.pt_root_id = s.pt_root_id
    WHERE s.pt_root_id <> 0
    GROUP BY s.version, s.pt_root_id
) n ON n.version = p.version AND n.pt_root_id = p.pt_root_id
WHERE {{filter.proofread}};
COMMENT ON VIEW proofread_neurons IS 'Cells with a proofread axon (the datastack''s proofread filter, status_axon = ''t'') per version; positions in voxels and um, depth_um below the pia; nucleus_id.';
COMMENT ON COLUMN proofread_neurons.nucleus_id IS 'The cell''s nucleus id (stable across versions); the smallest when n_nuclei > 1, NULL when 0.';
COMMENT ON COLUMN proofread_neurons.pt_root_id IS 'Root id at this version (changes when the cell is edited).';
COMMENT ON COLUMN proofread_neurons.neuroglancer_url IS 'Link to the datastack''s neuroglancer with this cell selected, centred on pt_position.';
