"""Real CAVE ingest: the unmodified caveclient over real HTTP to the CAVE-compatible loopback server.

Nothing in caveclient, requests or the warehouse is mocked or patched. The expected answers come
from the demo ingest (DemoSource reads the synthetic generator directly, no server, no caveclient)
of the same datastack, so a CAVE snapshot must match it row for row, whatever the server did on
the way: a row cap, injected 5xx, dropped connections, an outage, a stall.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import warehouse
from ingest import chunks
from ingest.chunks import whole_table
from ingest.job import SnapshotRequest, run_snapshot
from ingest.plan import proofread_root_ids
from ingest.retry import RetryPolicy
from ingest.run import IngestOptions, ingest_version
from ingest.sources import open_source
from ingest.sources.cave import CaveSource
from ingest.synthetic import (
    AUTO_TYPES_TABLE,
    MANUAL_TYPES_TABLE,
    PROOFREADING_TABLE,
    SYNAPSE_TABLE,
    SyntheticDatastack,
)
from tests.cave_server import CaveTestServer
from tests.conftest import build_warehouse
from warehouse.config import datastack_config
from warehouse.errors import AuthError, IngestInterrupted, RetryableSourceError, SourceError, WarehouseError
from warehouse.registry import ROLE_NAMES

TOKEN = "cave-ingest-secret-5f1d0c9e7a2b"  # distinctive, so a leak anywhere is found by grep
V = 1181
TABLES = (PROOFREADING_TABLE, SYNAPSE_TABLE, MANUAL_TYPES_TABLE, AUTO_TYPES_TABLE)
VIEWS = (
    "proofread_neurons",
    "proofread_synapses",
    "connections",
    "connectivity_pairs",
    "cell_types",
    "proofread_cell_types",
)
FAST = RetryPolicy(base_delay=0.01)


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=1181, scale=0.1)


@pytest.fixture(scope="module")
def server(ds):
    with CaveTestServer(ds, token=TOKEN, row_cap=1000, seed=5) as srv:
        yield srv


@pytest.fixture
def srv(server):
    """The shared server with a 1,000-row cap and no faults; knobs restored after each test."""
    server.reset_stats()
    yield server
    server.restore()


@pytest.fixture(scope="module")
def reference(ds, tmp_path_factory) -> Path:
    """The demo ingest of the same datastack at V: what every CAVE snapshot must equal."""
    path = tmp_path_factory.mktemp("reference") / "demo.duckdb"
    return build_warehouse(path, ds, versions=(V,), synapses="proofread", workers=2)


@pytest.fixture(scope="module")
def reference_partners(ds, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reference_partners") / "demo.duckdb"
    return build_warehouse(path, ds, versions=(V,), synapses="partners", workers=2)


def cave(srv: CaveTestServer, **kwargs) -> CaveSource:
    kwargs.setdefault("retry", FAST)
    return CaveSource(datastack_config("demo"), server=srv.url, token=TOKEN, **kwargs)


def ingest(path: Path, source, version: int = V, **options):
    options.setdefault("retry", FAST)
    with warehouse.open_for_datastack(path, "demo") as wh:
        return ingest_version(wh, source, version, IngestOptions(**options))


def query(path: Path, sql: str, params: list | None = None) -> pa.Table:
    with warehouse.open(path) as wh:
        return wh.con.sql(sql, params=params).to_arrow_table()


def raw_rows(path: Path, table: str, version: int = V) -> pa.Table:
    return query(
        path, f'SELECT * EXCLUDE (snapshot_id) FROM raw."{table}" WHERE version = {version} ORDER BY id'
    )


def assert_same_raw(path: Path, ref: Path, tables=TABLES) -> None:
    for t in tables:
        got, want = raw_rows(path, t), raw_rows(ref, t)
        assert want.num_rows > 0
        assert got.num_rows == want.num_rows, t
        assert got.equals(want), t


def snapshots(path: Path) -> list[tuple]:
    return query(
        path,
        "SELECT snapshot_id, table_name, version, status, row_count FROM meta.snapshots ORDER BY snapshot_id",
    ).to_pylist()


def file_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def assert_no_token(path: Path) -> None:
    """Neither in the file's bytes nor in any text column (DuckDB may store strings compressed)."""
    assert TOKEN.encode() not in path.read_bytes()
    with warehouse.open(path) as wh:
        columns = wh.con.execute(
            "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
            "WHERE data_type = 'VARCHAR' AND NOT internal AND schema_name IN ('meta', 'raw', 'stage')"
        ).fetchall()
        assert any(s == "meta" for s, _, _ in columns)
        for schema, table, column in columns:
            sql = f'SELECT count(*) FROM {schema}."{table}" WHERE "{column}" LIKE ?'
            assert wh.con.execute(sql, [f"%{TOKEN}%"]).fetchall() == [(0,)], (schema, table, column)


