-- Where can I see this neuron? A link to the datastack's neuroglancer (meta.datastack.viewer_site)
-- with the root id selected and the view centred on (x, y, z) in voxels, e.g. a cell's pt_position.
-- The state JSON travels in the URL fragment (#!), percent-encoded with url_encode, so the link
-- works without a state server. NULL when the datastack has no segmentation source configured.
-- The link is neuroglancer_state's, encoded once for placeholder values that DuckDB folds to a
-- constant when it plans the query; each row then only puts its own root id and position in place
-- of the placeholders (their JSON text, encoded). Building and encoding the JSON per row cost
-- 8 us a row: 110 of proofread_neurons' 295 ms at 10x the notebook (docs/benchmarks.md, section 9).
-- A root id of 0 or NULL, or a NULL coordinate, takes the JSON path (no segment, a null position).
-- Grain: one link per call.
-- Usage: SELECT neuroglancer_url(864691135808473885, 240000, 150000, 21000);
CREATE OR REPLACE MACRO neuroglancer_url(root_id, x, y, z) AS
    CASE
        WHEN root_id IS NULL OR root_id = 0 OR x IS NULL OR y IS NULL OR z IS NULL
            THEN rtrim({{datastack.viewer_site}}, '/') || '/#!'
                || url_encode(neuroglancer_state([root_id], x, y, z)::VARCHAR)
        ELSE replace(replace(replace(replace(
            rtrim({{datastack.viewer_site}}, '/') || '/#!'
                || url_encode(neuroglancer_state([1234567890123456789], -1234567891, -1234567892, -1234567893)::VARCHAR),
            '-1234567891', url_encode(to_json(x)::VARCHAR)),
            '-1234567892', url_encode(to_json(y)::VARCHAR)),
            '-1234567893', url_encode(to_json(z)::VARCHAR)),
            '1234567890123456789', url_encode(root_id::VARCHAR))
    END;
COMMENT ON MACRO neuroglancer_url IS 'Neuroglancer link with one root id selected, centred on a voxel position (state JSON in the URL fragment).';
