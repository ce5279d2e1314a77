-- Any view at one version, or an error naming the fix when the version is not in the file. A plain
-- view filtered on a missing version can only answer with no rows; this macro says why instead.
-- It checks the table the view is built on (the synapse table for synapse views, a cell-type table
-- for the cell-type views, the proofreading table otherwise).
-- Usage: FROM at_version('proofread_synapses', 1181);  FROM at_version('cell_types', 1181);
CREATE OR REPLACE MACRO at_version(view_name, v) AS TABLE
SELECT *
FROM query_table(view_name)
WHERE version = (
    SELECT CASE WHEN require_snapshot(
        v,
        CASE
            WHEN view_name IN ('cell_types', 'stg_cell_types_auto') THEN 'cell_types_auto'
            WHEN view_name = 'stg_cell_types_manual' THEN 'cell_types_manual'
            WHEN view_name IN ('stg_synapses', 'proofread_synapses', 'connections', 'connectivity_pairs',
                               'synapse_positions', 'neuron_degrees', 'reciprocal_pairs', 'reciprocity',
                               'cell_type_connectivity') THEN 'synapses'
            ELSE 'proofreading'
        END
    ) THEN v END
);
COMMENT ON MACRO TABLE at_version IS 'Any view at one version; an error naming the mwh ingest command when that version is not in the file.';