# --------------------------------------------------------------------- the fault-heavy ingest
def test_faulty_capped_server_gives_the_demo_rows(ds, reference, tmp_path, caplog, capfd):
    """A 1,000-row cap, 20% injected 500/503 and 10% dropped connections, 4 workers."""
    caplog.set_level(logging.DEBUG)
    with CaveTestServer(ds, token=TOKEN, row_cap=1000, error_rate=0.2, drop_rate=0.1, seed=2024) as srv:
        path = tmp_path / "cave.duckdb"
        outcomes = ingest(path, cave(srv), workers=4)
        stats, url = srv.stats, srv.url
    assert [o.action for o in outcomes] == ["created"] * len(ROLE_NAMES)
    assert stats["errors_injected"] > 5 and stats["drops_injected"] > 0, stats
    assert stats["truncated_responses"] > 5 and stats["max_in_flight"] >= 2, stats
    assert stats["max_in_flight"] <= 4, "--workers bounds the requests in flight, early ones included"
    assert sum(o.retries for o in outcomes) > 0 and sum(o.splits for o in outcomes) > 0
    assert_same_raw(path, reference)
    # and, independently of the demo path, the notebook's synapse query done in pandas
    syn = ds.base_table(SYNAPSE_TABLE, V).to_pandas()
    prf = ds.base_table(PROOFREADING_TABLE, V).to_pandas()
    proofread = set(prf.loc[prf.status_axon == "t", "pt_root_id"]) - {0}
    want_ids = syn.loc[syn.pre_pt_root_id.isin(proofread) & syn.post_pt_root_id.isin(proofread), "id"]
    assert raw_rows(path, SYNAPSE_TABLE).column("id").to_pylist() == sorted(want_ids)

    for view in VIEWS:
        got = query(path, f"FROM {view} WHERE version = {V} ORDER BY ALL")
        want = query(reference, f"FROM {view} WHERE version = {V} ORDER BY ALL")
        assert want.num_rows > 0 and got.equals(want), view
    busiest = query(
        reference, f"SELECT pre_pt_root_id FROM connections WHERE version = {V} ORDER BY syn_count DESC, 1"
    )
    root = busiest.column(0)[0].as_py()
    sql = f"FROM partners({root}, {V}) ORDER BY ALL"
    # The notebook's query holds only the synapses between proofread cells, so partners() refuses
    # to answer with part of a neuron's partners (issue 11), the same way on both paths.
    for p in (path, reference):
        with pytest.raises(duckdb.InvalidInputException, match=f"--root-ids {root}"):
            query(p, sql)

    meta = query(
        path, "SELECT role, status, row_count, expected_rows, source FROM meta.snapshots"
    ).to_pylist()
    assert {m["status"] for m in meta} == {"complete"}
    for m in meta:
        assert m["source"].startswith("caveclient ") and url in m["source"]
        if m["role"] != "synapses":  # whole tables are checked against the server's own count
            assert m["expected_rows"] == m["row_count"] > 0
    assert TOKEN.encode() not in file_bytes(tmp_path)
    assert_no_token(path)
    out, err = capfd.readouterr()
    assert TOKEN not in caplog.text + out + err


# ------------------------------------------------------------------------------- the row cap
def test_independent_queries_are_asked_early_within_the_workers_bound(ds, reference, tmp_path):
    """The cell-type tables do not wait for the synapses, nor the synapse counts for the chunks
    (ingest/ahead.py): with 3 workers their queries go out before the synapse chunks are done."""
    with CaveTestServer(ds, token=TOKEN, latency=0.05) as srv:
        path = tmp_path / "early.duckdb"
        ingest(path, cave(srv), workers=3)
        log, stats = list(srv.query_log), srv.stats
    assert_same_raw(path, reference)
    assert 2 <= stats["max_in_flight"] <= 3, stats
    asked = [(_queried_table(q), str(q["params"].get("count")).lower() == "true") for q in log]
    tables = [t for t, _ in asked]
    for table in ("allen_v1_column_types_slanted_ref", "aibs_metamodel_celltypes_v661"):
        assert tables.index(table) < tables.index("synapses_pni_2"), table  # asked at the start
    first_synapse_count = asked.index(("synapses_pni_2", True))
    last_synapse_chunk = len(asked) - 1 - asked[::-1].index(("synapses_pni_2", False))
    assert first_synapse_count < last_synapse_chunk  # counted while the chunks were fetched


