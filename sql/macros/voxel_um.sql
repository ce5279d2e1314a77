-- How many micrometres is one voxel along an axis ('x', 'y' or 'z')? Read from meta.datastack, where
-- ingest records the datastack's voxel resolution, so no view assumes 4 x 4 x 40 nm.
CREATE OR REPLACE MACRO voxel_um(axis) AS (
    SELECT CASE axis WHEN 'x' THEN voxel_x_nm WHEN 'y' THEN voxel_y_nm WHEN 'z' THEN voxel_z_nm END / 1000.0
    FROM meta.datastack
);
COMMENT ON MACRO voxel_um IS 'Micrometres per voxel along x, y or z, from meta.datastack.';
