-- Is a table role snapshotted at a version? Returns true, or stops the query with a one-line
-- message naming the command that fixes it. Table macros call it so that asking for a version the
-- file does not hold is an error, not an empty answer. A live snapshot's version is the file's own
-- number (meta.versions.kind = 'live'), so its command names the timestamp, in UTC, not the number.
-- One lookup of the version's row in meta.version_facts (an aggregate, so a version the file does
-- not hold still gives a row): the roles and the command come from the same row, and each check's
-- subqueries are planned on every call (docs/benchmarks.md, section 10).
-- Usage: SELECT require_snapshot(1181, 'synapses');
CREATE OR REPLACE MACRO require_snapshot(v, table_role) AS (
    SELECT CASE
        WHEN list_contains(any_value(f.roles), table_role) THEN true
        ELSE error(
            'version ' || v || ' has no ' || table_role || ' snapshot in this warehouse; run: mwh ingest'
            || ingest_args_of(v, any_value(f.live_args))
        )
    END
    FROM meta.version_facts f WHERE f.version = v
);
COMMENT ON MACRO require_snapshot IS 'true if a table role is snapshotted at a version, else an error naming the mwh ingest command to run.';