def _queried_table(q: dict) -> str:
    """The table a logged query reads: in its path, or first in a join query's body (reference tables)."""
    if "/table/" in q["path"]:
        return q["path"].split("/table/")[1].split("/")[0]
    return q["body"]["tables"][0][0]


def test_truncated_answers_are_detected_and_split_until_nothing_is_lost(ds, reference, tmp_path):
    """A 40-row cap truncates the whole proofreading table and the synapses of single busy cells,
    so chunks are split by id list, then by row-id range, until every answer is under the cap."""
    busiest = query(
        reference,
        f'SELECT pre_pt_root_id, count(*) AS n FROM raw."{SYNAPSE_TABLE}" WHERE version = {V} '
        "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 4",
    ).to_pydict()
    assert min(busiest["n"]) > 2 * 40  # each cell alone is well over the cap
    with CaveTestServer(ds, token=TOKEN, row_cap=40, seed=1) as srv:
        source = cave(srv)
        assert source.row_cap == 500_000  # as configured; the server's own cap is learnt from its header
        answer = source.fetch(PROOFREADING_TABLE, "proofreading", V, whole_table())
        assert answer.truncated and answer.table.num_rows == 40 and source.row_cap == 40
        path = tmp_path / "cave.duckdb"
        ingest(path, source, roles=("proofreading",), workers=4)
        with warehouse.open_for_datastack(path, "demo") as wh:
            lay = wh.store.layouts
            proofread = proofread_root_ids(wh.con, V)
            root = chunks.by_id_lists(
                "pre_pt_root_id", busiest["pre_pt_root_id"], 2, "both", {"post_pt_root_id": "$proofread"}
            )
            req = SnapshotRequest(
                lay["synapses"], V, {"kind": "busiest"}, root, sets={"proofread": proofread}
            )
            outcome = run_snapshot(wh, source, req, workers=4, retry=FAST)
        assert srv.stats["truncated_responses"] >= outcome.splits > 10
    assert_same_raw(path, reference, tables=(PROOFREADING_TABLE,))
    want = query(
        reference,
        f'SELECT * EXCLUDE (snapshot_id) FROM raw."{SYNAPSE_TABLE}" '
        f"WHERE version = {V} AND list_contains($1, pre_pt_root_id) ORDER BY id",
        [busiest["pre_pt_root_id"]],
    )
    assert outcome.rows == want.num_rows == sum(busiest["n"])
    assert raw_rows(path, SYNAPSE_TABLE).equals(want)

    done = query(
        path,
        "SELECT s.table_name, c.spec, p.spec AS parent FROM meta.chunks c JOIN meta.snapshots s USING (snapshot_id) "
        "LEFT JOIN meta.chunks p ON p.snapshot_id = c.snapshot_id AND p.chunk_id = c.parent_id "
        "WHERE c.status = 'done'",
    ).to_pylist()
    by_range = [
        c
        for c in done
        if c["table_name"] == SYNAPSE_TABLE and json.loads(c["spec"])["id_range"] != [None, None]
    ]
    assert by_range and all(len(json.loads(c["spec"])["in"]["pre_pt_root_id"]) == 1 for c in by_range)
    whole = [c for c in done if c["table_name"] == PROOFREADING_TABLE]
    assert len(whole) > raw_rows(reference, PROOFREADING_TABLE).num_rows // 40 and all(
        json.loads(c["spec"])["id_range"] != [None, None] for c in whole
    )


def test_count_check_catches_rows_lost_without_a_warning(srv, reference, tmp_path):
    """A server that drops a row from every answer and says nothing: the whole-table count catches
    it, nothing is committed, and once the server is healthy the next run fetches it afresh."""
    n = raw_rows(reference, PROOFREADING_TABLE).num_rows
    srv.short_answers = 1
    path = tmp_path / "cave.duckdb"
    with pytest.raises(WarehouseError, match=f"the server counts {n} rows but {n - 1} arrived"):
        ingest(path, cave(srv), roles=("proofreading",))
    assert [(s["table_name"], s["status"]) for s in snapshots(path)] == [(PROOFREADING_TABLE, "failed")]
    assert query(path, f'SELECT count(*) FROM raw."{PROOFREADING_TABLE}"').column(0)[0].as_py() == 0
    assert query(path, f'SELECT count(*) FROM stage."{PROOFREADING_TABLE}"').column(0)[0].as_py() == 0
    srv.short_answers = 0
    (outcome,) = ingest(path, cave(srv), roles=("proofreading",))
    assert outcome.action == "created" and outcome.rows == n
    assert_same_raw(path, reference, tables=(PROOFREADING_TABLE,))


