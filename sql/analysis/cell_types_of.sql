-- What type are these cells? The notebook's merge of the automatic and manual cell-type tables,
-- for the root ids in the list `roots` at version `v`. A NULL or empty list is no roots, so no
-- rows; v NULL is every version and every root, and roots is not read: the cell_types view is
-- cell_types_of(NULL, NULL). target_id renamed nucleus_id in both tables (the
-- notebook renamed the manual one twice and the automatic one never; this does what it meant),
-- root ids with several cell bodies dropped from each table (all copies, as
-- drop_duplicates(keep=False)), an outer merge on pt_root_id with suffixes _auto/_manual, and
-- missing types filled with 'unsure'. cell_type takes the manual type over the automatic one.
-- Grain: one row per root id per version.
-- Usage: FROM cell_types_of(1181, [864691135808473885, 864691135865971164]);
-- Why a macro with a root list: a root's copies are counted over that root's rows only, so the
-- list can cut both tables before the counting windows. DuckDB does not push a join's keys through
-- a window, so a lookup of a few hundred roots (partners) joined to the whole view merged every
-- row of the version first: ~90,000 rows a table at minnie65_public (docs/benchmarks.md, section 11).
-- v alone says "every root", not roots IS NULL: v is a constant in every call, so DuckDB folds the
-- test away, where a test of a roots subquery is planned again and joined to every row.
-- A version without both type tables is an error naming the ingest command, not an empty answer.
-- The check stands in a branch of its own (UNION ALL, last), as in partners.sql: DuckDB prunes a
-- scan its statistics prove empty (a version outside the column's range), and a check inside it
-- would never run. With v NULL the branch folds away.
-- No CTEs here: DuckDB 1.4.0 cannot resolve a table macro's CTEs in a file a newer DuckDB wrote (1.4.5 can).
CREATE OR REPLACE MACRO cell_types_of(v, roots) AS TABLE
SELECT
    *,
    CASE WHEN nucleus_id_manual IS NOT NULL THEN cell_type_manual ELSE cell_type_auto END AS cell_type,
    coalesce(nucleus_id_manual, nucleus_id_auto) AS nucleus_id
FROM (
    SELECT
        coalesce(a.version, m.version) AS version,
        coalesce(a.pt_root_id, m.pt_root_id) AS pt_root_id,
        a.nucleus_id AS nucleus_id_auto,
        a.classification_system AS classification_system_auto,
        coalesce(a.cell_type, 'unsure') AS cell_type_auto,
        m.nucleus_id AS nucleus_id_manual,
        m.classification_system AS classification_system_manual,
        coalesce(m.cell_type, 'unsure') AS cell_type_manual
    FROM (
        SELECT version, pt_root_id, nucleus_id, classification_system, cell_type
        FROM stg_cell_types_auto
        WHERE v IS NULL OR (version = v AND pt_root_id IN (SELECT unnest(roots)))
        QUALIFY count(*) OVER (PARTITION BY version, pt_root_id) = 1
    ) a
    FULL OUTER JOIN (
        SELECT version, pt_root_id, nucleus_id, classification_system, cell_type
        FROM stg_cell_types_manual
        WHERE v IS NULL OR (version = v AND pt_root_id IN (SELECT unnest(roots)))
        QUALIFY count(*) OVER (PARTITION BY version, pt_root_id) = 1
    ) m ON m.version = a.version AND m.pt_root_id = a.pt_root_id
) merged
UNION ALL
SELECT NULL::INTEGER, NULL::BIGINT, NULL::BIGINT, NULL::VARCHAR, NULL::VARCHAR, NULL::BIGINT, NULL::VARCHAR,
    NULL::VARCHAR, NULL::VARCHAR, NULL::BIGINT
WHERE NOT (v IS NULL OR (require_snapshot(v, 'cell_types_auto') AND require_snapshot(v, 'cell_types_manual')));
COMMENT ON MACRO TABLE cell_types_of IS 'Merged automatic and manual cell types of the root ids in a list at a version (v NULL: every version and root).';
