"""Live snapshots (`mwh ingest --timestamp`): the data as it was at a time, newer than any version.

The real caveclient's live query over real HTTP to the CAVE-compatible loopback server, which
answers a timestamp with the synthetic datastack's state at the newest version at or before it.
Expected rows are computed here from the generator with pandas/pyarrow, not through the warehouse.
Also here: the schema-1 -> 2 migration that added `meta.versions.kind`, and CAVE's 403
`missing_tos` answer.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

import warehouse
from ingest.plan import PlanOptions
from ingest.retry import RetryPolicy
from ingest.run import IngestOptions, ingest_at
from ingest.sources.cave import CaveSource
from ingest.sources.demo import DemoSource
from ingest.synthetic import (
    AUTO_TYPES_TABLE,
    MANUAL_TYPES_TABLE,
    NUCLEUS_TABLE,
    PROOFREADING_TABLE,
    SYNAPSE_TABLE,
    SyntheticDatastack,
)
from tests.catalog_checks import assert_current_is_the_newest_complete
from tests.cave_server import CaveTestServer
from tests.conftest import build_warehouse
from warehouse import schema
from warehouse.cli import main
from warehouse.config import datastack_config
from warehouse.errors import IngestInterrupted, SchemaMismatch, SourceError, VersionNotSnapshotted
from warehouse.live import LIVE_BASE
from warehouse.registry import ROLE_NAMES, schema_of
from warehouse.timestamps import parse_timestamp

TOKEN = "live-snapshot-secret-8c1e"
T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # after version 1300 (2025-02-11), the newest
T_TEXT = "2025-03-01T12:00:00Z"
AT_T = 1300  # the version whose state the server has at T
LIVE = LIVE_BASE + 1
ROLES = {
    "proofreading": PROOFREADING_TABLE,
    "synapses": SYNAPSE_TABLE,
    "cell_types_manual": MANUAL_TYPES_TABLE,
    "cell_types_auto": AUTO_TYPES_TABLE,
    "nucleus": NUCLEUS_TABLE,
}
FAST = RetryPolicy(base_delay=0.01)


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=1181, scale=0.1)


@pytest.fixture(scope="module")
def server(ds):
    with CaveTestServer(ds, token=TOKEN, row_cap=1000, seed=3) as srv:
        yield srv


@pytest.fixture
def srv(server):
    server.reset_stats()
    yield server
    server.restore()


def cave(srv: CaveTestServer) -> CaveSource:
    return CaveSource(datastack_config("demo"), server=srv.url, token=TOKEN, retry=FAST)


def live_ingest(path: Path, source, at: datetime = T, **options):
    options.setdefault("retry", FAST)
    options.setdefault("workers", 4)
    with warehouse.open_for_datastack(path, "demo") as wh:
        return ingest_at(wh, source, at, IngestOptions(**options))


@pytest.fixture(scope="module")
def live_db(ds, server, tmp_path_factory):
    """Version 1181 (demo ingest), then a live snapshot at T through caveclient, capped at 1,000 rows."""
    path = build_warehouse(
        tmp_path_factory.mktemp("live") / "w.duckdb", ds, versions=(1181,), synapses="proofread"
    )
    server.reset_stats()
    source = cave(server)
    done = live_ingest(path, source)
    return {
        "path": path,
        "done": done,
        "stats": server.stats,
        "log": list(server.query_log),
        "source": source,
    }


# ------------------------------------------------------------------------ the oracle, in pandas
def expected(ds: SyntheticDatastack, role: str, version: int) -> pa.Table:
    """What a snapshot of `role` at `version` holds, from the generator's tables (valid rows, by id)."""

    def base(table: str) -> pd.DataFrame:
        df = ds.base_table(table, version).to_pandas()
        return df[df["valid"]]

    if role == "proofreading":
        df = base(PROOFREADING_TABLE)
    elif role == "nucleus":
        df = base(NUCLEUS_TABLE)
    elif role == "synapses":
        prf = base(PROOFREADING_TABLE)
        proofread = set(prf.loc[prf.status_axon == "t", "pt_root_id"]) - {0}
        syn = base(SYNAPSE_TABLE)
        df = syn[syn.pre_pt_root_id.isin(proofread) & syn.post_pt_root_id.isin(proofread)]
    else:  # a reference table: joined to the nucleus table, its colliding columns suffixed _ref
        df = base(ROLES[role]).merge(
            base(NUCLEUS_TABLE), left_on="target_id", right_on="id", suffixes=("", "_ref")
        )
    df = df.sort_values("id")
    names = schema_of(role).names
    return pa.Table.from_pandas(df[names], preserve_index=False).cast(schema_of(role))