# -------------------------------------------------------------------------------------- resume
def test_resume_after_an_outage_fetches_only_missing_chunks(srv, reference, tmp_path):
    path = tmp_path / "cave.duckdb"
    ingest(path, cave(srv), roles=("proofreading",))
    srv.outage_after = 15  # fifteen more queries answer, then 503 until the outage ends
    with pytest.raises(IngestInterrupted, match="run the same command again to resume"):
        ingest(
            path, cave(srv), roles=("synapses",), workers=4, retry=RetryPolicy(attempts=2, base_delay=0.01)
        )
    before = synapse_chunks(path)
    done_before = {cid for cid, r in before.items() if r["status"] == "done"}
    pending_before = {cid for cid, r in before.items() if r["status"] == "pending"}
    assert done_before and pending_before

    # Fetch threads that were mid-request when the run stopped still finish their retries in the
    # background; let them land before counting what the resume asks for.
    settle(srv)
    srv.outage_after = None
    srv.reset_stats()
    (outcome,) = ingest(path, cave(srv), roles=("synapses",), workers=4)
    assert outcome.action == "resumed"
    # one request per chunk fetched now, plus the server's count of the whole synapse query
    assert srv.stats["queries"] == outcome.chunks_fetched + 1
    after = synapse_chunks(path)
    assert all(after[c]["fetched_at"] == before[c]["fetched_at"] for c in done_before)  # not fetched again
    fetched_now = {c for c, r in after.items() if r["fetched_at"] != before.get(c, {}).get("fetched_at")}
    assert fetched_now.isdisjoint(done_before) and pending_before <= fetched_now
    assert len(fetched_now) == outcome.chunks_fetched
    assert_same_raw(path, reference, tables=(PROOFREADING_TABLE, SYNAPSE_TABLE))


