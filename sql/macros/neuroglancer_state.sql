-- What does neuroglancer need to open a place in the volume with some segments selected? The JSON
-- state of a viewer link: an image layer (when the datastack has an image source), a segmentation
-- layer with the given root ids selected (0 and NULL skipped), and the view centred on (x, y, z)
-- in voxels. The sources come from the datastack's configuration, recorded in meta.warehouse
-- (keys segmentation_source, image_source) and written in here as literals when the views are
-- created ({{warehouse.*}}, {{datastack.*}}: see warehouse/sqlfiles.py), so DuckDB folds the
-- choices below to constants; the state is NULL when no segmentation source is configured. Two state dialects exist, as nglui knows: the Seung-lab fork (neuroglancer.neuvue.io,
-- the viewer_site of minnie65_public) reads 'navigation' and a 'segmentation_with_graph' layer for
-- graphene sources; mainline neuroglancer (spelunker and others) reads 'dimensions' and 'position'.
-- The dialect follows meta.datastack.viewer_site. Grain: one JSON document per call.
-- Usage: SELECT neuroglancer_state([864691135808473885], 240000, 150000, 21000);
CREATE OR REPLACE MACRO neuroglancer_state(segments, x, y, z) AS
    CASE
        WHEN nullif({{warehouse.segmentation_source}}, '') IS NULL THEN NULL
        WHEN regexp_matches(
            {{datastack.viewer_site}},
            '^[a-z]+://(neuroglancer\.neuvue\.io|ngl\.flywire\.ai|neuroglancer\.bossdb\.io|neuromancer-seung-import\.appspot\.com)(/|$)'
        ) THEN json_object(
            'layers', list_concat(
                CASE WHEN nullif({{warehouse.image_source}}, '') IS NULL THEN []::JSON[]
                     ELSE [json_object('type', 'image', 'source', {{warehouse.image_source}}, 'name', 'img')] END,
                [json_object(
                    'type', CASE WHEN {{warehouse.segmentation_source}} LIKE 'graphene://%' THEN 'segmentation_with_graph'
                            ELSE 'segmentation' END,
                    'source', {{warehouse.segmentation_source}},
                    'segments', to_json([s::VARCHAR FOR s IN segments IF s IS NOT NULL AND s <> 0]),
                    'name', 'seg'
                )]
            ),
            'navigation', json_object(
                'pose', json_object('position', json_object(
                    'voxelSize', json_array({{datastack.voxel_x_nm}}, {{datastack.voxel_y_nm}}, {{datastack.voxel_z_nm}}),
                    'voxelCoordinates', json_array(x, y, z)
                )),
                'zoomFactor', 2.0
            ),
            'perspectiveZoom', 2000.0,
            'selectedLayer', json_object('layer', 'seg', 'visible', true),
            'layout', 'xy-3d'
        )
        ELSE json_object(
            'dimensions', json_object(
                'x', json_array({{datastack.voxel_x_nm}} * 1e-9, 'm'),
                'y', json_array({{datastack.voxel_y_nm}} * 1e-9, 'm'),
                'z', json_array({{datastack.voxel_z_nm}} * 1e-9, 'm')
            ),
            'position', json_array(x, y, z),
            'crossSectionScale', 1.0,
            'layers', list_concat(
                CASE WHEN nullif({{warehouse.image_source}}, '') IS NULL THEN []::JSON[]
                     ELSE [json_object('type', 'image', 'source', {{warehouse.image_source}}, 'name', 'img')] END,
                [json_object(
                    'type', 'segmentation',
                    'source', {{warehouse.segmentation_source}},
                    'segments', to_json([s::VARCHAR FOR s IN segments IF s IS NOT NULL AND s <> 0]),
                    'name', 'seg'
                )]
            ),
            'selectedLayer', json_object('layer', 'seg', 'visible', true),
            'layout', 'xy-3d'
        )
    END;
COMMENT ON MACRO neuroglancer_state IS 'Neuroglancer JSON state: segmentation (and image) layer with the given root ids selected, centred on a voxel position; dialect from meta.datastack.viewer_site.';
