"""The lake: Delta layout and I/O, a writer killed mid-commit, and the export of the demo warehouse.

Everything is real: delta-rs tables in temp folders, a writer process killed with SIGKILL, and the
`mwh demo` warehouse exported and read back three ways (DuckDB over the listed Parquet files,
polars' own Delta reader, delta-rs) against the raw relations in the DuckDB file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from warehouse import lake, lake_export
from warehouse.errors import WarehouseError


def _table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": np.arange(n, dtype=np.int64),
            "post_pt_root_id": rng.integers(0, 50, n),
            "size": rng.integers(1, 1000, n),
            "ctr_pt_position_x": rng.integers(0, 10**6, n),
            "created": pa.array(np.full(n, 1_600_000_000_000_000), pa.timestamp("us", tz="UTC")),
        }
    )


def _duck_arrow(query: str) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    got = con.sql(query).arrow()
    return got.read_all() if isinstance(got, pa.RecordBatchReader) else got


def test_layout_follows_cave_exports(tmp_path: Path):
    assert lake.table_path(tmp_path, "minnie65_public", 1181, "synapses_pni_2") == (
        tmp_path / "minnie65_public" / "v1181" / "synapses_pni_2"
    )
    assert lake.table_path(tmp_path, "d", 1, "t", "post_pt_root_id").parts[-2:] == ("t", "post_pt_root_id")
    assert lake.fixed_path(tmp_path, "d", "syn") == tmp_path / "d" / "syn__fixed"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: lake.check_root("s3://bucket/lake"), "object-store URI"),
        (lambda p: lake.table_path(p, "../up", 1, "t"), "bad lake datastack name"),
        (lambda p: lake.table_path(p, "d", -1, "t"), "bad materialization version"),
        (lambda p: lake.table_path(p, "d", 1, "a/b"), "bad lake table name"),
        (lambda p: lake.data_files(p / "nothing"), "no Delta table at"),
        (lambda p: lake.write_table(p / "t", _table(3), mode="merge"), "bad write mode"),
        (lambda p: lake_export.read_manifest(p, "d"), "no lake manifest"),
        (lambda p: lake_export.export_warehouse(p / "missing.duckdb", p), "no warehouse file"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, call, message: str):
    with pytest.raises(WarehouseError, match=message) as err:
        call(tmp_path)
    assert "\n" not in str(err.value)


def test_one_commit_sorted_and_read_exactly_by_duckdb(tmp_path: Path):
    path = tmp_path / "d" / "v1" / "syn"
    data = _table(5000)
    res = lake.write_table(path, data, sort_by=lake.SYNAPSE_SORT, target_file_size=20_000)
    assert (res.delta_version, res.rows) == (0, 5000) and res.files > 1
    assert len(list((path / "_delta_log").glob("*.json"))) == 1  # one commit, however many files
    files = lake.data_files(path)
    assert sorted(files) == sorted(str(p) for p in path.glob("*.parquet"))
    got = _duck_arrow(f"SELECT * FROM {lake.duckdb_source(path)}")
    assert got.schema == data.schema  # typed columns survive: int64, timestamp with time zone
    expected = pl.from_arrow(data).sort("post_pt_root_id", "id")
    assert_frame_equal(pl.from_arrow(got).sort("post_pt_root_id", "id"), expected)
    # Sorted on the way in: every file holds a run of post root ids, so row-group statistics prune.
    assert all(pl.read_parquet(f)["post_pt_root_id"].is_sorted() for f in files)
    with pytest.raises(WarehouseError, match="already exists"):
        lake.write_table(path, data)


def test_stream_append_keeps_every_version_readable(tmp_path: Path):
    path = tmp_path / "fixed"
    first, second = _table(100), _table(50, seed=1)
    lake.write_table(path, first)
    batches = iter(second.to_batches(max_chunksize=7))
    res = lake.write_table(path, batches, mode="append")
    assert (res.delta_version, res.rows) == (1, 50)  # this commit alone
    assert duckdb.sql(f"SELECT count(*) FROM {lake.duckdb_source(path, 0)}").fetchall() == [(100,)]
    assert pl.scan_delta(str(path), version=1).collect().height == 150
    assert lake.orphan_files(path, grace_seconds=0) == []
    empty = lake.write_table(tmp_path / "empty", first.slice(0, 0))
    assert empty.rows == 0 and lake.data_files(tmp_path / "empty") == []
    assert duckdb.sql(f"SELECT count(*) FROM {lake.duckdb_source(tmp_path / 'empty')}").fetchall() == [(0,)]


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pyarrow as pa
    from warehouse import lake

    def batches():
        for i in range(10_000):
            n = 20_000
            yield pa.record_batch({"id": np.arange(i * n, (i + 1) * n, dtype=np.int64),
                                   "v": np.random.default_rng(i).random(n)})
            if i == 20:
                print("flushing", flush=True)
            if i > 20:
                time.sleep(0.05)  # keep the commit from ever arriving before the kill

    schema = pa.schema([("id", pa.int64()), ("v", pa.float64())])
    lake.write_table(sys.argv[1], batches(), schema=schema, mode="append", target_file_size=256 * 1024)
    """
)