def settle(srv, quiet: float = 0.5, limit: float = 20.0) -> None:
    """Wait until no request is in flight and none has arrived for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last, since = srv.stats["requests"], time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = srv.stats["requests"]
        if now != last or srv._in_flight:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def synapse_chunks(path: Path) -> dict[int, dict]:
    rows = query(
        path,
        "SELECT chunk_id, c.status, fetched_at FROM meta.chunks c JOIN meta.snapshots USING (snapshot_id) "
        "WHERE table_name = ?",
        [SYNAPSE_TABLE],
    ).to_pylist()
    return {r["chunk_id"]: r for r in rows}


# ------------------------------------------------------------------------------------ timeouts
def test_a_stalled_server_times_out_instead_of_hanging(srv, reference, tmp_path):
    source = cave(srv, timeout=0.2, retry=RetryPolicy(attempts=1))
    srv.latency = 5.0  # every query stalls far longer than the timeout
    t0 = time.monotonic()
    with pytest.raises(RetryableSourceError, match="timed out"):
        source.fetch(PROOFREADING_TABLE, "proofreading", V, whole_table())
    assert time.monotonic() - t0 < 3.0  # caveclient's own retries included, each bounded
    srv.latency = 0.0  # the stall is over: the same source carries on
    path = tmp_path / "cave.duckdb"
    ingest(path, source, roles=("proofreading",))
    assert_same_raw(path, reference, tables=(PROOFREADING_TABLE,))


def test_a_server_that_stalls_before_answering_anything_fails_in_bounded_time(srv):
    srv.json_latency = 3.0  # the info and version routes a client is built from
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="did not answer within .* while connecting"):
        cave(srv, timeout=0.3)
    assert time.monotonic() - t0 < 2.0


# ---------------------------------------------------------------------------------- the token
def test_token_comes_from_caveclient_files_or_cave_token(srv, tmp_path, monkeypatch):
    secrets = tmp_path / ".cloudvolume" / "secrets"
    secrets.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CAVE_TOKEN", raising=False)
    cfg = datastack_config("demo")
    with pytest.raises(AuthError, match="no CAVE token found.*CAVE_TOKEN"):
        open_source(cfg, server=srv.url)
    # caveclient's default file, then its per-server file, which wins over the default one
    (secrets / "cave-secret.json").write_text(json.dumps({"token": TOKEN}))
    assert [v.version for v in open_source(cfg, server=srv.url).versions()] == [943, 1078, 1181, 1300]
    (secrets / "cave-secret.json").write_text(json.dumps({"token": "stale"}))
    (secrets / f"127.0.0.1:{srv.port}-cave-secret.json").write_text(json.dumps({"token": TOKEN}))
    assert open_source(cfg, server=srv.url).versions()
    monkeypatch.setenv("CAVE_TOKEN", "wrong")  # $CAVE_TOKEN wins over the files
    with pytest.raises(AuthError, match="refused the token") as err:
        open_source(cfg, server=srv.url)
    assert "wrong" not in str(err.value) and TOKEN not in str(err.value)
    assert TOKEN not in repr(open_source(cfg, server=srv.url, token=TOKEN))


# ---------------------------------------------------------------------------- the mwh command
def mwh(*args: str, home: Path, token: str | None = TOKEN) -> subprocess.Popen:
    """The real `mwh` in a subprocess, with its own HOME (caveclient's token files live there)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MWH_DB", "MWH_DATASTACKS", "CAVE_TOKEN")}
    env.update({"HOME": str(home), "MWH_CAVE_TIMEOUT": "30"})
    if token is not None:
        env["CAVE_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "warehouse", *args],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def assert_one_line_error(result: tuple[int, str, str], *fragments: str) -> None:
    code, out, err = result
    lines = err.strip().splitlines()
    assert code == 1, result
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in out + err and TOKEN not in out + err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_errors_are_one_line_and_leave_the_file_intact(srv, ds, reference, tmp_path):
    missing = CaveTestServer(ds, token=TOKEN, row_cap=1000).start()
    missing.missing_tables = {AUTO_TYPES_TABLE}  # a deployment without the automatic cell types
    demo = ["-d", "demo", "--server", srv.url, "-v", "1078"]
    cases = {  # name: (arguments, options, fragments of the one line)
        "unknown datastack": (["-d", "nosuch", "-v", "1078"], {}, ["unknown datastack 'nosuch'"]),
        "datastack not on server": (
            ["-d", "minnie65_public", "--server", srv.url, "-v", "1078"],
            {"fresh_db": True},
            ["does not know datastack 'minnie65_public'"],
        ),
        # any table of the datastack can be taken now (issue 14): the server's answer names it
        "unknown table": ([*demo, "-t", "nosuch"], {}, ["No table named 'nosuch'"]),
        "table not on server": (
            [
                "-d",
                "demo",
                "--server",
                missing.url,
                "-v",
                "1078",
                "-t",
                "proofreading",
                "-t",
                "cell_types_auto",
            ],
            {},
            ["not found", f"No table named '{AUTO_TYPES_TABLE}'"],
        ),
        "unknown version": ([*demo[:-1], "999"], {}, ["version 999 does not exist"]),
        "expired version": ([*demo[:-1], "943"], {}, ["version 943", "expired"]),
        "bad token": (demo, {"token": "wrong"}, ["refused the token", "CAVE_TOKEN"]),
        "missing token": (demo, {"token": None}, ["no CAVE token found", "CAVE_TOKEN"]),
        "unreachable server": (
            ["-d", "demo", "--server", f"http://127.0.0.1:{closed_port()}", "-v", "1078"],
            {},
            ["cannot reach the CAVE server"],
        ),
    }
    try:
        running = {}
        for name, (args, opts, _) in cases.items():
            home = tmp_path / name.replace(" ", "_")
            home.mkdir()
            db = home / "w.duckdb"
            if not opts.get("fresh_db"):
                shutil.copy(reference, db)
            token = opts.get("token", TOKEN)
            running[name] = (mwh("ingest", "--db", str(db), *args, home=home, token=token), db)
        results = {name: (finish(proc), db) for name, (proc, db) in running.items()}
    finally:
        missing.stop()

    original = snapshots(reference)
    for name, (result, db) in results.items():
        assert_one_line_error(result, *cases[name][2])
        if cases[name][1].get("fresh_db"):
            assert not db.exists(), name  # failed before the file was created
            continue
        now = snapshots(db)  # the file still opens, read-only
        assert now[: len(original)] == original, name  # earlier snapshots intact
        complete_1078 = {s["table_name"] for s in now if s["version"] == 1078 and s["status"] == "complete"}
        assert_no_token(db)
        if name == "table not on server":  # the tables before it were taken whole, it was not
            assert complete_1078 == {PROOFREADING_TABLE}
            assert raw_rows(db, PROOFREADING_TABLE, 1078).num_rows > 0
        else:
            assert complete_1078 == set() and len(now) == len(original), name


def test_cli_ingest_partners_then_versions(srv, reference_partners, tmp_path):
    """The whole user path: a token in caveclient's file, `mwh ingest`, `mwh versions`."""
    home = tmp_path / "home"
    secrets = home / ".cloudvolume" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / f"127.0.0.1:{srv.port}-cave-secret.json").write_text(json.dumps({"token": TOKEN}))
    db = home / "w.duckdb"
    srv.row_cap = 500_000  # as the public server; the cap's splitting is tested above
    args = ["--db", str(db), "-d", "demo", "--server", srv.url, "-v", str(V), "--synapses", "partners"]
    code, out, err = finish(mwh("ingest", *args, "--workers", "4", home=home, token=None))
    assert code == 0, err
    assert f"{SYNAPSE_TABLE} v{V}:" in err and "(created" in err and "Traceback" not in err
    assert_same_raw(db, reference_partners)

    code, out, err = finish(mwh("versions", "--db", str(db), "-d", "demo", "--server", srv.url, home=home))
    assert code == 0, err
    rows = {int(line.split()[0]): line for line in out.splitlines()[1:]}
    assert sorted(rows) == [943, 1078, 1181, 1300]
    assert rows[V].endswith(f"all {len(ROLE_NAMES)} tables") and "available" in rows[V]
    assert "expired" in rows[943] and rows[1078].endswith("-") and rows[1300].endswith("-")
    assert "2024-10-03 10:10" in rows[V]  # the server's time_stamp, UTC
    assert TOKEN not in out + err
    assert_no_token(db)


def test_a_version_that_expires_mid_ingest_is_named_in_status(srv, tmp_path):
    """Versions expire on the public server; one that does so between an interrupted run and its
    re-run cannot be finished, and `mwh status` says that instead of asking for a re-run."""
    db = tmp_path / "w.duckdb"
    ingest(db, cave(srv), roles=("proofreading",))
    srv.outage_after = 6
    with pytest.raises(IngestInterrupted):
        ingest(db, cave(srv), roles=("synapses",), workers=1, retry=RetryPolicy(attempts=2, base_delay=0.01))
    settle(srv)
    code, out, err = finish(mwh("status", "--db", str(db), home=tmp_path))
    assert code == 0 and f"unfinished: {SYNAPSE_TABLE} v{V}" in out and f"mwh ingest --version {V}" in out, (
        out
    )
    srv.outage_after = None
    srv.expired_versions = srv.expired_versions | {V}
    args = ["ingest", "--db", str(db), "-d", "demo", "--server", srv.url, "-v", str(V), "-t", "synapses"]
    assert_one_line_error(finish(mwh(*args, home=tmp_path)), f"version {V}", "expired")
    code, out, err = finish(mwh("status", "--db", str(db), home=tmp_path))
    assert code == 0 and f"unfinished: {SYNAPSE_TABLE} v{V}" in out, out
    assert "has expired on the server, so it cannot be finished" in out and "re-run" not in out, out
    assert query(db, f"SELECT count(*) FROM stg_synapses WHERE version = {V}").column(0)[0].as_py() == 0


def test_cli_interrupted_ingest_resumes(srv, reference, tmp_path):
    """Ctrl-C in the middle of the synapses, then the same command again."""
    db = tmp_path / "w.duckdb"
    args = ["ingest", "--db", str(db), "-d", "demo", "--server", srv.url, "-v", str(V), "--workers", "2"]
    args += ["-t", "proofreading", "-t", "synapses"]
    srv.latency = 0.1
    proc = mwh(*args, home=tmp_path)
    deadline = time.monotonic() + 60
    while srv.stats["queries"] < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # proofreading's count and fetch, then six synapse chunks
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert_one_line_error((code, out, err), f"{SYNAPSE_TABLE} v{V}", "run the same command again to resume")
    srv.latency = 0.0
    code, out, err = finish(mwh(*args, home=tmp_path))
    assert code == 0 and f"{SYNAPSE_TABLE} v{V}:" in err and "(resumed" in err, err
    assert_same_raw(db, reference, tables=(PROOFREADING_TABLE, SYNAPSE_TABLE))
