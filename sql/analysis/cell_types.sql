-- What type is each cell? The notebook's merge of the automatic and manual cell-type tables at each
-- version: target_id renamed nucleus_id in both tables (the notebook renamed the manual one twice
-- and the automatic one never; this does what it meant), root ids with several cell bodies dropped
-- from each table (all copies, as drop_duplicates(keep=False)), an outer merge on pt_root_id with
-- suffixes _auto/_manual, and missing types filled with 'unsure'. cell_type takes the manual type
-- over the automatic one. Grain: one row per root id per version (90,337 at minnie65_public v1181).
CREATE OR REPLACE VIEW cell_types AS
WITH auto AS (
    SELECT version, pt_root_id, nucleus_id, classification_system, cell_type
    FROM stg_cell_types_auto
    QUALIFY count(*) OVER (PARTITION BY version, pt_root_id) = 1
),
manual AS (
    SELECT version, pt_root_id, nucleus_id, classification_system, cell_type
    FROM stg_cell_types_manual
    QUALIFY count(*) OVER (PARTITION BY version, pt_root_id) = 1
),
merged AS (
    SELECT
        coalesce(a.version, m.version) AS version,
        coalesce(a.pt_root_id, m.pt_root_id) AS pt_root_id,
        a.nucleus_id AS nucleus_id_auto,
        a.classification_system AS classification_system_auto,
        coalesce(a.cell_type, 'unsure') AS cell_type_auto,
        m.nucleus_id AS nucleus_id_manual,
        m.classification_system AS classification_system_manual,
        coalesce(m.cell_type, 'unsure') AS cell_type_manual
    FROM auto a
    FULL OUTER JOIN manual m ON m.version = a.version AND m.pt_root_id = a.pt_root_id
)
SELECT
    *,
    CASE WHEN nucleus_id_manual IS NOT NULL THEN cell_type_manual ELSE cell_type_auto END AS cell_type,
    coalesce(nucleus_id_manual, nucleus_id_auto) AS nucleus_id
FROM merged;
COMMENT ON VIEW cell_types IS 'Automatic and manual cell types merged on pt_root_id per version (roots with several nuclei dropped, missing types ''unsure''); cell_type prefers the manual type.';
COMMENT ON COLUMN cell_types.nucleus_id IS 'Nucleus id (stable across versions): the manual table''s, else the automatic table''s.';