def stored(path: Path, role: str, version: int) -> pa.Table:
    with warehouse.open(path) as wh:
        rows = wh.con.sql(
            f'SELECT * EXCLUDE (snapshot_id, version) FROM raw."{ROLES[role]}" WHERE version = $v ORDER BY id',
            params={"v": version},
        ).to_arrow_table()
    return rows.cast(schema_of(role))


def sql(path: Path, query: str, params: dict | None = None) -> list[tuple]:
    with warehouse.open(path) as wh:
        return wh.con.execute(query, params or {}).fetchall()


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """`mwh` in this process, as its console script runs it (one-line errors, exit codes)."""
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


# -------------------------------------------------------------------------------- the snapshot
def test_live_snapshot_holds_the_data_at_its_time(ds, live_db):
    path, done, stats = live_db["path"], live_db["done"], live_db["stats"]
    assert done.version == LIVE and done.timestamp == T
    assert [o.action for o in done.outcomes] == ["created"] * len(ROLE_NAMES)
    for role in ROLES:
        want = expected(ds, role, AT_T)
        assert want.num_rows > 0
        assert stored(path, role, LIVE).equals(want), role
    # every data request was the live query, at T, with table-keyed filters; the cap was met and
    # understood from the live query's own warning wording (no server count exists to catch it)
    bodies = [q["body"] for q in live_db["log"]]
    assert bodies and all(q["path"] == "/materialize/api/v3/datastack/demo/query" for q in live_db["log"])
    assert all(parse_timestamp(b["timestamp"]) == T and b["table"] in ROLES.values() for b in bodies)
    assert any(
        b.get("join_tables") == [[MANUAL_TYPES_TABLE, "target_id", NUCLEUS_TABLE, "id"]] for b in bodies
    )
    assert any(SYNAPSE_TABLE in b.get("filter_in_dict", {}) for b in bodies)
    assert all(b["limit"] == 1000 for b in bodies[-3:])  # the source asks no more than the cap it knows
    assert stats["truncated_responses"] > 0 and sum(o.splits for o in done.outcomes) > 0
    assert live_db["source"].row_cap == 1000  # learnt from the header: 500,000 is configured


def test_live_synapses_use_the_root_ids_at_the_timestamp(ds, live_db):
    path = live_db["path"]
    q = "SELECT pt_root_id FROM proofread_neurons WHERE version = $v ORDER BY 1"
    at_live = [r[0] for r in sql(path, q, {"v": LIVE})]
    at_1181 = [r[0] for r in sql(path, q, {"v": 1181})]
    prf = ds.base_table(PROOFREADING_TABLE, AT_T).to_pandas()
    assert at_live == sorted(prf.loc[prf.status_axon == "t", "pt_root_id"])
    assert set(at_live) - set(at_1181)  # cells edited or proofread since 1181: the point of a live snapshot
    roots = {
        r[0]
        for r in sql(
            path,
            "SELECT pre_pt_root_id FROM raw.synapses_pni_2 WHERE version = $v "
            "UNION SELECT post_pt_root_id FROM raw.synapses_pni_2 WHERE version = $v",
            {"v": LIVE},
        )
    }
    assert roots <= set(at_live) and roots - set(at_1181)


def test_the_server_refuses_root_ids_not_valid_at_the_timestamp(ds, srv, tmp_path, monkeypatch):
    """Why the synapse query must use the live proofreading snapshot's root ids, not a version's."""
    import requests
    from caveclient import CAVEclient

    monkeypatch.setenv("HOME", str(tmp_path))
    client = CAVEclient("demo", server_address=srv.url, auth_token=TOKEN, write_server_cache=False)
    prf = ds.base_table(PROOFREADING_TABLE, 1181).to_pandas()
    edited = sorted(set(prf.pt_root_id) - set(ds.roots[AT_T]))[:3]  # roots of 1181 gone by T
    assert edited
    query = {"filter_in_dict": {SYNAPSE_TABLE: {"pre_pt_root_id": [int(r) for r in edited]}}}
    with pytest.raises(requests.HTTPError, match="not valid at the query timestamp"):
        client.materialize.live_live_query(SYNAPSE_TABLE, T, metadata=False, **query)


