"""The `mwh` command as a user meets it: real subprocesses, real files, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from warehouse.cli import cli
from warehouse.registry import ROLE_NAMES

REPO = Path(__file__).resolve().parents[1]


def mwh(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MWH_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "warehouse", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])


@pytest.fixture
def copy_db(demo_db, tmp_path) -> Path:
    dst = tmp_path / "w.duckdb"
    shutil.copy(demo_db, dst)
    return dst


def test_sql_prints_a_table_and_binds_parameters(demo_db):
    proc = mwh(
        "sql",
        "--db",
        str(demo_db),
        "SELECT strategy_axon, count(*) AS n FROM proofread_neurons WHERE version = $1 GROUP BY ALL ORDER BY n DESC",
        "-p",
        "1181",
    )
    assert proc.returncode == 0, proc.stderr
    assert "axon_partially_extended" in proc.stdout and "979" in proc.stdout


def test_sql_json_csv_and_parquet(demo_db, tmp_path):
    q = "SELECT version, count(*) AS n FROM proofread_neurons GROUP BY ALL ORDER BY version"
    js = mwh("sql", "--db", str(demo_db), "-f", "json", q)
    assert json.loads(js.stdout) == [
        {"version": 1078, "n": 1300},
        {"version": 1181, "n": 1436},
        {"version": 1300, "n": 1560},
    ]
    csv = mwh("sql", "--db", str(demo_db), "-f", "csv", q)
    assert csv.stdout.splitlines()[0].replace('"', "") == "version,n"
    out = tmp_path / "neurons.parquet"
    pq = mwh(
        "sql",
        "--db",
        str(demo_db),
        "-f",
        "parquet",
        "-o",
        str(out),
        "FROM proofread_neurons WHERE version = 1181",
    )
    assert pq.returncode == 0, pq.stderr
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall()[0][0] == 1436


def test_sql_is_read_only_unless_asked(copy_db):
    proc = mwh("sql", "--db", str(copy_db), "DROP VIEW proofread_neurons")
    assert_one_line_error(proc, "read-only")
    ok = mwh("sql", "--db", str(copy_db), "--write", "CREATE TABLE main.my_notes AS SELECT 1 AS x")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["sql", "SELEC 1"], ["syntax error"]),
        (["sql", "SELECT * FROM no_such_view"], ["no_such_view"]),
        (["report", "--version", "999"], ["version 999", "mwh ingest --datastack demo --version 999"]),
        (["report", "--version", "abc"], ["--version"]),
        (["report", "nope", "--version", "1181"], ["unknown report 'nope'"]),
        (["sql", "--format", "xml", "SELECT 1"], ["--format"]),
        (["sql", "-f", "parquet", "SELECT 1"], ["--output"]),
        (["frobnicate"], ["No such command"]),
        (["ingest", "--datastack", "nope", "--version", "1"], ["unknown datastack 'nope'"]),
        (["ingest", "--datastack", "demo", "--version", "0"], ["--version"]),
        (["ingest", "--datastack", "demo", "--version", "943"], ["943", "expired"]),
        (["ingest", "--datastack", "demo", "--version", "1500"], ["1500", "does not exist"]),
        (
            ["ingest", "--datastack", "demo", "--version", "1181", "--tables", "no_such_table"],
            ["no_such_table"],
        ),
    ],
)
def test_bad_input_is_one_line(copy_db, args, fragments):
    proc = mwh(*args, "--db", str(copy_db)) if args[0] != "frobnicate" else mwh(*args)
    assert_one_line_error(proc, *fragments)


def test_a_bad_version_creates_no_file(tmp_path):
    db = tmp_path / "new.duckdb"
    assert_one_line_error(mwh("ingest", "--db", str(db), "-d", "demo", "-v", "1500"), "does not exist")
    assert not db.exists()


def test_failed_ingest_leaves_the_file_as_it_was(copy_db):
    before = duckdb.connect(str(copy_db), read_only=True)
    snaps = before.execute("SELECT * FROM meta.snapshots ORDER BY snapshot_id").fetchall()
    before.close()
    assert_one_line_error(mwh("ingest", "--db", str(copy_db), "-d", "demo", "-v", "943"), "expired")
    after = duckdb.connect(str(copy_db), read_only=True)
    assert after.execute("SELECT * FROM meta.snapshots ORDER BY snapshot_id").fetchall() == snaps
    after.close()


@pytest.mark.parametrize("kind", ["missing", "directory", "corrupt", "other_datastack", "not_a_warehouse"])
def test_bad_warehouse_files(tmp_path, kind):
    path = tmp_path / "w.duckdb"
    expected = {
        "missing": "no warehouse at",
        "directory": "is a directory",
        "corrupt": "not a DuckDB",
        "other_datastack": "holds datastack",
        "not_a_warehouse": "not a microns-warehouse",
    }[kind]
    cmd = ["sql", "--db", str(path), "SELECT 1"]
    if kind == "directory":
        path.mkdir()
    elif kind == "corrupt":
        path.write_bytes(b"this is not a database" * 1000)
    elif kind == "not_a_warehouse":
        duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1").close()
    elif kind == "other_datastack":
        import warehouse

        warehouse.open_for_datastack(path, "demo").close()
        cmd = ["ingest", "--db", str(path), "--datastack", "minnie65_public", "--version", "1181"]
    assert_one_line_error(mwh(*cmd), expected)


def test_versions_and_status(demo_db):
    proc = mwh("versions", "--db", str(demo_db), "--datastack", "demo")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert "expired" in lines["943"] and f"all {len(ROLE_NAMES)} tables" in lines["1181"]
    st = mwh("status", "--db", str(demo_db))
    assert st.returncode == 0 and "v1181" in st.stdout and "synapses_pni_2" in st.stdout


def test_ingest_demo_version_then_rerun_is_a_no_op(tmp_path):
    db = tmp_path / "w.duckdb"
    first = mwh(
        "ingest", "--db", str(db), "-d", "demo", "-v", "1181", "--tables", "proofreading", "-t", "synapses"
    )
    assert first.returncode == 0, first.stderr
    assert "proofreading_status_and_strategy v1181: 1,812 rows (created" in first.stderr
    again = mwh("ingest", "--db", str(db), "-d", "demo", "-v", "1181", "-t", "proofreading", "-t", "synapses")
    assert "(unchanged)" in again.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM proofread_synapses").fetchall()[0][0] > 100_000
    assert con.execute("SELECT count(*) FROM meta.snapshots").fetchall()[0][0] == 2


def test_every_command_is_documented():
    """Each command: a summary line, an Example: block, and help= on every option (as sqlite-utils tests)."""
    for name, command in cli.commands.items():
        assert command.help and command.help.strip(), name
        assert "Example:" in command.help, name
        for param in command.params:
            if isinstance(param, __import__("click").Option) and param.name not in ("help",):
                assert param.help, (name, param.name)


def test_python_dash_m_and_console_script_agree():
    proc = mwh("--help")
    assert proc.returncode == 0 and "mwh demo" in proc.stdout
    script = shutil.which("mwh", path=str(Path(sys.executable).parent))
    assert script, "the console script mwh is installed beside the interpreter"
    out = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert "microns-warehouse" in out.stdout
