-- The mwh ingest arguments that take a version again, given its meta.version_facts.live_args (NULL
-- unless it is a live snapshot's number): ingest_args without the lookup, for the checks that have
-- read the version's facts row already.
-- Usage: SELECT 'mwh ingest' || ingest_args_of(1181, NULL);
CREATE OR REPLACE MACRO ingest_args_of(v, live_args) AS
    ' --datastack ' || {{datastack.name}} || coalesce(live_args, ' --version ' || v);
COMMENT ON MACRO ingest_args_of IS 'The mwh ingest arguments for a version, given its live_args from meta.version_facts.';
