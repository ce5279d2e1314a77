-- What type is each cell? The notebook's merge of the automatic and manual cell-type tables at each
-- version, every root: cell_types_of(NULL, NULL), where the merge is written once (roots with
-- several cell bodies dropped, an outer merge on pt_root_id, missing types 'unsure', cell_type
-- the manual type over the automatic one). DuckDB folds the NULL arguments away, so the view
-- plans as the merge alone. Grain: one row per root id per version (90,337 at minnie65_public v1181).
CREATE OR REPLACE VIEW cell_types AS
SELECT * FROM cell_types_of(NULL, NULL);
COMMENT ON VIEW cell_types IS 'Automatic and manual cell types merged on pt_root_id per version (roots with several nuclei dropped, missing types ''unsure''); cell_type prefers the manual type.';
COMMENT ON COLUMN cell_types.nucleus_id IS 'Nucleus id (stable across versions): the manual table''s, else the automatic table''s.';
