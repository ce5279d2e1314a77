"""The notebook's steps as Spark SQL (Sail, no JVM) over the exported demo lake equal the DuckDB views.

The Spark views are transpiled from the same sql/ files, so this checks the transpilation and its
hand-made parts (macros inlined, QUALIFY rewritten, the partners macro's parameters filled in) on
real data: version 1181 of `mwh demo`, exported with the synapse table split, compared row for row,
read both ways register_lake can: Spark's Delta source and the committed Parquet files (the way
bench/jvm_spark.py reads the lake in a JVM Spark without Delta jars).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

import warehouse
from tests.spark import spark_session  # noqa: F401  (the session-wide Sail server)
from warehouse import lake_export, spark_sql
from warehouse.errors import VersionNotSnapshotted, WarehouseError

VERSION = 1181
LATER = 1300


@pytest.fixture(scope="module")
def lake_root(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VERSION, then a later one in a second export: the split `__fixed` table gets a second Delta
    commit, so VERSION's entry names an older Delta version of it than the newest."""
    root = tmp_path_factory.mktemp("spark_lake")
    for v in (VERSION, LATER):
        lake_export.export_warehouse(demo_db, root, split_synapses=True, versions=[v])
    return root


# Each reader gives the same views: Spark's Delta source, and the committed Parquet files that a
# JVM Spark without Delta jars reads (bench/jvm_spark.py runs the same check there).
@pytest.fixture(scope="module", params=spark_sql.READERS)
def spark_lake(lake_root: Path, spark_session, request):  # noqa: F811
    return spark_sql.register_lake(spark_session, lake_root, "demo", versions=[VERSION], reader=request.param)


def _frame(df) -> pl.DataFrame:
    return pl.from_arrow(df.toArrow())


@pytest.mark.parametrize(
    ("view", "key"),
    [
        ("proofread_neurons", ["pt_root_id", "id"]),
        ("proofread_synapses", ["id"]),
        ("connections", ["pre_pt_root_id", "post_pt_root_id"]),
        ("cell_types", ["pt_root_id"]),
    ],
)
def test_spark_view_equals_duckdb_view(spark_lake, demo_db: Path, view: str, key: list[str]):
    with warehouse.open(demo_db) as wh:
        expected = wh.view(view, VERSION)
    expected = expected.drop(*spark_sql.DROPPED_COLUMNS.get(view, ())).sort(key)
    got = _frame(spark_lake.view(view, VERSION)).sort(key)
    assert got.height > 0
    assert_frame_equal(got, expected)


def test_spark_partners_equal_duckdb_macro(spark_lake, demo_db: Path):
    with warehouse.open(demo_db) as wh:
        root = wh.sql(
            "SELECT pre_pt_root_id FROM connections WHERE version = ? GROUP BY 1 ORDER BY sum(syn_count) DESC, 1 LIMIT 1",
            [VERSION],
        ).item()
        expected = {d: wh.partners(root, VERSION, direction=d) for d in ("output", "input")}
    for direction, want in expected.items():
        got = _frame(spark_lake.partners(root, VERSION, direction))
        assert got.height > 5
        assert_frame_equal(got, want)  # same order too: syn_count descending, then partner id


def _local(uri: str) -> str:
    return urllib.parse.unquote(uri.removeprefix("file://"))


def test_parquet_reader_reads_exactly_the_committed_files(lake_root: Path, spark_session):  # noqa: F811
    """reader="parquet" reads each table at the Delta version the manifest names, and no other file."""
    manifest = lake_export.read_manifest(lake_root, "demo")
    base = lake_root / "demo"
    older = 0
    for entry in manifest["tables"]:
        tables = [(entry["path"], entry["delta_version"])]
        if entry["layout"] == "split":
            tables.append((entry["fixed"]["path"], entry["fixed"]["delta_version"]))
            older += entry["fixed"]["delta_version"] < DeltaTable(base / entry["fixed"]["path"]).version()
        want = {_local(u) for path, v in tables for u in DeltaTable(base / path, version=v).file_uris()}
        frame = spark_sql.raw_frame(
            spark_session, lake_root, manifest, entry["role"], entry["version"], "parquet"
        )
        assert {_local(u) for u in frame.inputFiles()} == want, (entry["role"], entry["version"])
    assert older == 1  # VERSION's __fixed is an older Delta version than the newest: not read


def test_spark_refuses_what_it_cannot_answer(spark_lake):
    with pytest.raises(WarehouseError, match="not registered from the lake"):
        spark_lake.partners(1, 1300)
    with pytest.raises(WarehouseError, match="direction must be"):
        spark_lake.partners(1, VERSION, "sideways")
    with pytest.raises(WarehouseError, match="no Spark view"):
        spark_lake.view("reciprocity")
    with pytest.raises(WarehouseError, match="reader must be one of"):
        spark_sql.register_lake(spark_lake.spark, spark_lake.root, "demo", reader="csv")


def test_spark_reads_a_lake_warehouse_fed_only_some_roles(tmp_path: Path, spark_session):  # noqa: F811
    """A lake warehouse that holds only synapses and proofreading (a dump of those two) registers in
    Spark; its views give DuckDB's rows, and both refuse to answer for a version whose tables a view
    reads are not all there (here: proofread_neurons' nucleus table), instead of answering short.
    proofread_synapses needs only the two tables (it reads proofread_roots), and answers."""
    from ingest.dump_ingest import ingest_dump
    from ingest.synthetic_dumps import SyntheticSynapses

    SyntheticSynapses(20_000, synapses_per_cell=20).write(tmp_path / "dump")
    db, lake = tmp_path / "wh.duckdb", tmp_path / "lake"
    with warehouse.open_for_datastack(db, "demo", lake=lake) as wh:
        ingest_dump(wh, tmp_path / "dump", 1)
    sl = spark_sql.register_lake(spark_session, lake, "demo")
    with warehouse.open(db) as wh:
        for view, key in (
            ("proofread_synapses", ["id"]),
            ("connections", ["pre_pt_root_id", "post_pt_root_id"]),
        ):
            expected = wh.sql(f"SELECT * FROM {view} WHERE version = 1").sort(key)
            assert expected.height > 0
            assert_frame_equal(_frame(spark_session.table(view).where("version = 1")).sort(key), expected)
        assert wh.view("proofread_synapses", 1).height > 0
        with pytest.raises(VersionNotSnapshotted, match="no nucleus snapshot"):
            wh.view("proofread_neurons", 1)
    assert sl.view("proofread_synapses", 1).count() > 0
    with pytest.raises(
        WarehouseError, match="needs the nucleus table.* run: mwh ingest --datastack demo --version 1"
    ):
        sl.view("proofread_neurons", 1)
    # partners types its partners: without the cell-type tables both refuse, not NULL types
    with warehouse.open(db) as wh:
        root = int(wh.sql("SELECT pre_pt_root_id FROM proofread_synapses LIMIT 1").item())
        with pytest.raises(
            duckdb.InvalidInputException, match="no cell_types_(manual|auto) snapshot.* --version 1"
        ):
            wh.con.execute(f"FROM partners({root}, 1)").fetchall()
        with pytest.raises(
            VersionNotSnapshotted, match="no nucleus/cell_types_manual/cell_types_auto snapshot"
        ):
            wh.partners(root, 1)
    with pytest.raises(WarehouseError, match="needs the nucleus, cell_types_manual, cell_types_auto table"):
        sl.partners(root, 1)
