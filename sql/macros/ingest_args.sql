-- Which mwh ingest arguments take a version again? ' --datastack D --version V', or for a live
-- snapshot (meta.versions.kind = 'live', a number of the file's own) ' --datastack D --timestamp T'
-- with its time in UTC. The error messages of the other macros end with it. The datastack name
-- is written in as a literal: every subquery here is a join in the plan of each macro whose
-- error message uses it, planned even when no error is raised.
-- Usage: SELECT 'mwh ingest' || ingest_args(1181);
CREATE OR REPLACE MACRO ingest_args(v) AS
    ' --datastack ' || {{datastack.name}}
    || coalesce(
        (
            SELECT ' --timestamp ' || strftime(make_timestamp(epoch_us(l.time_stamp)), '%Y-%m-%dT%H:%M:%S')
                || CASE WHEN epoch_us(l.time_stamp) % 1000000 = 0 THEN ''
                    ELSE '.' || lpad(CAST(epoch_us(l.time_stamp) % 1000000 AS VARCHAR), 6, '0') END
                || 'Z'
            FROM meta.versions l WHERE l.version = v AND l.kind = 'live'
        ),
        ' --version ' || v
    );
COMMENT ON MACRO ingest_args IS 'The mwh ingest arguments that take a version (or a live snapshot''s timestamp) again.';
