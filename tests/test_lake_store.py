"""A lake warehouse: the raw layer as Delta tables, the catalog in DuckDB, readers never block.

Real parts only: delta-rs tables in a temp folder, real `mwh ingest` subprocesses, a notebook-like
Python reader and the stock duckdb shell holding the catalog open while an ingest runs, SIGKILL.
The answer every lake view must give is the same view on a single-file warehouse of the same rows.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import warehouse
from ingest.plan import PlanOptions
from ingest.run import IngestOptions, ingest_version
from ingest.sources.demo import DemoSource
from ingest.synthetic import SyntheticDatastack
from tests.cave_server import CaveTestServer
from tests.spark import spark_session  # noqa: F401  (the session-wide Sail server)
from warehouse import lake
from warehouse.errors import SchemaMismatch

VIEWS = (
    "proofread_neurons",
    "proofread_synapses",
    "connections",
    "cell_types",
    "proofread_cell_types",
    "nucleus_roots",
)
SEED, SCALE = 5, 0.1


TOKEN = "lake-store-token-5d2e"


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if k != "MWH_DB"}
    e["CAVE_TOKEN"] = TOKEN
    return e


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=SEED, scale=SCALE)


@pytest.fixture(scope="module")
def server(ds):
    """The same datastack over the CAVE wire, for the `mwh ingest` subprocesses (real caveclient)."""
    with CaveTestServer(ds, token=TOKEN, row_cap=2_000, latency=0.01, seed=1) as srv:
        yield srv


def _ingest(path: Path, ds, version: int, lake_dir: Path | None = None, synapses: str = "partners") -> None:
    with warehouse.open_for_datastack(path, "demo", lake=lake_dir) as wh:
        ingest_version(
            wh, DemoSource(ds), version, IngestOptions(workers=2, plan=PlanOptions(synapses=synapses))
        )


def _ingest_1181(db: Path, server, *more: str) -> list[str]:
    """`mwh ingest` of version 1181 (every partner of the proofread cells) from the loopback server."""
    return [sys.executable, "-m", "warehouse", "ingest", "-d", "demo", "-v", "1181", "--db", str(db),
            "--synapses", "partners", *more, "--server", server.url]  # fmt: skip


def _view(path: Path, name: str):
    with warehouse.open(path) as wh:
        cols = "* EXCLUDE (neuroglancer_url)" if name == "proofread_neurons" else "*"
        return wh.sql(f"SELECT {cols} FROM {name} ORDER BY ALL")


@pytest.fixture(scope="module")
def single(ds, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("single") / "w.duckdb"
    for v in (1078, 1181):
        _ingest(path, ds, v)
    return path


def test_lake_views_equal_the_single_file_and_other_engines_read_the_lake(ds, single, tmp_path):
    db, root = tmp_path / "lake.duckdb", tmp_path / "lake"
    for v in (1078, 1181):
        _ingest(db, ds, v, root)
    for name in VIEWS:
        assert _view(db, name).equals(_view(single, name)), name
    # CAVE's layout, one Delta table per table and version, read without DuckDB
    import polars as pl

    syn = root / "demo" / "v1181" / "synapses_pni_2"
    assert lake.is_delta_table(syn) and (root / "demo" / "_manifest.json").exists()
    with warehouse.open(single) as wh:
        want = wh.sql('SELECT count(*) FROM raw."synapses_pni_2" WHERE version = 1181').item()
    assert pl.scan_delta(str(syn)).select(pl.len()).collect().item() == want
    # the raw layer is in the lake: the catalog file holds no synapse rows
    with warehouse.open(db) as wh:
        assert wh.lake == str(root.resolve())
        assert (
            "read_parquet"
            in wh.sql("SELECT sql FROM duckdb_views() WHERE view_name = 'synapses_pni_2'").item()
        )
    # the choice is made once
    with pytest.raises(SchemaMismatch, match="chosen when a warehouse is made"):
        warehouse.open_for_datastack(single, "demo", lake=tmp_path / "other")


def test_readers_never_block_an_ingest_and_see_the_new_version_when_they_reopen(ds, server, tmp_path):
    db, root = tmp_path / "lake.duckdb", tmp_path / "lake"
    _ingest(db, ds, 1078, root)
    notebook = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, warehouse\n"
            f"wh = warehouse.open({str(db)!r})\n"
            "q = 'SELECT string_agg(v::VARCHAR, \\',\\' ORDER BY v) FROM (SELECT DISTINCT version AS v FROM stg_synapses)'\n"
            "print(wh.sql(q).item(), flush=True)\n"
            "sys.stdin.readline()\n"
            "print(wh.sql(q).item(), flush=True)\n"
            "wh.close()\n"
            f"print(warehouse.open({str(db)!r}).sql(q).item(), flush=True)\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    shell_bin = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    shell = subprocess.Popen(
        [shell_bin, "-readonly", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert notebook.stdout.readline().strip() == "1078"
        shell.stdin.write("SELECT 'before', count(DISTINCT version) FROM stg_synapses;\n")
        shell.stdin.flush()
        proc = subprocess.run(
            _ingest_1181(db, server), capture_output=True, text=True, env=env(), timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        notebook.stdin.write("\n")
        notebook.stdin.flush()
        assert notebook.stdout.readline().strip() == "1078"  # its open catalog stays consistent
        assert notebook.stdout.readline().strip() == "1078,1181"  # and it sees 1181 on reopening
        shell.stdin.write("SELECT 'after', count(DISTINCT version) FROM stg_synapses;\n.quit\n")
        shell.stdin.flush()
        out, _ = shell.communicate(timeout=60)
        assert "before" in out and "after" in out and "2" not in out.split("after", 1)[1].split("\n")[0]
    finally:
        for p in (notebook, shell):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_a_killed_lake_ingest_leaves_earlier_versions_and_the_rerun_completes(ds, single, server, tmp_path):
    db, root = tmp_path / "lake.duckdb", tmp_path / "lake"
    _ingest(db, ds, 1078, root)
    before = _view(db, "proofread_synapses")
    args = _ingest_1181(db, server, "--ids-per-chunk", "5", "--workers", "1")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    syn = root / "demo" / "v1181" / "synapses_pni_2"
    deadline = time.monotonic() + 120
    while (
        not (root / "demo" / "v1181" / "proofreading_status_and_strategy").exists()
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _view(db, "proofread_synapses").equals(before)  # the published catalog: 1078 only
    # a file no commit names, as a writer killed mid-write leaves it
    syn.mkdir(parents=True, exist_ok=True)
    orphan = syn / "part-00000-killed-writer.zstd.parquet"
    orphan.write_bytes(b"PAR1 half written")
    done = subprocess.run(args, capture_output=True, text=True, env=env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert not orphan.exists()
    for path in lake.delta_tables(root):
        assert lake.orphan_files(path, grace_seconds=0) == []
    for name in VIEWS:
        assert _view(db, name).equals(_view(single, name)), name


def _export(src: Path, dst: Path, lake_dir: Path | None = None) -> None:
    """`mwh export` as a user runs it."""
    args = ["export", "--db", str(src), "--to", str(dst)] + (["--lake", str(lake_dir)] if lake_dir else [])
    proc = subprocess.run(
        [sys.executable, "-m", "warehouse", *args], capture_output=True, text=True, env=env(), timeout=300
    )
    assert proc.returncode == 0, proc.stderr


def _meta(path: Path, table: str):
    with warehouse.open(path) as wh:
        cols = "* EXCLUDE (warehouse_version)" if table == "snapshots" else "*"
        return wh.sql(f"SELECT {cols} FROM meta.{table} ORDER BY ALL")


def test_export_a_file_to_a_lake_and_back_keeps_versions_snapshots_and_views(single, tmp_path):
    lakedb, root, back = tmp_path / "lab.duckdb", tmp_path / "lab-lake", tmp_path / "back.duckdb"
    _export(single, lakedb, root)
    _export(lakedb, back)
    assert lake.is_delta_table(root / "demo" / "v1181" / "synapses_pni_2")
    with warehouse.open(back) as wh:
        assert wh.lake is None
    for path in (lakedb, back):
        for table in ("versions", "snapshots", "chunks", "snapshot_roots"):
            assert _meta(path, table).equals(_meta(single, table)), (path.name, table)
        for name in VIEWS:
            assert _view(path, name).equals(_view(single, name)), (path.name, name)


def test_spark_reads_a_lake_warehouse_and_answers_like_duckdb(single, tmp_path, spark_session):  # noqa: F811
    """The lake a warehouse writes is what Spark reads: its manifest and Delta tables, no export step."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from warehouse import spark_sql

    db, root = tmp_path / "lake.duckdb", tmp_path / "lake"
    _export(single, db, root)
    spark = spark_sql.register_lake(spark_session, root, "demo")
    with warehouse.open(db) as wh:
        for view, key in (
            ("proofread_synapses", ["id"]),
            ("connections", ["pre_pt_root_id", "post_pt_root_id"]),
        ):
            want = wh.view(view, 1181).sort(key)
            got = pl.from_arrow(spark.view(view, 1181).toArrow()).sort(key)
            assert got.height > 0
            assert_frame_equal(got, want)
