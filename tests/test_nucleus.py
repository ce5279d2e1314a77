"""The nucleus role end to end: demo, CAVE through the real caveclient, dumps, views, diff, neuron.

Nucleus ids are the stable identity of a cell across versions. The nucleus table is snapshotted
whole, like the proofreading table; these tests check every path that fills it against an
independent answer (caveclient's own query_table on an uncapped server, or the synthetic
generator's rows done in pandas), and every view that reads it against a pandas computation.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from caveclient import CAVEclient

import warehouse
from ingest.dump_ingest import ingest_dump
from ingest.retry import RetryPolicy
from ingest.run import IngestOptions, ingest_version
from ingest.sources.cave import CaveSource
from ingest.synthetic import (
    AUTO_TYPES_TABLE,
    MANUAL_TYPES_TABLE,
    NUCLEUS_TABLE,
    PROOFREADING_TABLE,
    SyntheticDatastack,
)
from ingest.synthetic_dumps import write_datastack_version
from tests.cave_server import CaveTestServer
from warehouse.config import datastack_config

TOKEN = "nucleus-test-token-71c2"
V = 1181
COLUMNS = [
    "id",
    "valid",
    "volume",
    "pt_supervoxel_id",
    "pt_root_id",
    "pt_position_x",
    "pt_position_y",
    "pt_position_z",
]


@pytest.fixture(scope="module")
def ds() -> SyntheticDatastack:
    return SyntheticDatastack("demo", seed=1181, scale=0.1)


def _raw_nucleus(path, version: int = V) -> pd.DataFrame:
    with warehouse.open(path) as wh:
        return wh.con.sql(
            f'SELECT {", ".join(COLUMNS)} FROM raw."{NUCLEUS_TABLE}" WHERE version = ? ORDER BY id',
            params=[version],
        ).df()


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got[COLUMNS].reset_index(drop=True), want[COLUMNS].reset_index(drop=True), check_dtype=False
    )


def test_the_synthetic_table_has_the_real_tables_awkward_rows(ds):
    """Root 0 (a nucleus in no segment) and roots with two nuclei occur in the real table."""
    nuc = ds.base_table(NUCLEUS_TABLE, V).to_pandas()
    assert (nuc.pt_root_id == 0).sum() > 10
    per_root = nuc[nuc.pt_root_id != 0].groupby("pt_root_id").size()
    assert (per_root >= 2).sum() > 5


def test_cave_ingest_through_a_capped_faulty_server_equals_caveclients_own_answer(ds, tmp_path):
    """The nucleus table (940 rows here) through a 150-row cap with 20 % 5xx and 10 % dropped
    connections, against caveclient's own query_table of an uncapped, healthy server."""
    with CaveTestServer(ds, token=TOKEN, row_cap=None) as clean:
        client = CAVEclient(ds.name, server_address=clean.url, auth_token=TOKEN, write_server_cache=False)
        want = client.materialize.query_table(NUCLEUS_TABLE, materialization_version=V, split_positions=True)
    want = want.sort_values("id")
    assert len(want) > 900
    with CaveTestServer(ds, token=TOKEN, row_cap=150, error_rate=0.2, drop_rate=0.1, seed=11) as srv:
        source = CaveSource(
            datastack_config("demo"), server=srv.url, token=TOKEN, retry=RetryPolicy(base_delay=0.01)
        )
        path = tmp_path / "cave.duckdb"
        with warehouse.open_for_datastack(path, "demo") as wh:
            (outcome,) = ingest_version(wh, source, V, IngestOptions(roles=("nucleus",), workers=3))
        stats = srv.stats
    assert outcome.splits > 3 and stats["truncated_responses"] > 3, stats
    assert stats["errors_injected"] + stats["drops_injected"] > 0, stats
    _same(_raw_nucleus(path), want)


def test_dump_of_the_nucleus_table_is_ingested(ds, tmp_path):
    write_datastack_version(ds, V, tmp_path / "dump", roles=["nucleus"])
    assert (tmp_path / "dump" / f"{NUCLEUS_TABLE}.csv.gz").exists()
    path = tmp_path / "dump.duckdb"
    with warehouse.open_for_datastack(path, "demo") as wh:
        (outcome,) = ingest_dump(wh, tmp_path / "dump", V)
    assert outcome.rows == ds.n_nuc
    _same(_raw_nucleus(path), ds.base_table(NUCLEUS_TABLE, V).to_pandas().sort_values("id"))


