-- What type is each cell? The notebook's merge of the automatic and manual cell-type tables at each
-- version: target_id renamed nucleus_id in both tables (the notebook renamed the manual one twice
-- and the automatic one never; this does what it meant), root ids with several cell bodies dropped
-- from each table (all copies, as drop_duplicates(keep=False)), an outer merge on pt_root_id with
-- suffixes _auto/_manual, and missing types filled with 'unsure'. cell_type takes the manual type
-- over the automatic one. Grain: one row per root id per version (90,337 at minnie65_public v1181).
-- Written as one GROUP BY over both tables rather than a window over each and a full outer join: the
-- same rows, a third of the planning, which partners pays on every call (docs/benchmarks.md, section
-- 10), and DuckDB pushes a filter on version or pt_root_id below the grouping. A root id that is NULL
-- in both tables is one row, as pandas' merge matches NaN keys.
CREATE OR REPLACE VIEW cell_types AS
WITH both_tables AS (
    SELECT false AS manual, version, pt_root_id, nucleus_id, classification_system, cell_type
    FROM stg_cell_types_auto
    UNION ALL
    SELECT true AS manual, version, pt_root_id, nucleus_id, classification_system, cell_type
    FROM stg_cell_types_manual
),
per_root AS (
    SELECT
        version, pt_root_id,
        count(*) FILTER (WHERE NOT manual) AS n_auto,
        count(*) FILTER (WHERE manual) AS n_manual,
        any_value(nucleus_id) FILTER (WHERE NOT manual) AS nucleus_id_auto,
        any_value(classification_system) FILTER (WHERE NOT manual) AS classification_system_auto,
        any_value(cell_type) FILTER (WHERE NOT manual) AS cell_type_auto,
        any_value(nucleus_id) FILTER (WHERE manual) AS nucleus_id_manual,
        any_value(classification_system) FILTER (WHERE manual) AS classification_system_manual,
        any_value(cell_type) FILTER (WHERE manual) AS cell_type_manual
    FROM both_tables
    GROUP BY version, pt_root_id
),
merged AS (
    SELECT
        version, pt_root_id,
        CASE WHEN n_auto = 1 THEN nucleus_id_auto END AS nucleus_id_auto,
        CASE WHEN n_auto = 1 THEN classification_system_auto END AS classification_system_auto,
        coalesce(CASE WHEN n_auto = 1 THEN cell_type_auto END, 'unsure') AS cell_type_auto,
        CASE WHEN n_manual = 1 THEN nucleus_id_manual END AS nucleus_id_manual,
        CASE WHEN n_manual = 1 THEN classification_system_manual END AS classification_system_manual,
        coalesce(CASE WHEN n_manual = 1 THEN cell_type_manual END, 'unsure') AS cell_type_manual
    FROM per_root
    WHERE n_auto = 1 OR n_manual = 1
)
SELECT
    *,
    CASE WHEN nucleus_id_manual IS NOT NULL THEN cell_type_manual ELSE cell_type_auto END AS cell_type,
    coalesce(nucleus_id_manual, nucleus_id_auto) AS nucleus_id
FROM merged;
COMMENT ON VIEW cell_types IS 'Automatic and manual cell types merged on pt_root_id per version (roots with several nuclei dropped, missing types ''unsure''); cell_type prefers the manual type.';
COMMENT ON COLUMN cell_types.nucleus_id IS 'Nucleus id (stable across versions): the manual table''s, else the automatic table''s.';
