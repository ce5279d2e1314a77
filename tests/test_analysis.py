"""The connectivity views, positions and viewer links, each checked against an independent pandas
computation on the raw rows (demo warehouse) and against hand-built cases with known answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, unquote

import altair as alt
import duckdb
import numpy as np
import pandas as pd
import pytest

import warehouse
from ingest.synthetic import PIA_Y_VOXELS, VOXEL_NM
from tests.handmade import Cell, Nucleus, Synapse, Version, build
from tests.notebook import ROLES, raw_rows
from warehouse.config import datastack_config
from warehouse.errors import WarehouseError
from warehouse.neuron import parse_root_id
from warehouse.sqlfiles import apply_all
from warehouse.store import DuckStore

V = 1181


# ------------------------------------------------------------------ the oracle: pandas on raw rows
@pytest.fixture(scope="module")
def raw(demo_db) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        return {role: raw_rows(con, role, V) for role in ROLES}
    finally:
        con.close()


def proofread_types(raw: dict[str, pd.DataFrame]) -> pd.Series:
    """Merged type per proofread root: manual over automatic, roots with several nuclei dropped."""
    prf = raw["proofreading"]
    roots = pd.Index(prf.loc[prf["status_axon"] == "t", "pt_root_id"].unique())
    manual = raw["cell_types_manual"].drop_duplicates("pt_root_id", keep=False).set_index("pt_root_id")
    auto = raw["cell_types_auto"].drop_duplicates("pt_root_id", keep=False).set_index("pt_root_id")
    types = pd.Series("no type", index=roots, dtype=object)
    in_auto = roots[roots.isin(auto.index)]
    types[in_auto] = auto.loc[in_auto, "cell_type"].fillna("unsure").to_numpy()
    in_manual = roots[roots.isin(manual.index)]
    types[in_manual] = manual.loc[in_manual, "cell_type"].fillna("unsure").to_numpy()
    return types


def connections(raw: dict[str, pd.DataFrame], roots: pd.Index) -> pd.DataFrame:
    syn = raw["synapses"]
    syn = syn[syn["pre_pt_root_id"].isin(roots) & syn["post_pt_root_id"].isin(roots)]
    syn = syn[syn["pre_pt_root_id"] != syn["post_pt_root_id"]]
    return syn.groupby(["pre_pt_root_id", "post_pt_root_id"]).size().rename("syn_count").reset_index()


@pytest.fixture(scope="module")
def oracle(raw):
    types = proofread_types(raw)
    conn = connections(raw, types.index)
    conn["pre_type"] = types[conn["pre_pt_root_id"]].to_numpy()
    conn["post_type"] = types[conn["post_pt_root_id"]].to_numpy()
    return types, conn


# ------------------------------------------------------------------ demo warehouse vs the oracle
def test_connections_and_the_weighted_heatmap_match_pandas(demo_wh, raw, oracle):
    """Connection strength: synapse count and summed size per connected pair, and the weighted
    connectivity report draws exactly those pairs coloured by their synapse count."""
    types, conn = oracle
    syn = raw["synapses"]
    syn = syn[syn["pre_pt_root_id"].isin(types.index) & syn["post_pt_root_id"].isin(types.index)]
    syn = syn[syn["pre_pt_root_id"] != syn["post_pt_root_id"]]
    want = syn.groupby(["pre_pt_root_id", "post_pt_root_id"])["size"].agg(["size", "sum"])
    got = demo_wh.view("connections", V, kind="pandas").set_index(["pre_pt_root_id", "post_pt_root_id"])
    got = got.sort_index()
    assert list(got.index) == list(want.index)
    assert list(got["syn_count"]) == list(want["size"]) and list(got["size_sum"]) == list(want["sum"])
    with alt.data_transformers.disable_max_rows():  # one mark per connected pair: ~47,600
        spec = demo_wh.report("connectivity", V, weighted=True).to_dict()
    layer = spec["layer"][0]
    assert layer["encoding"]["color"]["field"] == "syn_count"
    drawn = pd.DataFrame(spec["datasets"][layer["data"]["name"]])
    assert len(drawn) == len(conn) and drawn["syn_count"].sum() == conn["syn_count"].sum()


def test_cell_type_connectivity_matches_pandas(demo_wh, oracle):
    types, conn = oracle
    n = types.value_counts()
    got = demo_wh.view("cell_type_connectivity", V, kind="pandas").set_index(
        ["pre_cell_type", "post_cell_type"]
    )
    assert len(got) == len(n) ** 2  # every ordered pair of types, connected or not
    per_pair = conn.groupby(["pre_type", "post_type"])["syn_count"].agg(["size", "sum"])
    for (a, b), row in got.iterrows():
        possible = n[a] * (n[b] - 1) if a == b else n[a] * n[b]
        connected, synapses = per_pair.loc[(a, b)] if (a, b) in per_pair.index else (0, 0)
        assert (row.pre_cells, row.post_cells, row.possible_pairs) == (n[a], n[b], possible)
        assert (row.connected_pairs, row.synapses) == (connected, synapses)
        assert row.connection_probability == pytest.approx(connected / possible)
        if connected:
            assert row.mean_synapses_per_connection == pytest.approx(synapses / connected)
        else:
            assert pd.isna(row.mean_synapses_per_connection)
    assert got["connected_pairs"].sum() == len(conn)


def test_neuron_degrees_match_pandas(demo_wh, raw, oracle):
    types, conn = oracle
    got = demo_wh.view("neuron_degrees", V, kind="pandas").set_index("pt_root_id").sort_index()
    assert list(got.index) == sorted(types.index)
    want = pd.DataFrame(index=got.index)
    want["cell_type"] = types[want.index]
    want["out_degree"] = conn.groupby("pre_pt_root_id").size()
    want["in_degree"] = conn.groupby("post_pt_root_id").size()
    want["syn_out"] = conn.groupby("pre_pt_root_id")["syn_count"].sum()
    want["syn_in"] = conn.groupby("post_pt_root_id")["syn_count"].sum()
    edges = set(zip(conn["pre_pt_root_id"], conn["post_pt_root_id"], strict=True))
    mutual = pd.Series([a for a, b in edges if (b, a) in edges])
    want["reciprocal_partners"] = mutual.value_counts()
    syn = raw["synapses"]
    syn = syn[syn["pre_pt_root_id"] != syn["post_pt_root_id"]]
    want["syn_out_all"] = syn.groupby("pre_pt_root_id").size()
    want["syn_in_all"] = syn.groupby("post_pt_root_id").size()
    want = want.fillna(0)
    for col in want.columns:
        assert list(got[col]) == list(want[col].astype(got[col].dtype)), col


def test_reciprocity_matches_pandas(demo_wh, oracle):
    types, conn = oracle
    edges = set(zip(conn["pre_pt_root_id"], conn["post_pt_root_id"], strict=True))
    mutual = sorted((a, b) for a, b in edges if a < b and (b, a) in edges)
    pairs = demo_wh.view("reciprocal_pairs", V, kind="pandas").sort_values(["root_id_a", "root_id_b"])
    assert list(zip(pairs["root_id_a"], pairs["root_id_b"], strict=True)) == mutual
    syn = conn.set_index(["pre_pt_root_id", "post_pt_root_id"])["syn_count"]
    assert list(pairs["syn_a_to_b"]) == [syn[p] for p in mutual]
    assert list(pairs["syn_b_to_a"]) == [syn[(b, a)] for a, b in mutual]
    assert list(pairs["cell_type_a"]) == [types[a] for a, _ in mutual]

    n = len(types)
    p = len(edges) / (n * (n - 1))
    r = demo_wh.view("reciprocity", V, kind="pandas").iloc[0]
    assert (r.cells, r.connected_pairs, r.reciprocal_pairs) == (n, len(edges), len(mutual))
    assert r.connection_density == pytest.approx(p)
    assert r.reciprocity == pytest.approx(len(mutual) / (n * (n - 1) / 2))
    assert r.expected_reciprocity_independent == pytest.approx(p**2)
    assert r.fraction_reciprocated == pytest.approx(2 * len(mutual) / len(edges))
    # By type, the other way round: P(A->B) as a type x type matrix, then the sum over all
    # unordered pairs of cells of P(a->b) P(b->a), from the type counts c: (c' M c - sum c_t M_tt) / 2.
    names = sorted(types.unique())
    c = types.value_counts().reindex(names).to_numpy(dtype=float)
    possible = np.outer(c, c) - np.diag(c)
    counts = (
        conn.groupby(["pre_type", "post_type"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=names, columns=names, fill_value=0)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.where(possible > 0, counts.to_numpy() / possible, 0.0)
    m = prob * prob.T
    expected_pairs = (c @ m @ c - (c * np.diag(m)).sum()) / 2
    assert r.expected_reciprocity_by_type == pytest.approx(expected_pairs / (n * (n - 1) / 2))
    assert r.ratio_by_type > 1  # the demo's connectivity is type- and distance-dependent: more than chance


def test_synapse_positions_in_micrometres(demo_wh, raw):
    syn = raw["synapses"].set_index("id").sort_index()
    got = demo_wh.sql(
        "SELECT id, ctr_x_um, ctr_y_um, ctr_z_um, depth_um FROM synapse_positions WHERE version = $v",
        {"v": V},
        kind="pandas",
    )
    got = got.set_index("id").sort_index()
    assert list(got.index) == list(syn.index)
    for i, axis in enumerate("xyz"):
        want = syn[f"ctr_pt_position_{axis}"] * VOXEL_NM[i] / 1000
        np.testing.assert_allclose(got[f"ctr_{axis}_um"], want)
    np.testing.assert_allclose(
        got["depth_um"], (syn["ctr_pt_position_y"] - PIA_Y_VOXELS) * VOXEL_NM[1] / 1000
    )


def _state(url: str, site: str) -> dict:
    """The JSON state in a link, after checking the link is the site plus a percent-encoded fragment."""
    assert url.startswith(site.rstrip("/") + "/#!")
    fragment = url.split("#!", 1)[1]
    text = unquote(fragment)
    assert quote(text, safe="") == fragment  # percent-encoded exactly like urllib does, nothing raw
    return json.loads(text)


def test_neuroglancer_links_point_at_the_cell_and_the_synapse(demo_wh, raw):
    cfg = datastack_config("demo")
    prf = raw["proofreading"].set_index("pt_root_id")
    cells = demo_wh.sql(
        "SELECT pt_root_id, neuroglancer_url FROM proofread_neurons WHERE version = $v ORDER BY id",
        {"v": V},
    )
    assert cells.height > 100  # every cell: the link is a template the root and position go into
    for root, url in cells.iter_rows():
        state = _state(url, cfg.viewer_site)
        seg = [layer for layer in state["layers"] if layer["name"] == "seg"][0]
        assert seg["segments"] == [str(root)]  # a string: JavaScript numbers cannot hold 64-bit ids
        assert seg["source"] == cfg.extra["segmentation_source"]
        assert seg["type"] == "segmentation_with_graph"  # neuvue runs the Seung-lab fork; graphene source
        pos = state["navigation"]["pose"]["position"]
        assert pos["voxelCoordinates"] == [int(prf.loc[root, f"pt_position_{a}"]) for a in "xyz"]
        assert pos["voxelSize"] == list(VOXEL_NM)
        assert [x["source"] for x in state["layers"] if x["type"] == "image"] == [cfg.extra["image_source"]]
    syn = raw["synapses"].iloc[0]
    url = demo_wh.sql(
        "SELECT neuroglancer_url FROM synapse_positions WHERE version = $v AND id = $id",
        {"v": V, "id": int(syn.id)},
    ).item()
    state = _state(url, cfg.viewer_site)
    assert state["layers"][-1]["segments"] == [
        str(r) for r in (syn.pre_pt_root_id, syn.post_pt_root_id) if r != 0
    ]
    assert state["navigation"]["pose"]["position"]["voxelCoordinates"] == [
        int(syn[f"ctr_pt_position_{a}"]) for a in "xyz"
    ]


def test_neuroglancer_links_without_a_root_or_a_position(demo_wh):
    """Root 0 selects no segment, a NULL coordinate is null in the state, other numbers are kept."""
    cfg = datastack_config("demo")
    for args, segments, position in (
        ("0, 1, 2, 3", [], [1, 2, 3]),
        ("NULL, 1, 2, 3", [], [1, 2, 3]),
        ("42, NULL, 2, 3", ["42"], [None, 2, 3]),
        ("42, 1.5, -2, 3", ["42"], [1.5, -2, 3]),
    ):
        state = _state(demo_wh.sql(f"SELECT neuroglancer_url({args})").item(), cfg.viewer_site)
        assert state["layers"][-1]["segments"] == segments, args
        assert state["navigation"]["pose"]["position"]["voxelCoordinates"] == position, args


def test_neuron_summary_matches_raw_rows(demo_wh, raw, oracle):
    types, conn = oracle
    syn = raw["synapses"]
    prf = raw["proofreading"].set_index("pt_root_id")
    nuclei = raw["nucleus"].rename(columns={"id": "target_id"})  # the nucleus table itself
    root = int(conn["pre_pt_root_id"].iloc[0])
    outside = (
        (syn["pre_pt_root_id"] == root)
        & ~syn["post_pt_root_id"].isin(types.index)
        & (syn["post_pt_root_id"] != 0)
    )
    partner = int(syn.loc[outside, "post_pt_root_id"].iloc[0])
    # A partner outside the proofread cells: the file holds only its synapses with proofread cells,
    # so its summary is refused rather than counted from part of them (issue 11).
    with pytest.raises(duckdb.InvalidInputException, match=f"only part of the synapses of root id {partner}"):
        demo_wh.sql("FROM neuron_summary($r, $v)", {"r": partner, "v": V})
    for r in (root,):
        s = demo_wh.sql("FROM neuron_summary($r, $v)", {"r": r, "v": V}).to_dicts()[0]
        outs, ins = syn[syn["pre_pt_root_id"] == r], syn[syn["post_pt_root_id"] == r]
        assert (s["syn_out"], s["syn_in"]) == (len(outs), len(ins))
        assert (s["output_partners"], s["input_partners"]) == (
            outs["post_pt_root_id"].nunique(),
            ins["pre_pt_root_id"].nunique(),
        )
        mine = nuclei[nuclei["pt_root_id"] == r]
        assert s["nucleus_id"] == (mine["target_id"].min() if len(mine) else None)
        assert s["proofread"] == (r in types.index)
        if s["proofread"]:
            assert (s["cell_type"] or "no type") == types[r]  # None where the root has several nuclei
            y = prf.loc[r, "pt_position_y"]
            assert s["depth_um"] == pytest.approx((y - PIA_Y_VOXELS) * VOXEL_NM[1] / 1000)
            assert s["x_um"] == pytest.approx(prf.loc[r, "pt_position_x"] * VOXEL_NM[0] / 1000)


# ------------------------------------------------------------------ a hand-built 3-neuron motif
A, B, C, X = 1001, 1002, 1003, 1009  # A, B, C proofread; X is not


@pytest.fixture(scope="module")
def motif(tmp_path_factory) -> Path:
    """A <-> B reciprocal, B -> C -> A, an autapse on A, A -> X, X -> B, A -> an unsegmented piece (0).

    A is 23P (manual and automatic table), B is BC (automatic), C has no nucleus ('no type').
    """
    syn = [(A, B), (A, B), (B, A), (B, C), (B, C), (B, C), (C, A), (A, A), (A, X), (X, B), (X, B), (A, 0)]
    v = Version(
        cells=[
            Cell(A, (100_000, 70_000, 20_000)),
            Cell(B),
            Cell(C, (120_000, 90_000, 21_000)),
            Cell(1007, status_axon="f"),
        ],
        nuclei=[
            Nucleus(11, A, "23P", "manual"),
            Nucleus(11, A, "23P"),
            Nucleus(12, B, "BC"),
            Nucleus(19, X, "23P", xyz=(150_000, 110_000, 22_000)),
        ],
        synapses=[Synapse(i + 1, pre, post) for i, (pre, post) in enumerate(syn)],
    )
    return build(tmp_path_factory.mktemp("motif") / "w.duckdb", {100: v})


def test_motif_connections_degrees_and_reciprocity(motif):
    with warehouse.open(motif) as wh:
        conn = wh.sql(
            "SELECT pre_pt_root_id, post_pt_root_id, syn_count FROM connections ORDER BY ALL"
        ).rows()
        assert conn == [(A, B, 2), (B, A, 1), (B, C, 3), (C, A, 1)]
        deg = {
            r[0]: r[1:]
            for r in wh.sql(
                "SELECT pt_root_id, cell_type, out_degree, in_degree, syn_out, syn_in, reciprocal_partners, "
                "syn_out_all, syn_in_all FROM neuron_degrees WHERE version = 100"
            ).rows()
        }
        assert deg == {
            A: (
                "23P",
                1,
                2,
                2,
                2,
                1,
                4,
                2,
            ),  # out_all: 2 to B, 1 to X, 1 to root 0; the autapse is not counted
            B: ("BC", 2, 1, 4, 2, 1, 4, 4),
            C: ("no type", 1, 1, 1, 3, 0, 1, 3),
        }
        assert wh.sql("FROM reciprocal_pairs").rows() == [(100, A, B, "23P", "BC", 2, 1)]
        r = wh.sql("FROM reciprocity").to_dicts()[0]
        assert (r["cells"], r["possible_ordered_pairs"], r["connected_pairs"], r["reciprocal_pairs"]) == (
            3,
            6,
            4,
            1,
        )
        assert r["reciprocity"] == pytest.approx(1 / 3)
        assert r["expected_reciprocity_independent"] == pytest.approx((4 / 6) ** 2)
        assert r["ratio_independent"] == pytest.approx(0.75)
        # by type: only 23P <-> BC can be reciprocal (p = 1 both ways); BC -> no type has no way back
        assert r["expected_reciprocity_by_type"] == pytest.approx(1 / 3)
        assert r["ratio_by_type"] == pytest.approx(1.0)
        assert r["fraction_reciprocated"] == pytest.approx(0.5)


def test_motif_cell_type_connectivity_excludes_self_pairs(motif):
    with warehouse.open(motif) as wh:
        rows = {
            (r["pre_cell_type"], r["post_cell_type"]): r
            for r in wh.sql("FROM cell_type_connectivity WHERE version = 100").to_dicts()
        }
        assert len(rows) == 9
        same = rows[("23P", "23P")]  # one 23P cell: no pair of distinct 23P cells exists
        assert (same["possible_pairs"], same["connected_pairs"], same["connection_probability"]) == (
            0,
            0,
            None,
        )
        ab = rows[("23P", "BC")]
        assert (ab["possible_pairs"], ab["connected_pairs"], ab["synapses"]) == (1, 1, 2)
        assert (ab["connection_probability"], ab["mean_synapses_per_connection"]) == (1.0, 2.0)
        assert rows[("BC", "no type")]["synapses"] == 3
        assert rows[("no type", "BC")]["connection_probability"] == 0.0


def test_motif_partners_and_summary(motif):
    with warehouse.open(motif) as wh:
        outs = wh.partners(A, 100).select(
            "partner_root_id", "syn_count", "partner_cell_type", "partner_proofread"
        )
        assert outs.rows() == [
            (B, 2, "BC", True),
            (0, 1, None, False),
            (A, 1, "23P", True),
            (X, 1, "23P", False),
        ]
        ins = wh.partners(str(B), 100, "input")
        assert ins.select("partner_root_id", "syn_count").rows() == [(A, 2), (X, 2)]
        s = wh.sql("FROM neuron_summary($r, 100)", {"r": A}).to_dicts()[0]
        assert (s["proofread"], s["cell_type"], s["nucleus_id"], s["n_nuclei"]) == (True, "23P", 11, 1)
        assert (s["syn_out"], s["output_partners"], s["syn_in"], s["input_partners"], s["autapses"]) == (
            5,
            4,
            3,
            3,
            1,
        )
        assert (s["x_um"], s["y_um"], s["z_um"]) == pytest.approx((400.0, 280.0, 800.0))
        assert s["depth_um"] == pytest.approx(40.0)  # (70,000 - 60,000) voxels x 4 nm
        # X is not proofread: the file holds only its synapses with A, B and C, so neither its
        # summary nor its partners are answered from part of them (issue 11)
        with pytest.raises(duckdb.InvalidInputException, match=f"only part of the synapses of root id {X}"):
            wh.sql("FROM neuron_summary($r, 100)", {"r": X})
        with pytest.raises(warehouse.WarehouseError, match=f"--root-ids {X}"):
            wh.partners(X, 100)
        c = wh.sql("FROM neuron_summary($r, 100)", {"r": C}).to_dicts()[0]
        assert (c["cell_type"], c["nucleus_id"], c["n_nuclei"], c["x_um"]) == (
            None,
            None,
            0,
            pytest.approx(480.0),
        )


def test_neuroglancer_dialects_and_missing_source(motif, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copy(motif, path)
    con = duckdb.connect(str(path))
    cfg = datastack_config("demo")
    try:
        # The settings are written into the macros when the SQL is applied, so a changed setting
        # takes effect when the SQL is applied again.
        con.execute("UPDATE meta.datastack SET viewer_site = 'https://spelunker.cave-explorer.org/'")
        apply_all(con, DuckStore(con, cfg).relations())
        url = con.execute("SELECT neuroglancer_synapse_url(?, 0, 1, 2, 3)", [A]).fetchall()[0][0]
        state = _state(url, "https://spelunker.cave-explorer.org")
        assert state["dimensions"] == {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]}
        assert state["position"] == [1, 2, 3]
        assert state["layers"][-1] == {
            "type": "segmentation",
            "source": cfg.extra["segmentation_source"],
            "segments": [str(A)],
            "name": "seg",
        }
        con.execute("UPDATE meta.warehouse SET value = '' WHERE key = 'segmentation_source'")
        apply_all(con, DuckStore(con, cfg).relations())
        assert con.execute("SELECT neuroglancer_url(?, 1, 2, 3)", [A]).fetchall() == [(None,)]
    finally:
        con.close()


# ------------------------------------------------------------------ root ids, the stock shell
@pytest.mark.parametrize(
    "value, fragment",
    [
        ("12x", "digits only"),
        ("-5", "digits only"),
        ("1e18", "digits only"),
        (0, "out of range"),
        (2**63, "out of range"),
        ("99999999999999999999", "out of range"),
        (1.5e17, "not float"),
        (True, "not bool"),
    ],
)
def test_root_ids_are_validated(value, fragment):
    with pytest.raises(WarehouseError, match=fragment):
        parse_root_id(value)


def test_root_ids_accept_int_text_and_numpy():
    assert (
        parse_root_id(" 864691135808473885 ")
        == parse_root_id(np.int64(864691135808473885))
        == 864691135808473885
    )
    assert parse_root_id(2**63 - 1) == 2**63 - 1


def test_macros_work_in_the_stock_duckdb_shell(demo_db, demo_wh):
    shell = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    assert shell, "the duckdb shell comes with the test extras (duckdb-cli)"
    queries = [
        "SELECT count(*) FROM proofread_changes(1078, 1181) WHERE change = 'root changed'",
        "SELECT neuroglancer_url(pt_root_id, pt_position_x, pt_position_y, pt_position_z) "
        "FROM proofread_neurons WHERE version = 1181 ORDER BY id LIMIT 1",
        "SELECT sum(syn_count) FROM partners((SELECT min(pt_root_id) FROM proofread_neurons WHERE version = 1181), 1181)",
    ]
    # one shell, one statement per line of output (list mode, no header)
    out = subprocess.run(
        [shell, "-readonly", "-noheader", "-list", str(demo_db), "-c", "; ".join(queries)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    for q, got in zip(queries, out.stdout.strip().splitlines(), strict=True):
        want = demo_wh.sql(q).item()
        assert (float(got) == pytest.approx(want)) if isinstance(want, float) else got == str(want), q
