-- Where is this synapse? A link to the datastack's neuroglancer with both the pre- and the
-- post-synaptic root ids selected (0, an unsegmented piece, is left out) and the view centred on
-- the synapse (x, y, z in voxels, e.g. ctr_pt_position). NULL when the datastack has no
-- segmentation source configured.
-- Usage: SELECT neuroglancer_synapse_url(864691135808473885, 864691135000000000, 240000, 150000, 21000);
CREATE OR REPLACE MACRO neuroglancer_synapse_url(pre_root_id, post_root_id, x, y, z) AS
    rtrim({{datastack.viewer_site}}, '/') || '/#!'
    || url_encode(neuroglancer_state([pre_root_id, post_root_id], x, y, z)::VARCHAR);
COMMENT ON MACRO neuroglancer_synapse_url IS 'Neuroglancer link to a synapse: pre and post root ids selected, centred on a voxel position.';
