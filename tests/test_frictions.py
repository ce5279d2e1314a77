"""The frictions a new user meets on the command line, each removed and kept so by a test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import warehouse
from ingest.dump_ingest import ingest_dump
from ingest.synthetic import SyntheticDatastack
from ingest.synthetic_dumps import write_datastack_version
from tests.test_cli import mwh


@pytest.fixture
def copy_db(demo_db, tmp_path) -> Path:
    dst = tmp_path / "w.duckdb"
    shutil.copy(demo_db, dst)
    return dst


def test_db_before_the_command_works_like_after(demo_db):
    before = mwh("--db", str(demo_db), "status")
    after = mwh("status", "--db", str(demo_db))
    assert before.returncode == 0, before.stderr
    assert before.stdout == after.stdout and str(demo_db.resolve()) in before.stdout


def test_a_closed_pipe_stops_quietly(demo_db):
    env = {k: v for k, v in os.environ.items() if k != "MWH_DB"}
    proc = subprocess.run(
        [
            "bash",
            "-c",
            f"'{sys.executable}' -m warehouse status --db '{demo_db}' | head -1; echo \"rc=${{PIPESTATUS[0]}}\"",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.stdout.startswith("file:"), proc.stdout
    assert proc.stderr == "", proc.stderr
    assert "rc=0" in proc.stdout or "rc=141" in proc.stdout, proc.stdout


def test_versions_local_lists_dump_versions_and_never_an_expired_one_not_held(tmp_path):
    ds = SyntheticDatastack("demo", seed=5, scale=0.05)
    write_datastack_version(ds, 1181, tmp_path / "dump")
    db = tmp_path / "w.duckdb"
    with warehouse.open_for_datastack(db, "demo") as wh:
        ingest_dump(wh, tmp_path / "dump", 1181)
        # the server once listed 943, expired, which this file never held
        from warehouse import catalog

        catalog.record_versions(wh.con, "demo", [v for v in ds.versions if v.version == 943])
    proc = mwh("versions", "--local", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert set(rows) == {"1181"}, proc.stdout
    assert rows["1181"].rstrip().endswith("all 5 tables"), rows


def test_upgrade_recreates_a_dropped_or_changed_view(copy_db):
    drop = mwh("sql", "--write", "--db", str(copy_db), "DROP VIEW cell_type_connectivity")
    assert drop.returncode == 0, drop.stderr
    reader = mwh("sql", "--db", str(copy_db), "SELECT 1")
    assert "mwh upgrade" in reader.stderr and "cell_type_connectivity" in reader.stderr, reader.stderr
    up = mwh("upgrade", "--db", str(copy_db))
    assert up.returncode == 0 and "re-applied" in up.stderr, up.stderr
    assert mwh("sql", "--db", str(copy_db), "SELECT count(*) FROM cell_type_connectivity").returncode == 0
    changed = mwh(
        "sql", "--write", "--db", str(copy_db), "CREATE OR REPLACE VIEW cell_types AS SELECT 1 AS version"
    )
    assert changed.returncode == 0
    assert "re-applied" in mwh("upgrade", "--db", str(copy_db)).stderr
    with warehouse.open(copy_db) as wh:
        assert "cell_type" in wh.view("cell_types", 1181).columns
    assert "up to date" in mwh("upgrade", "--db", str(copy_db)).stderr


def test_a_reader_holding_the_file_is_named_as_a_reader(copy_db):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(copy_db)!r}, read_only=True); print('open', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        proc = mwh("ingest", "-d", "demo", "-v", "1181", "--db", str(copy_db))
        line = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode != 0 and "open read-only by process" in line and str(holder.pid) in line, line
        assert "close it there" in line
    finally:
        holder.kill()
        holder.wait()


def test_sql_output_says_how_many_rows_it_wrote(demo_db, tmp_path):
    out = tmp_path / "syn.parquet"
    proc = mwh(
        "sql",
        "--db",
        str(demo_db),
        "FROM proofread_synapses WHERE version = 1181",
        "-f",
        "parquet",
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    with duckdb.connect() as con:
        want = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchall()[0][0]
    assert want == pq.read_metadata(out).num_rows > 0
    assert f"wrote {want:,} rows to {out}" in proc.stderr
    csv = tmp_path / "n.csv"
    proc = mwh(
        "sql",
        "--db",
        str(demo_db),
        "FROM proofread_neurons WHERE version = 1181",
        "-f",
        "csv",
        "-o",
        str(csv),
    )
    assert f"wrote {len(csv.read_text().splitlines()) - 1:,} rows to {csv}" in proc.stderr
