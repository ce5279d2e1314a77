-- Is a table role snapshotted at a version? Returns true, or stops the query with a one-line
-- message naming the command that fixes it. Table macros call it so that asking for a version the
-- file does not hold is an error, not an empty answer. A live snapshot's version is the file's own
-- number (meta.versions.kind = 'live'), so its command names the timestamp, in UTC, not the number.
CREATE OR REPLACE MACRO require_snapshot(v, table_role) AS
    CASE
        WHEN EXISTS (SELECT 1 FROM meta.current_snapshots s WHERE s.version = v AND s.role = table_role)
            THEN true
        ELSE error(
            'version ' || v || ' has no ' || table_role || ' snapshot in this warehouse; run: mwh ingest'
            || ingest_args(v)
        )
    END;
COMMENT ON MACRO require_snapshot IS 'true if a table role is snapshotted at a version, else an error naming the mwh ingest command to run.';
