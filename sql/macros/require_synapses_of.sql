-- Does the file hold every synapse of a root id at a version, in both directions? Returns true, or
-- stops the query with one line: the id is not in the version (a typo, or a root id of another
-- version), or the version's synapse snapshots hold only part of its synapses (the notebook's
-- default query takes only those between proofread cells), naming the command that takes them all.
-- A version holds all of a root's synapses when the whole table is snapshotted (a dump or a Delta
-- export), or a
-- snapshot lists the root in meta.snapshot_roots (--synapses partners: every proofread cell;
-- --root-ids: the ids given).
-- The snapshot's root list is a LEFT JOIN, not a nested EXISTS, and the message reads the
-- version's meta.version_facts row once: each subquery is one more join to plan on every call,
-- raised or not, and planning was most of partners' time (docs/benchmarks.md, sections 9 and 10).
-- Usage: SELECT require_synapses_of(864691135808473885, 1181);
CREATE OR REPLACE MACRO require_synapses_of(root_id, v) AS
    CASE
        WHEN NOT require_snapshot(v, 'synapses') THEN false
        WHEN NOT root_known(root_id, v) THEN error(
            'root id ' || root_id || ' is not in version ' || v || ' of this warehouse (no nucleus, proofreading '
            || 'row or synapse names it); root ids change when a cell is edited: check the id, or find the cell '
            || 'at this version with FROM root_history(' || root_id || ')'
        )
        WHEN EXISTS (
            SELECT 1 FROM meta.current_snapshots s
            LEFT JOIN meta.snapshot_roots r ON r.snapshot_id = s.snapshot_id AND r.covered_root_id = root_id
            WHERE s.role = 'synapses' AND s.version = v
              AND (
                  json_extract_string(s.query, '$.kind') IN ('dump', 'whole_table', 'delta_export')
                  OR r.snapshot_id IS NOT NULL
              )
        ) THEN true
        ELSE error((
            SELECT 'version ' || v || ' holds only part of the synapses of root id ' || root_id
                || ' (synapse snapshots: ' || any_value(f.synapse_kinds) || '); take them all with: mwh ingest'
                || ingest_args_of(v, any_value(f.live_args)) || ' --root-ids ' || root_id
            FROM meta.version_facts f WHERE f.version = v
        ))
    END;
COMMENT ON MACRO require_synapses_of IS 'true if the file holds every synapse of a root id at a version; else an error naming why and the mwh ingest command.';
