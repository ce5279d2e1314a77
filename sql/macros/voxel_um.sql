-- How many micrometres is one voxel along an axis ('x', 'y' or 'z')? The datastack's voxel
-- resolution, recorded in meta.datastack at ingest and written in here as literals when the views
-- are created, so no view assumes 4 x 4 x 40 nm and DuckDB folds voxel_um('y') to a constant.
CREATE OR REPLACE MACRO voxel_um(axis) AS
    CASE axis
        WHEN 'x' THEN {{datastack.voxel_x_nm}}
        WHEN 'y' THEN {{datastack.voxel_y_nm}}
        WHEN 'z' THEN {{datastack.voxel_z_nm}}
    END / 1000.0;
COMMENT ON MACRO voxel_um IS 'Micrometres per voxel along x, y or z, from meta.datastack.';
