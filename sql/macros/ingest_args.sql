-- Which mwh ingest arguments take a version again? ' --datastack D --version V', or for a live
-- snapshot (meta.versions.kind = 'live', a number of the file's own) ' --datastack D --timestamp T'
-- with its time in UTC, which meta.version_facts holds (warehouse/snapshots.py writes it). The error
-- messages of the other macros end with it: they read their version's facts row once and pass its
-- live_args to ingest_args_of, since every subquery in a check is planned on every call that
-- names the check, raised or not. The datastack name is written in as a literal for that reason.
-- Usage: SELECT 'mwh ingest' || ingest_args(1181);
CREATE OR REPLACE MACRO ingest_args(v) AS
    ingest_args_of(v, (SELECT f.live_args FROM meta.version_facts f WHERE f.version = v));
COMMENT ON MACRO ingest_args IS 'The mwh ingest arguments that take a version (or a live snapshot''s timestamp) again.';