def test_writer_killed_mid_write_leaves_previous_version_and_cleanable_orphans(tmp_path: Path):
    path = tmp_path / "d" / "v1" / "t"
    before = pa.table({"id": np.arange(10, dtype=np.int64), "v": np.zeros(10)})
    lake.write_table(path, before)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert proc.stdout.readline().strip() == "flushing"
        deadline = time.monotonic() + 20
        while len(list(path.glob("*.parquet"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    on_disk = {str(p) for p in path.glob("*.parquet")}
    assert len(on_disk) >= 3, "the writer should have flushed files before it was killed"

    # Readers see the previous version, whole, and nothing of the killed writer.
    assert lake.delta_version(path) == 0
    visible = lake.data_files(path)
    assert len(visible) == 1
    got = _duck_arrow(f"SELECT * FROM {lake.duckdb_source(path)} ORDER BY id")
    assert got.equals(before)
    assert pl.scan_delta(str(path)).collect().height == 10

    orphans = {str(p) for p in lake.orphan_files(path, grace_seconds=0)}
    assert orphans == on_disk - set(visible)
    assert lake.orphan_files(path) == []  # young files may belong to a live writer: left alone
    # delta-rs's own full vacuum (dry run) names the same files: an independent listing.
    from deltalake import DeltaTable

    vac = DeltaTable(str(path)).vacuum(
        retention_hours=0, dry_run=True, enforce_retention_duration=False, full=True
    )
    assert {str(path / v) for v in vac} == orphans

    assert {str(p) for p in lake.remove_orphans(path, grace_seconds=0)} == orphans
    assert {str(p) for p in path.glob("*.parquet")} == set(visible)
    assert lake.write_table(path, before, mode="append").rows == 10  # the table still takes commits


# --- export of the demo warehouse --------------------------------------------------------------


@pytest.fixture(scope="module", params=["full", "split"])
def exported(request, demo_db: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp(f"lake_{request.param}")
    result = lake_export.export_warehouse(demo_db, root, split_synapses=request.param == "split")
    return root, result


def _raw(con: duckdb.DuckDBPyConnection, entry: dict) -> str:
    ids = ", ".join(map(str, entry["snapshot_ids"]))
    return f'SELECT * FROM raw."{entry["table"]}" WHERE snapshot_id IN ({ids})'


def test_export_writes_every_complete_snapshot(exported, demo_db: Path):
    root, result = exported
    manifest = lake_export.read_manifest(root, "demo")
    con = duckdb.connect(str(demo_db), read_only=True)
    complete = con.execute(
        "SELECT role, version, list(snapshot_id ORDER BY snapshot_id) FROM meta.snapshots "
        "WHERE status = 'complete' GROUP BY ALL"
    ).fetchall()
    assert {(t["role"], t["version"]): t["snapshot_ids"] for t in manifest["tables"]} == {
        (r, v): ids for r, v, ids in complete
    }
    assert {t["version"] for t in manifest["tables"]} == {1078, 1181, 1300}
    current = dict(
        ((r, v), ids)
        for r, v, ids in con.execute(
            "SELECT role, version, list(snapshot_id ORDER BY snapshot_id) FROM meta.current_snapshots GROUP BY ALL"
        ).fetchall()
    )  # a version's synapse snapshots add up: several are current
    assert {(t["role"], t["version"]): t["current_snapshot_ids"] for t in manifest["tables"]} == current
    # A second run finds everything in the manifest and writes nothing.
    again = lake_export.export_warehouse(
        demo_db, root, split_synapses=manifest["layout"]["synapses"] == "split"
    )
    assert again.written == [] and len(again.skipped) == len(manifest["tables"])


def test_exported_tables_equal_raw_relations_row_for_row(exported, demo_db: Path):
    root, _ = exported
    manifest = lake_export.read_manifest(root, "demo")
    con = duckdb.connect(str(demo_db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    base = root / "demo"
    split = manifest["layout"]["synapses"] == "split"
    key = ["snapshot_id", "id"]  # unique in a raw relation: sorted on it, frames compare row for row
    for entry in manifest["tables"]:
        if split and entry["layout"] != "split":
            continue  # the other tables are written exactly as in the full layout, checked there
        raw = con.sql(_raw(con, entry)).pl().sort(key)
        assert raw.height == entry["rows"]
        # DuckDB over the listed Parquet files, no extension: same rows, column names and types.
        lake_sql = lake_export.duckdb_relation_sql(root, manifest, entry["role"], entry["version"])
        assert_frame_equal(con.sql(lake_sql).pl().sort(key), raw)
        # polars' own Delta reader at the recorded Delta version, independent of the file listing.
        frame = pl.scan_delta(str(base / entry["path"]), version=entry["delta_version"])
        if split:
            fixed = pl.scan_delta(str(base / entry["fixed"]["path"]), version=entry["fixed"]["delta_version"])
            frame = frame.join(fixed, on="id", how="inner")
        assert_frame_equal(frame.select(entry["columns"]).collect().sort(key), raw)
    if manifest["layout"]["synapses"] == "split":
        fixed = pl.scan_delta(str(base / "synapses_pni_2__fixed")).collect()
        assert fixed["id"].is_unique().all()  # each id once: versions append only their new ids
        n_fixed = con.execute('SELECT count(DISTINCT id) FROM raw."synapses_pni_2__rows"').fetchall()[0][0]
        assert fixed.height == n_fixed


def test_manifest_restores_meta_exactly(exported, demo_db: Path):
    root, _ = exported
    manifest = json.loads(lake_export.manifest_path(root, "demo").read_text())
    con = duckdb.connect()
    con.execute(f"ATTACH '{demo_db}' AS src (READ_ONLY)")
    lake_export.restore_meta(con, manifest, schema="restored")
    for name in lake_export.META_TABLES:
        src, dst = f"src.meta.{name}", f"restored.{name}"
        assert con.sql(f"FROM {src}").types == con.sql(f"FROM {dst}").types
        for a, b in ((src, dst), (dst, src)):
            assert con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchall() == [(0,)], (
                name
            )
        assert (
            con.execute(f"SELECT count(*) FROM {src}").fetchall()
            == con.execute(f"SELECT count(*) FROM {dst}").fetchall()
        )
