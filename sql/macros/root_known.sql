-- Is a root id part of a version at all? True when the version's nucleus table, proofreading
-- table or synapse rows name it. Root ids change with every edit, so an id from another version
-- (or a typo) is not: the macros that take a root id use this to fail instead of answering empty.
-- One EXISTS over a UNION ALL, each synapse direction read from the table stored in that root's
-- order: DuckDB runs every branch of an OR of EXISTS, each a join to plan, and planning four
-- joins cost more CPU than running them (measured at 100 M rows, docs/benchmarks.md). The unions
-- are paired in parentheses: DuckDB prints a chain of three back differently after a reopen, and
-- the file would then report the macro as changed.
-- Usage: SELECT root_known(864691135808473885, 1181);
CREATE OR REPLACE MACRO root_known(root_id, v) AS
    root_id <> 0 AND EXISTS (
        (
            (SELECT 1 FROM stg_nucleus n WHERE n.version = v AND n.pt_root_id = root_id)
            UNION ALL (SELECT 1 FROM stg_proofreading p WHERE p.version = v AND p.pt_root_id = root_id)
        )
        UNION ALL (
            (SELECT 1 FROM stg_synapse_roots s WHERE s.version = v AND s.pre_pt_root_id = root_id)
            UNION ALL (SELECT 1 FROM stg_synapse_roots_by_post s WHERE s.version = v AND s.post_pt_root_id = root_id)
        )
    );
COMMENT ON MACRO root_known IS 'true if a root id is in a version''s nucleus table, proofreading table or synapses.';
