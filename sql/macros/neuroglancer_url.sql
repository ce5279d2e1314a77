-- Where can I see this neuron? A link to the datastack's neuroglancer (meta.datastack.viewer_site)
-- with the root id selected and the view centred on (x, y, z) in voxels, e.g. a cell's pt_position.
-- The state JSON travels in the URL fragment (#!), percent-encoded with url_encode, so the link
-- works without a state server. NULL when the datastack has no segmentation source configured.
-- Usage: SELECT neuroglancer_url(864691135808473885, 240000, 150000, 21000);
CREATE OR REPLACE MACRO neuroglancer_url(root_id, x, y, z) AS
    rtrim({{datastack.viewer_site}}, '/') || '/#!'
    || url_encode(neuroglancer_state([root_id], x, y, z)::VARCHAR);
COMMENT ON MACRO neuroglancer_url IS 'Neuroglancer link with one root id selected, centred on a voxel position (state JSON in the URL fragment).';
