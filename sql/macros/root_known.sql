-- Is a root id part of a version at all? True when the version's nucleus table, proofreading
-- table or synapse rows name it. Root ids change with every edit, so an id from another version
-- (or a typo) is not: the macros that take a root id use this to fail instead of answering empty.
-- One EXISTS over a UNION ALL of the raw relations, each synapse direction read from the table
-- stored in that root's order, and one semi join to the version's current snapshots for all four
-- (snapshot ids are unique across roles): DuckDB runs every branch of an OR of EXISTS, each a join
-- to plan, and planning the staging views' four semi joins cost more than running them (measured
-- at 100 M rows, docs/benchmarks.md, sections 8 and 10). The unions are paired in parentheses:
-- DuckDB prints a chain of three back differently after a reopen, and the file would then report
-- the macro as changed.
-- Usage: SELECT root_known(864691135808473885, 1181);
CREATE OR REPLACE MACRO root_known(root_id, v) AS
    root_id <> 0 AND EXISTS (
        SELECT 1
        FROM (
            (
                (SELECT n.snapshot_id FROM {{raw.nucleus}} n WHERE n.version = v AND n.pt_root_id = root_id)
                UNION ALL (SELECT p.snapshot_id FROM {{raw.proofreading}} p WHERE p.version = v AND p.pt_root_id = root_id)
            )
            UNION ALL (
                (SELECT s.snapshot_id FROM {{rows.synapses}} s WHERE s.version = v AND s.pre_pt_root_id = root_id)
                UNION ALL (SELECT s.snapshot_id FROM {{by_post.synapses}} s WHERE s.version = v AND s.post_pt_root_id = root_id)
            )
        ) mention
        WHERE mention.snapshot_id IN (SELECT c.snapshot_id FROM meta.current_snapshots c WHERE c.version = v)
    );
COMMENT ON MACRO root_known IS 'true if a root id is in a version''s nucleus table, proofreading table or synapses.';