def test_demo_views_read_the_nucleus_table(demo_ds, demo_wh):
    """stg_nucleus is the generator's table; nucleus_roots covers untyped nuclei too; a proofread
    cell's nucleus id is the smallest nucleus on its root (pandas on the generator's rows)."""
    for v in (1078, 1181, 1300):
        nuc = demo_ds.base_table(NUCLEUS_TABLE, v).to_pandas()
        got = demo_wh.sql(
            "SELECT * FROM stg_nucleus WHERE version = $v ORDER BY nucleus_id", {"v": v}
        ).to_pandas()
        assert (
            got.nucleus_id.tolist() == sorted(nuc.id)
            and got.volume.tolist() == nuc.sort_values("id").volume.tolist()
        )
        roots = demo_wh.sql("SELECT count(*) AS n FROM nucleus_roots WHERE version = $v", {"v": v}).item()
        typed = set(demo_ds.base_table(AUTO_TYPES_TABLE, v)["target_id"].to_pylist()) | set(
            demo_ds.base_table(MANUAL_TYPES_TABLE, v)["target_id"].to_pylist()
        )
        assert roots == len(nuc) > len(typed)

        prf = demo_ds.base_table(PROOFREADING_TABLE, v).to_pandas()
        cells = prf[prf.status_axon == "t"][["pt_root_id"]].drop_duplicates()
        first = nuc[nuc.pt_root_id != 0].groupby("pt_root_id").id.agg(["min", "size"]).reset_index()
        want = cells.merge(first, on="pt_root_id", how="left").sort_values("pt_root_id")
        got = demo_wh.sql(
            "SELECT pt_root_id, nucleus_id, n_nuclei FROM proofread_neurons WHERE version = $v ORDER BY pt_root_id",
            {"v": v},
        ).to_pandas()
        assert got.pt_root_id.tolist() == want.pt_root_id.tolist()
        assert got.nucleus_id.tolist() == want["min"].astype("Int64").tolist()
        assert got.n_nuclei.tolist() == want["size"].fillna(0).astype(int).tolist()


def test_diff_follows_cells_that_have_no_cell_type_row(demo_ds, demo_wh):
    """A proofread cell whose nucleus is in neither cell-type table is matched by its nucleus id,
    not reported as lost and added."""
    v1, v2 = 1078, 1181
    typed = set(demo_ds.base_table(AUTO_TYPES_TABLE, v1)["target_id"].to_pylist()) | set(
        demo_ds.base_table(MANUAL_TYPES_TABLE, v1)["target_id"].to_pylist()
    )

    def proofread_nuclei(v: int) -> dict[int, int]:
        nuc = demo_ds.base_table(NUCLEUS_TABLE, v).to_pandas()
        prf = demo_ds.base_table(PROOFREADING_TABLE, v).to_pandas()
        roots = set(prf.loc[prf.status_axon == "t", "pt_root_id"]) - {0}
        on = nuc[nuc.pt_root_id.isin(roots)]
        on = on[
            on.id == on.groupby("pt_root_id").id.transform("min")
        ]  # a merged root is keyed by its smallest
        return dict(zip(on.id, on.pt_root_id, strict=True))

    a, b = proofread_nuclei(v1), proofread_nuclei(v2)
    untyped = sorted(n for n in set(a) & set(b) if n not in typed)
    assert untyped, "the demo should hold proofread cells without a cell-type row"
    cells = demo_wh.diff(v1, v2).to_pandas().set_index("nucleus_id")
    for n in untyped:
        want = "same root" if a[n] == b[n] else "root changed"
        assert cells.loc[n, "change"] == want, n


def test_mwh_neuron_shows_the_soma_from_the_nucleus_table(demo_ds, demo_db):
    nuc = demo_ds.base_table(NUCLEUS_TABLE, V).to_pandas()
    prf = demo_ds.base_table(PROOFREADING_TABLE, V).to_pandas()
    root = int(prf.loc[prf.status_axon == "t", "pt_root_id"].iloc[0])
    mine = nuc[nuc.pt_root_id == root].sort_values("id").iloc[0]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "warehouse",
            "neuron",
            str(root),
            "-v",
            str(V),
            "--db",
            str(demo_db),
            "--no-report",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"nucleus {int(mine.id)}" in proc.stdout
    assert f"soma volume {mine.volume:,.1f} µm³" in proc.stdout
    with warehouse.open(demo_db) as wh:
        s = wh.neuron(root, V).summary
    assert s["nucleus_volume"] == pytest.approx(mine.volume)
