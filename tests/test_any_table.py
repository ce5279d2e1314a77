"""Any table of the datastack, not only the notebook's: `mwh ingest --tables NAME` and `mwh tables`.

Each table beyond the roles is ingested through a capped, faulty loopback server with the real
caveclient, and compared row for row with caveclient's own `query_table(..., split_positions=True)`
on an uncapped, well-behaved server: the independent answer. The comparison normalises only
what the two representations differ in (pandas NaN vs SQL NULL, times, an array kept as JSON text).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

import warehouse
from ingest.retry import RetryPolicy
from ingest.run import IngestOptions, ingest_version
from ingest.sources.cave import CaveSource
from ingest.synthetic import (
    CELL_NOTES_TABLE,
    COREGISTRATION_TABLE,
    EMPTY_TABLE,
    EXTRA_TABLES,
    MYSTERY_TABLE,
    SYNAPSE_TARGETS_TABLE,
    SyntheticDatastack,
)
from tests.cave_server import CaveTestServer
from warehouse.api import open_for_datastack
from warehouse.cli import main
from warehouse.config import datastack_config
from warehouse.errors import VersionNotSnapshotted

TOKEN = "any-table-token"
V = 1181
FAST = RetryPolicy(base_delay=0.01)


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=7, scale=0.1)


@pytest.fixture(scope="module")
def oracle(ds):
    """Uncapped and well-behaved: what caveclient alone answers."""
    with CaveTestServer(ds, token=TOKEN, row_cap=None) as srv:
        yield srv


@pytest.fixture(scope="module")
def faulty(ds):
    with CaveTestServer(ds, token=TOKEN, row_cap=150, error_rate=0.15, drop_rate=0.1, seed=11) as srv:
        yield srv


@pytest.fixture(scope="module")
def taken(tmp_path_factory, faulty):
    """A file holding every extra table at V, ingested through the capped, faulty server."""
    db = tmp_path_factory.mktemp("any") / "w.duckdb"
    source = CaveSource(datastack_config("demo"), server=faulty.url, token=TOKEN, row_cap=150, retry=FAST)
    with open_for_datastack(db, "demo") as wh:
        outcomes = ingest_version(
            wh, source, V, IngestOptions(roles=(), extra_tables=EXTRA_TABLES, workers=3, retry=FAST)
        )
    return db, {o.table: o for o in outcomes}


def _norm(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, list):
        return json.dumps(v)
    if hasattr(v, "item"):
        return v.item()
    return v


def oracle_rows(srv, table: str, version: int = V) -> list[dict]:
    from caveclient import CAVEclient

    client = CAVEclient("demo", server_address=srv.url, auth_token=TOKEN, write_server_cache=False)
    df = client.materialize.query_table(table, materialization_version=version, split_positions=True)
    rows = [{k: _norm(v) for k, v in r.items()} for r in df.to_dict("records")]
    return sorted(rows, key=lambda r: r["id"])


def file_rows(db: Path, table: str, version: int = V) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rel = con.sql(f'SELECT * EXCLUDE (version) FROM "{table}" WHERE version = {version} ORDER BY id')
        cols = rel.columns
        out = []
        for r in rel.fetchall():
            row = {c: _norm(v) for c, v in zip(cols, r, strict=True)}
            if table == MYSTERY_TABLE:  # kept as JSON text; compare the numbers, not the spelling
                row["embedding"] = json.dumps(json.loads(row["embedding"]))
            out.append(row)
        return out
    finally:
        con.close()


@pytest.mark.parametrize("table", EXTRA_TABLES)
def test_snapshot_equals_caveclients_own_answer(taken, oracle, faulty, table):
    db, outcomes = taken
    want = oracle_rows(oracle, table)
    got = file_rows(db, table)
    assert outcomes[table].rows == len(want)
    if want:
        assert set(got[0]) == set(want[0]), "the same columns as query_table's answer"
    assert got == want
    if table == SYNAPSE_TARGETS_TABLE:
        assert outcomes[table].splits > 0, "the capped server made the job split"
        assert {"pre_pt_root_id", "post_pt_root_id", "id_ref", "ctr_pt_position_z"} <= set(got[0])


def test_the_faults_happened(faulty, taken):
    assert faulty.stats["errors_injected"] + faulty.stats["drops_injected"] > 0
    assert faulty.stats["truncated_responses"] > 0


def test_views_are_typed_commented_and_checked(taken):
    db, _ = taken
    with warehouse.open(db) as wh:
        cols = dict(
            wh.con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?",
                [COREGISTRATION_TABLE],
            ).fetchall()
        )
        assert cols["version"] == "INTEGER" and cols["residual"] == "DOUBLE" and cols["session"] == "BIGINT"
        assert cols["created"] == "TIMESTAMP WITH TIME ZONE" and cols["pt_position_x"] == "BIGINT"
        assert wh.con.execute(
            "SELECT data_type FROM duckdb_columns() WHERE table_name = ? AND column_name = 'embedding'",
            [MYSTERY_TABLE],
        ).fetchone() == ("VARCHAR",)
        comment = wh.con.execute(
            "SELECT comment FROM duckdb_views() WHERE view_name = ?", [COREGISTRATION_TABLE]
        ).fetchone()[0]
        assert "coregistration" in comment.lower() and "nucleus_detection_v0" in comment
        unit = wh.con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = ? AND column_name = 'pt_position_z'",
            [COREGISTRATION_TABLE],
        ).fetchone()[0]
        assert "40 nm" in unit
        units = json.loads(
            wh.con.execute(
                "SELECT columns FROM meta.extra_tables WHERE table_name = ? AND version = ?",
                [CELL_NOTES_TABLE, V],
            ).fetchone()[0]
        )
        assert {c["name"]: c["unit"] for c in units}["pt_position_x"] == "voxel (4 nm)"
        assert wh.view(COREGISTRATION_TABLE, V).height == len(file_rows(db, COREGISTRATION_TABLE))
        assert wh.view(EMPTY_TABLE, V).height == 0
        with pytest.raises(VersionNotSnapshotted, match="--tables coregistration_manual_v4"):
            wh.view(COREGISTRATION_TABLE, 1078)
        # the join helper exists for tables with a root id, and answers (no proofread cells held here)
        assert wh.sql(f"FROM {COREGISTRATION_TABLE}_proofread({V})").height == 0


def test_tables_and_status_show_them(taken, oracle, capsys):
    db, _ = taken
    with pytest.raises(SystemExit) as done:
        main(["tables", "--db", str(db), "--local"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for t in EXTRA_TABLES:
        assert t in out
    assert "nucleus_detection_v0" in out.splitlines()[2] or "coregistration_manual_v4" in out
    os.environ["CAVE_TOKEN"] = TOKEN
    try:
        with pytest.raises(SystemExit) as done:
            main(["tables", "--db", str(db), "--server", oracle.url, "-v", str(V)])
    finally:
        os.environ.pop("CAVE_TOKEN", None)
    assert done.value.code == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "role synapses" in lines["synapses_pni_2"]
    assert (
        "reference_tag" in lines[SYNAPSE_TARGETS_TABLE] and "synapses_pni_2" in lines[SYNAPSE_TARGETS_TABLE]
    )
    assert f" {V} " in lines[COREGISTRATION_TABLE] + " "
    with pytest.raises(SystemExit) as done:
        main(["status", "--db", str(db)])
    out = capsys.readouterr().out
    assert COREGISTRATION_TABLE in out and MYSTERY_TABLE in out


def test_schema_change_between_versions_keeps_both(tmp_path, oracle, ds):
    """cell_notes_v1 gains a column at 1300: both versions stay readable, each as it was."""
    db = tmp_path / "w.duckdb"
    source = CaveSource(datastack_config("demo"), server=oracle.url, token=TOKEN, retry=FAST)
    with open_for_datastack(db, "demo") as wh:
        for v in (1181, 1300):
            ingest_version(
                wh, source, v, IngestOptions(roles=(), extra_tables=[CELL_NOTES_TABLE], retry=FAST)
            )
        raws = wh.con.execute("SELECT DISTINCT raw_table FROM meta.extra_tables").fetchall()
        assert len(raws) == 2
    old, new = file_rows(db, CELL_NOTES_TABLE, 1181), file_rows(db, CELL_NOTES_TABLE, 1300)
    assert [{k: v for k, v in r.items() if k != "confidence"} for r in old] == oracle_rows(
        oracle, CELL_NOTES_TABLE, 1181
    )
    assert all(r["confidence"] is None for r in old)
    assert new == oracle_rows(oracle, CELL_NOTES_TABLE, 1300)
    # a dropped view comes back with mwh upgrade
    con = duckdb.connect(str(db))
    con.execute(f"DROP VIEW {CELL_NOTES_TABLE}")
    con.close()
    with pytest.raises(SystemExit):
        main(["upgrade", "--db", str(db)])
    assert file_rows(db, CELL_NOTES_TABLE, 1300) == new


def test_filter_and_unknown_names(tmp_path, oracle, capsys):
    db = tmp_path / "w.duckdb"
    ids = tmp_path / "sessions.txt"
    ids.write_text("4\n5\n")
    env = {"CAVE_TOKEN": TOKEN}
    os.environ.update(env)
    try:
        args = ["ingest", "--db", str(db), "-d", "demo", "--server", oracle.url, "-v", str(V)]
        with pytest.raises(SystemExit) as done:
            main([*args, "-t", COREGISTRATION_TABLE, "--filter-in", f"session={ids}"])
        assert done.value.code == 0
        with pytest.raises(SystemExit) as done:
            main([*args, "-t", "no_such_table_v9"])
        assert done.value.code == 1
        err = capsys.readouterr().err
        assert "no_such_table_v9" in err and len(err.strip().splitlines()[-1]) < 400
        with pytest.raises(SystemExit) as done:
            main([*args, "-t", MYSTERY_TABLE, "--filter", "embedding=1"])
        assert done.value.code == 1 and "JSON text" in capsys.readouterr().err
    finally:
        os.environ.pop("CAVE_TOKEN", None)
    want = [r for r in oracle_rows(oracle, COREGISTRATION_TABLE) if r["session"] in (4, 5)]
    assert file_rows(db, COREGISTRATION_TABLE) == want and want


def test_killed_extra_ingest_resumes(tmp_path, ds, oracle):
    with CaveTestServer(ds, token=TOKEN, row_cap=250, latency=0.05, seed=5) as slow:
        env = {**os.environ, "CAVE_TOKEN": TOKEN, "HOME": str(tmp_path)}
        env.pop("MWH_DB", None)
        db = tmp_path / "w.duckdb"
        cmd = [
            sys.executable,
            "-m",
            "warehouse",
            "ingest",
            "--db",
            str(db),
            "-d",
            "demo",
            "--server",
            slow.url,
        ]
        cmd += ["-v", str(V), "-t", SYNAPSE_TARGETS_TABLE, "--workers", "2"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while slow.stats["queries"] < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the kill lands while the ingest runs"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kept = done_chunks(db)
        assert kept, "some chunks were done before the kill"
        final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        assert "resumed" in final.stderr
        assert kept <= done_chunks(db), (
            "a resume keeps the chunks done before the kill, and fetches them not again"
        )
    assert file_rows(db, SYNAPSE_TARGETS_TABLE) == oracle_rows(oracle, SYNAPSE_TARGETS_TABLE)


def done_chunks(db: Path) -> set[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return set(
            con.execute("SELECT chunk_id, row_count FROM meta.chunks WHERE status = 'done'").fetchall()
        )
    finally:
        con.close()


def test_readme_journey_query_runs(tmp_path, oracle):
    """The README's coregistration-with-connectivity query, on roles plus coregistration_manual_v4."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    journey = readme.split(". Functional coregistration with connectivity", 1)[1]
    query = re.search(r"```sql\n(.*?)```", journey, re.S).group(1)
    db = tmp_path / "w.duckdb"
    source = CaveSource(datastack_config("demo"), server=oracle.url, token=TOKEN, retry=FAST)
    with open_for_datastack(db, "demo") as wh:
        ingest_version(wh, source, V, IngestOptions(extra_tables=[COREGISTRATION_TABLE], retry=FAST))
        rows = wh.sql(query)
        assert rows.height > 0 and rows["syn_count"].min() >= 1
        helper = wh.sql(f"FROM {COREGISTRATION_TABLE}_proofread({V})")
        assert helper.height > 0 and helper["proofread_cell_type"].null_count() < helper.height