def test_live_snapshot_is_recorded_as_live_with_its_time(live_db):
    path = live_db["path"]
    ((kind, ts, expires, expired),) = sql(
        path,
        "SELECT kind, time_stamp, expires_on, expired FROM meta.versions WHERE version = $v",
        {"v": LIVE},
    )
    assert kind == "live" and ts == T and expires is None and expired is None
    assert {
        r[0] for r in sql(path, "SELECT kind FROM meta.versions WHERE version < $b", {"b": LIVE_BASE})
    } == {"materialized"}
    snaps = sql(
        path, "SELECT role, status, timestamp, query FROM meta.snapshots WHERE version = $v", {"v": LIVE}
    )
    assert sorted(s[0] for s in snaps) == sorted(ROLES)
    for _role, status, ts, query in snaps:
        assert status == "complete" and ts == T and json.loads(query)["live_at"] == T_TEXT
    # materialized snapshots carry no timestamp and no live_at: their queries (and keys) are unchanged
    for ts, query in sql(path, "SELECT timestamp, query FROM meta.snapshots WHERE version = 1181"):
        assert ts is None and "live_at" not in json.loads(query)


def test_versions_and_status_show_live_snapshots(live_db, capsys):
    db = str(live_db["path"])
    code, out, err = run_cli(capsys, "versions", "--local", "--db", db)
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows[str(LIVE)].split()[1:5] == ["2025-03-01", "12:00:00", "-", "live"]
    assert rows[str(LIVE)].endswith(f"all {len(ROLE_NAMES)} tables") and rows["1181"].endswith(
        f"all {len(ROLE_NAMES)} tables"
    )
    assert "1300" not in rows  # --local lists what the file holds, not what the server once listed
    assert "live snapshots" in err
    code, out, err = run_cli(capsys, "status", "--db", db)
    assert code == 0, err
    live_lines = [line for line in out.splitlines() if f"v{LIVE}" in line and "synapse scope" not in line]
    assert any(
        f"v{LIVE}" in line and "synapse scope:     between proofread cells" in line
        for line in out.splitlines()
    )
    assert len(live_lines) == len(ROLE_NAMES) and all(
        line.endswith(f"live at {T_TEXT}") for line in live_lines
    )


def test_views_and_macros_work_at_the_live_version(ds, live_db):
    path = live_db["path"]
    prf = expected(ds, "proofreading", AT_T).to_pandas()
    syn = expected(ds, "synapses", AT_T).to_pandas()
    axon = prf[prf.status_axon == "t"]
    got = dict(
        sql(
            path,
            "SELECT strategy_axon, count(*) FROM proofread_neurons WHERE version = $v GROUP BY 1",
            {"v": LIVE},
        )
    )
    assert got == axon.strategy_axon.value_counts().to_dict()
    no_autapses = syn[syn.pre_pt_root_id != syn.post_pt_root_id]
    assert sql(path, "SELECT count(*) FROM proofread_synapses WHERE version = $v", {"v": LIVE}) == [
        (len(no_autapses),)
    ]
    root = int(no_autapses.pre_pt_root_id.value_counts().idxmax())
    # The live snapshot holds the synapses between proofread cells only, so partners() refuses to
    # answer with part of them and names the live snapshot's own command (issue 11).
    with pytest.raises(duckdb.InvalidInputException, match=f"--timestamp {T_TEXT} --root-ids {root}"):
        sql(path, f"SELECT partner_root_id, syn_count FROM partners({root}, {LIVE})")
    width = sql(path, f"SELECT count(*) FROM (DESCRIBE FROM connectivity_matrix_{LIVE}())")[0][0]
    assert width == axon.pt_root_id.nunique() + 1  # the pre column plus one column per proofread cell
    with warehouse.open(path) as wh:
        assert wh.view("proofread_cell_types", version=LIVE).height == len(axon)


