-- Which root id does each cell body have at each version? Nucleus ids stay while root ids change
-- with every edit, so this is how a cell is followed across versions. Both cell-type tables come
-- joined to the nucleus table, whose pt_root_id they carry; their union covers every nucleus that
-- has an automatic or a manual type. Root id 0 (a nucleus not in any segment) is kept: it is what
-- the tables say. A root id with two nuclei (a merge error) appears on two rows.
-- Grain: one row per nucleus per version.
CREATE OR REPLACE VIEW nucleus_roots AS
SELECT version, nucleus_id, pt_root_id FROM stg_cell_types_auto
UNION
SELECT version, nucleus_id, pt_root_id FROM stg_cell_types_manual;
COMMENT ON VIEW nucleus_roots IS 'Root id of each nucleus (cell body) per version, from both cell-type tables; one row per nucleus per version.';
COMMENT ON COLUMN nucleus_roots.nucleus_id IS 'Nucleus id: stable across versions, the key to follow a cell.';
