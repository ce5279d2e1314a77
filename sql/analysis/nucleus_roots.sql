-- Which root id does each cell body have at each version? Nucleus ids stay while root ids change
-- with every edit, so this is how a cell is followed across versions. It reads the nucleus table
-- itself, so every detected cell body is here, with or without a cell-type row. Root id 0 (a
-- nucleus not in any segment) is kept: it is what the table says. A root id with two nuclei (a
-- merge error) appears on two rows.
-- Grain: one row per nucleus per version.
CREATE OR REPLACE VIEW nucleus_roots AS
SELECT version, nucleus_id, pt_root_id FROM stg_nucleus;
COMMENT ON VIEW nucleus_roots IS 'Root id of each nucleus (cell body) per version, from the nucleus table; one row per nucleus per version.';
COMMENT ON COLUMN nucleus_roots.nucleus_id IS 'Nucleus id: stable across versions, the key to follow a cell.';