# -------------------------------------------------------------------- re-runs, resume, numbering
def test_the_same_time_again_is_a_no_op_and_another_time_gets_the_next_number(ds, live_db, srv, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copy(live_db["path"], path)
    same = parse_timestamp("2025-03-01T13:00:00+01:00")  # T, written in another zone
    again = live_ingest(path, cave(srv), same)
    assert again.version == LIVE and [o.action for o in again.outcomes] == ["unchanged"] * len(ROLE_NAMES)
    assert srv.stats["queries"] == 0  # only the versions were listed

    earlier = parse_timestamp("2025-01-01")  # between 1181 and 1300: the state of 1181, midnight UTC
    other = live_ingest(path, cave(srv), earlier, roles=("proofreading",))
    assert other.version == LIVE + 1
    assert stored(path, "proofreading", LIVE + 1).equals(expected(ds, "proofreading", 1181))
    # a role that live snapshot lacks is named with the command that takes it: its time, not its number
    with warehouse.open(path) as wh:
        assert_current_is_the_newest_complete(wh)  # meta.version_facts holds both numbers' times
        with pytest.raises(VersionNotSnapshotted, match="--timestamp 2025-01-01T00:00:00Z"):
            wh.view("proofread_synapses", version=LIVE + 1)
        with pytest.raises(
            VersionNotSnapshotted, match="take one with: mwh ingest --datastack demo --timestamp"
        ):
            wh.view("proofread_neurons", version=LIVE + 7)
    with pytest.raises(duckdb.Error, match="mwh ingest --datastack demo --timestamp 2025-01-01T00:00:00Z"):
        sql(path, f"FROM partners(1, {LIVE + 1})")


def test_an_interrupted_live_snapshot_resumes(ds, srv, tmp_path, capsys):
    path = tmp_path / "w.duckdb"
    live_ingest(path, cave(srv), roles=("proofreading",))
    plan = PlanOptions(ids_per_chunk=5)  # ~300 synapses a chunk: each answers whole, none is split
    srv.outage_after = 4  # four synapse chunks answer, then 503 until the outage ends
    with pytest.raises(IngestInterrupted, match="run the same command again to resume"):
        live_ingest(
            path,
            cave(srv),
            roles=("synapses",),
            plan=plan,
            workers=1,  # one at a time, so exactly the four answered chunks are stored
            retry=RetryPolicy(attempts=2, base_delay=0.01),
        )
    code, out, _ = run_cli(capsys, "status", "--db", str(path))
    assert code == 0 and f"re-run mwh ingest --timestamp {T_TEXT} to resume" in out
    kept = sql(
        path,
        "SELECT count(*) FROM meta.chunks JOIN meta.snapshots USING (snapshot_id) "
        "WHERE role = 'synapses' AND chunks.status = 'done'",
    )[0][0]
    assert kept == 4

    srv.outage_after = None
    srv.reset_stats()
    (outcome,) = live_ingest(path, cave(srv), roles=("synapses",), plan=plan).outcomes
    assert outcome.action == "resumed" and outcome.version == LIVE
    assert srv.stats["queries"] == outcome.chunks_fetched  # no chunk fetched twice, no count asked
    assert stored(path, "synapses", LIVE).equals(expected(ds, "synapses", AT_T))


def test_the_demo_source_answers_a_time_with_its_newest_version_before_it(ds, live_db, tmp_path):
    path = tmp_path / "demo.duckdb"
    done = live_ingest(path, DemoSource(ds))
    assert done.version == LIVE
    for role in ROLES:
        assert stored(path, role, LIVE).equals(stored(live_db["path"], role, LIVE)), role
    with pytest.raises(SourceError, match="no state before its oldest available version 1078"):
        live_ingest(tmp_path / "early.duckdb", DemoSource(ds), datetime(2024, 3, 1, tzinfo=UTC))
    # the number given to the failed attempt is not left behind
    assert sql(tmp_path / "early.duckdb", "SELECT count(*) FROM meta.versions WHERE kind = 'live'") == [(0,)]


# ------------------------------------------------------------------------------------- the CLI
def test_mwh_ingest_timestamp_end_to_end(srv, tmp_path):
    """A fresh interpreter: caveclient's per-call 'Deprecation' log line must not reach the user."""
    db = tmp_path / "w.duckdb"
    args = ["ingest", "--db", str(db), "-d", "demo", "--server", srv.url, "--timestamp", "2025-03-01 12:00"]
    env = {k: v for k, v in os.environ.items() if k not in ("MWH_DB", "CAVE_TOKEN")}
    env.update(CAVE_TOKEN=TOKEN, HOME=str(tmp_path))
    runs = []
    for _ in range(2):
        runs.append(
            subprocess.run(
                [sys.executable, "-m", "warehouse", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
        )
    first, second = runs
    assert first.returncode == 0, first.stderr
    assert f"{SYNAPSE_TABLE} v{LIVE}:" in first.stderr and "(created" in first.stderr
    assert f"live snapshot at {T_TEXT} is version {LIVE} of this file" in first.stderr
    assert "Deprecation" not in first.stderr + second.stderr and "Traceback" not in first.stderr
    assert second.returncode == 0 and second.stderr.count("(unchanged)") == len(ROLE_NAMES), second.stderr
    assert TOKEN not in first.stderr + first.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--timestamp", "last tuesday"], "'last tuesday' is not an ISO 8601 time"),
        (["--timestamp", "2999-01-01T00:00:00Z"], "2999-01-01T00:00:00Z is in the future"),
        (["--timestamp", T_TEXT, "--version", "1300"], "give --version or --timestamp, not both"),
        ([], "give --version N (a materialization) or --timestamp TIME"),
        (["--timestamp", T_TEXT, "--dump", "."], "give --version, not --timestamp"),
    ],
)
def test_bad_timestamps_are_one_line_errors(args, fragment, tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    code, out, err = run_cli(capsys, "ingest", "--db", str(db), "-d", "demo", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], err
    assert not db.exists()


def test_a_version_s_own_time_or_a_time_before_the_server_s_state_is_refused(
    srv, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("CAVE_TOKEN", TOKEN)
    db = tmp_path / "w.duckdb"
    common = ["ingest", "--db", str(db), "-d", "demo", "--server", srv.url, "-t", "proofreading"]
    code, _, err = run_cli(capsys, *common, "--timestamp", "2025-02-11T10:10:01.310000")
    assert code == 1 and err.strip() == (
        "Error: 2025-02-11T10:10:01.310000Z is the time stamp of version 1300; snapshot the version: "
        "mwh ingest --datastack demo --version 1300"
    )
    assert not db.exists()
    code, _, err = run_cli(capsys, *common, "--timestamp", "2024-03-01")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "no valid materialization at or before 2024-03-01" in lines[0], (
        err
    )
    assert sql(db, "SELECT count(*) FROM meta.versions WHERE kind = 'live'") == [(0,)]


def test_terms_of_service_not_accepted_is_one_line_naming_the_form(srv, tmp_path):
    """CAVE answers 403 missing_tos; caveclient opens the form with `webbrowser` (here a script
    named by $BROWSER that records the address instead), and mwh says what to do."""
    form = "https://global.daf-apis.com/sticky_auth/api/v1/tos/2/accept"
    srv.tos_url = form
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "record-url"
    browser.write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(opened)!r}, 'a').write(sys.argv[1] + '\\n')\n"
    )
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k not in ("MWH_DB", "CAVE_TOKEN")}
    env.update(CAVE_TOKEN=TOKEN, HOME=str(tmp_path), BROWSER=str(browser), DISPLAY="")
    db = tmp_path / "w.duckdb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "warehouse",
            "ingest",
            "--db",
            str(db),
            "-d",
            "demo",
            "--server",
            srv.url,
            "--timestamp",
            T_TEXT,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert (
        "accepted its terms of service" in lines[0]
        and form in lines[0]
        and "refused the token" not in lines[0]
    )
    assert not db.exists() and TOKEN not in proc.stderr
    deadline = time.monotonic() + 10
    while not opened.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert opened.read_text().split() == [form]


