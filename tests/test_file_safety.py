"""The file is never lost or corrupted: a second writer, a full disk, an old or new schema."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import warehouse
from tests.test_cli import assert_one_line_error, mwh
from warehouse import schema
from warehouse.errors import SchemaMismatch


@pytest.fixture(scope="session")
def _one_version_template(tmp_path_factory, small_ds) -> Path:
    """Built once per worker through the real ingest; tests get their own copy of the checkpointed file."""
    from tests.conftest import build_warehouse

    return build_warehouse(tmp_path_factory.mktemp("one_version") / "w.duckdb", small_ds, versions=(1078,))


@pytest.fixture
def one_version_db(tmp_path, _one_version_template) -> Path:
    assert not _one_version_template.with_name("w.duckdb.wal").exists()  # the file alone is the warehouse
    return Path(shutil.copy(_one_version_template, tmp_path / "w.duckdb"))


def snapshot_state(path) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return (
            con.execute(
                "SELECT snapshot_id, role, version, status, row_count FROM meta.snapshots ORDER BY 1"
            ).fetchall(),
            con.execute(
                "SELECT version, count(*), sum(size) FROM proofread_synapses GROUP BY 1 ORDER BY 1"
            ).fetchall(),
            con.execute("SELECT version, count(*) FROM cell_types GROUP BY 1 ORDER BY 1").fetchall(),
        )
    finally:
        con.close()


def test_a_second_process_gets_one_line_naming_the_writer(one_version_db):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
            str(one_version_db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        for args in (["sql", "SELECT 1"], ["ingest", "-d", "demo", "-v", "1181"], ["status"]):
            proc = mwh(*args, "--db", str(one_version_db))
            assert_one_line_error(
                proc, "open for writing by process", str(holder.pid), "wait for it to finish"
            )
    finally:
        holder.kill()
        holder.wait()
    assert mwh("sql", "--db", str(one_version_db), "SELECT 1").returncode == 0


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_fails_in_one_line_and_keeps_earlier_snapshots(one_version_db):
    before = snapshot_state(one_version_db)
    size = one_version_db.stat().st_size
    env = {**os.environ}
    env.pop("MWH_DB", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "warehouse",
            "ingest",
            "--db",
            str(one_version_db),
            "-d",
            "demo",
            "-v",
            "1300",
            "--synapses",
            "partners",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=_limit_file_size(size + 256 * 1024),
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert snapshot_state(one_version_db)[1:] == before[1:]
    # once there is room again, the same command completes
    ok = mwh("ingest", "--db", str(one_version_db), "-d", "demo", "-v", "1300", "--synapses", "partners")
    assert ok.returncode == 0, ok.stderr
    con = duckdb.connect(str(one_version_db), read_only=True)
    assert con.execute("SELECT count(*) FROM proofread_neurons WHERE version = 1300").fetchall()[0][0] > 0
    con.close()


def test_a_file_from_a_newer_warehouse_is_refused(one_version_db):
    con = duckdb.connect(str(one_version_db))
    con.execute("UPDATE meta.warehouse SET value = '99' WHERE key = 'schema_version'")
    con.close()
    assert_one_line_error(
        mwh("sql", "--db", str(one_version_db), "SELECT 1"), "newer microns-warehouse", "schema 99"
    )
    assert_one_line_error(mwh("ingest", "--db", str(one_version_db), "-d", "demo", "-v", "1181"), "newer")


def test_an_older_file_is_migrated_in_one_transaction(one_version_db, monkeypatch):
    """The migration machinery, with a migration 0 -> 1 registered for the test before the real ones
    (1 -> 2 is tested on a true schema-1 file in test_live_snapshots.py)."""
    before = snapshot_state(one_version_db)
    con = duckdb.connect(str(one_version_db))
    con.execute("UPDATE meta.warehouse SET value = '0' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaMismatch, match="mwh upgrade"):
        warehouse.open(one_version_db)

    def broken(con):
        con.execute("CREATE TABLE meta.half_done AS SELECT 1 AS x")
        raise RuntimeError("migration bug")

    monkeypatch.setitem(schema.MIGRATIONS, 0, broken)
    with pytest.raises(RuntimeError):
        warehouse.open(one_version_db, read_only=False)
    con = duckdb.connect(str(one_version_db), read_only=True)
    assert con.execute("SELECT value FROM meta.warehouse WHERE key = 'schema_version'").fetchall() == [("0",)]
    assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name = 'half_done'").fetchall()
    con.close()

    monkeypatch.setitem(
        schema.MIGRATIONS, 0, lambda con: con.execute("CREATE TABLE meta.migrated AS SELECT 1 AS x")
    )
    assert (
        mwh("upgrade", "--db", str(one_version_db)).returncode != 0
    )  # the CLI has no such migration: refused
    with warehouse.open(one_version_db, read_only=False) as wh:
        assert wh.con.execute("SELECT value FROM meta.warehouse WHERE key = 'schema_version'").fetchall() == [
            (str(schema.SCHEMA_VERSION),)
        ]
        assert wh.con.execute("SELECT x FROM meta.migrated").fetchall() == [(1,)]
    assert snapshot_state(one_version_db) == before


def test_killed_demo_build_never_replaces_a_good_file(one_version_db, tmp_path):
    """`mwh demo` builds beside the target and renames at the end; a kill mid-build leaves the old file."""
    db = one_version_db
    before = snapshot_state(db)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "warehouse",
            "demo",
            "--db",
            str(db),
            "--scale",
            "0.1",
            "--out",
            str(tmp_path / "r"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    building = db.with_name(db.name + ".building")
    deadline = time.monotonic() + 60
    while not building.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # into the build: snapshots are being written to the .building file
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the kill must land while the demo builds"
    assert snapshot_state(db) == before  # still the one-version file, not a half-built demo
    shutil.rmtree(tmp_path / "r", ignore_errors=True)


def test_views_from_another_release_ask_for_an_upgrade(one_version_db):
    con = duckdb.connect(str(one_version_db))
    con.execute("UPDATE meta.warehouse SET value = 'an-older-release' WHERE key = 'sql_hash'")
    con.execute("DROP MACRO TABLE partners")  # as if written before partners existed
    con.close()
    assert_one_line_error(mwh("sql", "--db", str(one_version_db), "FROM partners(1, 1078)"), "mwh upgrade")
    assert mwh("upgrade", "--db", str(one_version_db)).returncode == 0
    # the macro is back, checks and all: root id 1 is in no version, which it now says (issue 11)
    again = mwh(
        "sql", "--db", str(one_version_db), "-f", "csv", "SELECT count(*) AS n FROM partners(1, 1078)"
    )
    assert_one_line_error(again, "root id 1 is not in version 1078")


# ------------------------------------------------------------------------------ memory limit
def test_memory_limit_caps_duckdb_and_a_big_join_spills_instead_of_growing(demo_db, tmp_path, monkeypatch):
    """Connections get MWH_MEMORY_LIMIT (2 GB by default), so a full scan of the synapse table,
    which joins __rows to __fixed in a hash table as large as the table, spills to <file>.tmp
    past the limit instead of taking the machine's memory; the answer is the same."""
    path = tmp_path / "w.duckdb"
    shutil.copy(demo_db, path)
    scan = (
        "SELECT version, count(*), sum(size), sum(ctr_pt_position_x) FROM stg_synapses "
        "GROUP BY version ORDER BY version"
    )
    monkeypatch.setenv("MWH_MEMORY_LIMIT", "duckdb")
    with warehouse.open(path) as wh:
        unlimited = wh.con.execute(scan).fetchall()
        rows = wh.con.execute("SELECT count(*) FROM stg_synapses").fetchall()[0][0]
    # ~2 M rows: the join's hash table (ids, root ids, snapshot) is ~100 MB, over the limit below.
    assert rows > 1_500_000
    monkeypatch.delenv("MWH_MEMORY_LIMIT")
    with warehouse.open(path) as wh:
        assert wh.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "1.8 GiB"  # 2 GB
    monkeypatch.setenv("MWH_MEMORY_LIMIT", "64MB")
    with warehouse.open(path) as wh:
        assert wh.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] == "61.0 MiB"
        assert wh.con.execute(scan).fetchall() == unlimited
        assert (
            wh.con.execute("SELECT current_setting('temp_directory')")
            .fetchall()[0][0]
            .endswith("w.duckdb.tmp")
        )


def test_a_notebook_can_open_the_file_with_plain_duckdb_beside_the_api(one_version_db):
    """DuckDB refuses a second in-process connection whose config differs; the limit is SET instead."""
    with warehouse.open(one_version_db) as wh:
        con = duckdb.connect(str(one_version_db), read_only=True)
        try:
            n = con.execute("SELECT count(*) FROM proofread_neurons").fetchall()[0][0]
        finally:
            con.close()
        assert n == wh.con.execute("SELECT count(*) FROM proofread_neurons").fetchall()[0][0] > 0


def test_a_bad_memory_limit_is_one_line(one_version_db):
    proc = mwh("sql", "--db", str(one_version_db), "SELECT 1", env={"MWH_MEMORY_LIMIT": "lots"})
    assert_one_line_error(proc, "MWH_MEMORY_LIMIT", "not a size")