# ------------------------------------------------------------------------ schema 1 -> 2 migration
# meta.versions as schema 1 created it (no `kind`), and the require_snapshot macro it shipped.
SCHEMA_1_VERSIONS = """CREATE TABLE meta.versions (
    datastack VARCHAR, version INTEGER, time_stamp TIMESTAMPTZ, expires_on TIMESTAMPTZ,
    expired BOOLEAN, seen_at TIMESTAMPTZ, PRIMARY KEY (datastack, version))"""
SCHEMA_1_MACRO = """CREATE OR REPLACE MACRO require_snapshot(v, table_role) AS
    CASE
        WHEN EXISTS (SELECT 1 FROM meta.current_snapshots s WHERE s.version = v AND s.role = table_role)
            THEN true
        ELSE error(
            'version ' || v || ' has no ' || table_role || ' snapshot in this warehouse; run: mwh ingest --datastack '
            || (SELECT name FROM meta.datastack) || ' --version ' || v
        )
    END"""


def make_schema_1(path: Path) -> None:
    """Turn a new file into what schema 1 wrote: the table without the column, the old macro and
    SQL hash, schema_version 1; in one transaction, keeping every row of meta.versions."""
    con = duckdb.connect(str(path))
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "CREATE TEMP TABLE old AS SELECT datastack, version, time_stamp, expires_on, expired, seen_at FROM meta.versions"
    )
    con.execute("DROP TABLE meta.versions")
    con.execute(SCHEMA_1_VERSIONS)
    con.execute("INSERT INTO meta.versions SELECT * FROM old")
    con.execute(SCHEMA_1_MACRO)
    con.execute("UPDATE meta.warehouse SET value = '1' WHERE key = 'schema_version'")
    con.execute("UPDATE meta.warehouse SET value = 'sql of a schema-1 release' WHERE key = 'sql_hash'")
    con.execute("COMMIT")
    con.close()


def versions_table(path: Path) -> tuple[list, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = con.execute(
            "SELECT column_name, data_type, column_default, is_nullable FROM duckdb_columns() "
            "WHERE schema_name = 'meta' AND table_name = 'versions' ORDER BY column_index"
        ).fetchall()
        rows = con.execute("SELECT * EXCLUDE (seen_at) FROM meta.versions ORDER BY version").fetchall()
        return columns, rows
    finally:
        con.close()


def test_a_schema_1_file_is_migrated_by_upgrade_and_by_opening_for_write(ds, tmp_path, capsys):
    new = build_warehouse(tmp_path / "new.duckdb", ds, versions=(1078,), synapses="proofread")
    new_columns, new_rows = versions_table(new)
    assert [c[0] for c in new_columns][-1] == "kind" and {r[-1] for r in new_rows} == {"materialized"}
    old = tmp_path / "old.duckdb"
    shutil.copy(new, old)
    make_schema_1(old)
    old_columns, old_rows = versions_table(old)
    assert "kind" not in [c[0] for c in old_columns] and len(old_rows) == len(new_rows) == 4
    second = tmp_path / "old-too.duckdb"
    shutil.copy(old, second)

    with pytest.raises(SchemaMismatch, match="run 'mwh upgrade"):
        warehouse.open(old)
    code, _, err = run_cli(capsys, "upgrade", "--db", str(old))
    assert code == 0 and "migrated" in err  # it said "up to date" even when it had just migrated
    assert versions_table(old) == (new_columns, new_rows)  # the same table as a new file's, rows kept
    assert sql(old, "SELECT value FROM meta.warehouse WHERE key = 'schema_version'") == [
        (str(schema.SCHEMA_VERSION),)
    ]
    code, out, _ = run_cli(capsys, "versions", "--local", "--db", str(old))
    assert code == 0 and "1078" in out

    # opening for write (what mwh ingest does) migrates too, and the file then takes live snapshots
    live_ingest(second, DemoSource(ds), roles=("proofreading",))
    columns, rows = versions_table(second)
    assert columns == new_columns and rows[:-1] == new_rows and rows[-1][1:3] == (LIVE, T)
    assert rows[-1][-1] == "live"

    # and the stock 1.4 shell reads the migrated file, the live-aware macro included
    shell = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    assert shell, "the duckdb shell comes with the test extras (duckdb-cli)"
    out = subprocess.run(
        [
            shell,
            "-readonly",
            "-noheader",
            "-list",
            str(second),
            "-c",
            f"SELECT kind, count(*) FROM meta.versions GROUP BY 1 ORDER BY 1; FROM partners(1, {LIVE})",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split() == ["live|1", "materialized|4"], out
    assert f"--timestamp {T_TEXT}" in out.stderr
