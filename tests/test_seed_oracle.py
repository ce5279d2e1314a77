"""The views reproduce the notebook exactly: each compared with the notebook's pandas steps run on the
same snapshot's raw rows, at every demo version."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.synthetic import EXAMPLE_ROOT, merged_table
from tests.notebook import ROLES, outputs_of, raw_rows, run_notebook

VERSIONS = (1078, 1181, 1300)


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    """One null marker (None) and object columns, so NaN from pandas and NULL from DuckDB compare equal."""
    return df.astype(object).where(df.notna(), None)


@pytest.fixture(scope="module")
def notebook(demo_db):
    import duckdb

    con = duckdb.connect(str(demo_db), read_only=True)
    out = {}
    for v in VERSIONS:
        rows = {role: raw_rows(con, role, v) for role in ROLES}
        out[v] = (
            rows,
            run_notebook(
                rows["proofreading"], rows["synapses"], rows["cell_types_manual"], rows["cell_types_auto"]
            ),
        )
    con.close()
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_raw_snapshot_holds_exactly_the_source_rows(demo_wh, demo_ds, version):
    """Ingest lost and invented nothing: the raw rows are the generator's rows (synapses: those
    touching a proofread cell, and every synapse of the notebook's example neuron, which the demo
    also takes with --root-ids where it exists)."""
    con = demo_wh.con
    for role, table in ROLES.items():
        expected = merged_table(demo_ds, table, version)
        if role == "synapses":
            prf = merged_table(demo_ds, ROLES["proofreading"], version)
            proofread = prf.filter(pc.equal(prf["status_axon"], "t"))["pt_root_id"]
            cells = pa.concat_arrays([proofread.combine_chunks(), pa.array([EXAMPLE_ROOT], pa.int64())])
            keep = pc.or_(
                pc.is_in(expected["pre_pt_root_id"], cells),
                pc.is_in(expected["post_pt_root_id"], cells),
            )
            expected = expected.filter(keep)
        got = raw_rows(con, role, version).sort_values("id").reset_index(drop=True)
        want = expected.sort_by("id").to_pandas()
        assert list(got.columns) == expected.column_names
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


@pytest.mark.parametrize("version", VERSIONS)
def test_proofread_neurons(demo_wh, notebook, version):
    _, nb = notebook[version]
    view = demo_wh.view("proofread_neurons", version, kind="pandas")
    assert sorted(view["pt_root_id"]) == sorted(nb.proofread["pt_root_id"])
    assert (
        view["strategy_axon"].value_counts().to_dict()
        == nb.proofread["strategy_axon"].value_counts().to_dict()
    )


def test_proofread_figures_at_1181_match_the_notebooks_shape(demo_wh):
    """The demo is built to the notebook's v1181 figures: 1,436 proofread axons, strategies 979/233/144/80."""
    counts = demo_wh.con.execute(
        "SELECT strategy_axon, count(*) FROM proofread_neurons WHERE version = 1181 GROUP BY ALL ORDER BY 2 DESC"
    ).fetchall()
    assert [n for _, n in counts] == [979, 233, 144, 80]


@pytest.mark.parametrize("version", VERSIONS)
def test_proofread_synapses(demo_wh, notebook, version):
    _, nb = notebook[version]
    view = demo_wh.view("proofread_synapses", version, kind="pandas")
    assert len(view) == len(nb.synapses)
    assert set(view["id"]) == set(nb.synapses["id"])
    assert (view["pre_pt_root_id"] != view["post_pt_root_id"]).all()


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_matrix_long_and_wide(demo_wh, notebook, version):
    _, nb = notebook[version]
    con = demo_wh.con
    pairs = demo_wh.view("connectivity_pairs", version, kind="pandas")
    n = len(nb.proofread)
    assert len(pairs) == n * n  # every ordered pair of proofread cells
    wide_long = pairs.pivot(index="pre_pt_root_id", columns="post_pt_root_id", values="connected")
    expected = nb.binary.reindex(index=wide_long.index, columns=wide_long.columns, fill_value=0)
    np.testing.assert_array_equal(wide_long.to_numpy(), expected.to_numpy())
    # the generated wide view, one column per post root id
    wide = con.execute(f"SELECT * FROM connectivity_matrix_{version}()").df().set_index("pre_pt_root_id")
    wide.columns = wide.columns.astype(np.int64)
    wide = wide.reindex(index=wide_long.index, columns=wide_long.columns)
    np.testing.assert_array_equal(wide.to_numpy(), expected.to_numpy())
    assert np.trace(wide.to_numpy()) == 0  # autapses removed


@pytest.mark.parametrize("version", VERSIONS)
def test_cell_types_merge(demo_wh, notebook, version):
    _, nb = notebook[version]
    view = demo_wh.view("cell_types", version, kind="pandas")
    cols = [
        "pt_root_id",
        "nucleus_id_auto",
        "classification_system_auto",
        "cell_type_auto",
        "nucleus_id_manual",
        "classification_system_manual",
        "cell_type_manual",
    ]
    got = view[cols].sort_values("pt_root_id").reset_index(drop=True)
    want = nb.cell_types[cols].sort_values("pt_root_id").reset_index(drop=True)
    assert len(got) == len(want)
    pd.testing.assert_frame_equal(_norm(got), _norm(want))
    assert (got["cell_type_auto"] == "unsure").any() and (got["cell_type_manual"] == "unsure").any()


def test_cell_types_drop_every_copy_of_a_root_with_two_nuclei(demo_wh):
    con = demo_wh.con
    doubled = con.execute(
        "SELECT pt_root_id FROM stg_cell_types_auto WHERE version = 1181 GROUP BY 1 HAVING count(*) > 1"
    ).fetchall()
    assert doubled, "the demo must contain roots with two nuclei"
    ids = [r[0] for r in doubled]
    left = con.execute(
        "SELECT count(*) FROM cell_types WHERE version = 1181 AND nucleus_id_auto IS NOT NULL "
        "AND pt_root_id IN (SELECT unnest(?))",
        [ids],
    ).fetchall()[0][0]
    assert left == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_proofread_cell_types(demo_wh, notebook, version):
    _, nb = notebook[version]
    view = demo_wh.view("proofread_cell_types", version, kind="pandas")
    cols = ["pt_root_id", "cell_type_auto", "cell_type_manual", "nucleus_id_auto", "nucleus_id_manual"]
    got = view[cols].sort_values("pt_root_id").reset_index(drop=True)
    want = nb.proofread_types[cols].sort_values("pt_root_id").reset_index(drop=True)
    assert len(got) == len(nb.proofread)
    pd.testing.assert_frame_equal(_norm(got), _norm(want))


@pytest.mark.parametrize("version", VERSIONS)
def test_partners_of_a_neuron(demo_wh, notebook, version):
    rows, nb = notebook[version]
    con = demo_wh.con
    for root in nb.proofread["pt_root_id"].iloc[[0, 17, 300]]:
        want = outputs_of(rows["synapses"], int(root))
        got = con.execute("SELECT partner_root_id, syn_count FROM partners(?, ?)", [int(root), version]).df()
        assert dict(zip(got["partner_root_id"], got["syn_count"], strict=True)) == want["syn_count"].to_dict()
        assert list(got["syn_count"]) == sorted(got["syn_count"], reverse=True)


def _preferred_types(cell_types: pd.DataFrame) -> dict[int, str]:
    """The notebook's merged table with the warehouse's one cell_type: the manual type where the
    manual table has the root, else the automatic one (both already filled with 'unsure')."""
    manual = cell_types["nucleus_id_manual"].notna()
    preferred = cell_types["cell_type_manual"].where(manual, cell_types["cell_type_auto"])
    return dict(zip(cell_types["pt_root_id"].astype(np.int64), preferred, strict=True))


@pytest.mark.parametrize("version", VERSIONS)
def test_partners_carry_the_notebooks_cell_types(demo_wh, notebook, version):
    """partners types only its partner roots (cell_types_of), not the whole merged view: each
    partner's type must still be what the notebook's full outer merge gives it, or NULL."""
    _, nb = notebook[version]
    types = _preferred_types(nb.cell_types)
    for root in nb.proofread["pt_root_id"].iloc[[0, 17, 300]]:
        for direction in ("output", "input"):
            got = demo_wh.con.execute(
                "SELECT partner_root_id, partner_cell_type FROM partners(?, ?, direction := ?)",
                [int(root), version, direction],
            ).fetchall()
            assert got and any(t is not None for _, t in got)
            assert {r: t for r, t in got} == {r: types.get(r) for r, _ in got}


def test_cell_types_of_a_list_of_roots_is_the_notebooks_merge(demo_wh, notebook):
    """The roots that test the merge: two nuclei on one root (dropped from that table), a root
    only the manual table types, one only the automatic table types, and one in neither."""
    _, nb = notebook[1181]
    con = demo_wh.con
    doubled = [
        r
        for (r,) in con.execute(
            "SELECT pt_root_id FROM stg_cell_types_auto WHERE version = 1181 GROUP BY 1 HAVING count(*) > 1 ORDER BY 1"
        ).fetchall()
    ]
    merged = nb.cell_types
    manual_only = merged.loc[merged["nucleus_id_auto"].isna(), "pt_root_id"].astype(np.int64).iloc[0]
    auto_only = merged.loc[merged["nucleus_id_manual"].isna(), "pt_root_id"].astype(np.int64).iloc[0]
    untyped = con.execute(
        "SELECT pt_root_id FROM stg_nucleus WHERE version = 1181 AND pt_root_id <> 0 "
        "AND pt_root_id NOT IN (SELECT pt_root_id FROM stg_cell_types_auto WHERE version = 1181) "
        "AND pt_root_id NOT IN (SELECT pt_root_id FROM stg_cell_types_manual WHERE version = 1181) LIMIT 1"
    ).fetchall()[0][0]
    roots = [*doubled[:2], int(manual_only), int(auto_only), int(untyped)]
    cols = ["pt_root_id", "nucleus_id_auto", "cell_type_auto", "nucleus_id_manual", "cell_type_manual"]
    got = con.execute(
        f"SELECT {', '.join(cols)}, cell_type, version FROM cell_types_of(1181, ?) ORDER BY pt_root_id",
        [roots],
    ).df()
    want = merged[merged["pt_root_id"].isin(roots)][cols].sort_values("pt_root_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(_norm(got[cols]), _norm(want), check_dtype=False)
    assert set(got["version"]) == {1181}
    assert untyped not in set(got["pt_root_id"])  # in neither table: no row, as in the merge
    types = _preferred_types(merged)
    assert dict(zip(got["pt_root_id"], got["cell_type"], strict=True)) == {
        r: types[r] for r in got["pt_root_id"]
    }
    # A version the file never took is an error naming the command, not an empty answer.
    with pytest.raises(
        duckdb.InvalidInputException, match=r"version 943 has no cell_types_\w+ snapshot.*mwh ingest"
    ):
        con.execute("FROM cell_types_of(943, ?)", [roots]).fetchall()
    # No roots (an empty list, or a NULL one such as list() of nothing) is no rows; v NULL is the view.
    assert con.execute("SELECT count(*) FROM cell_types_of(1181, [])").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM cell_types_of(1181, NULL)").fetchall() == [(0,)]
    assert con.execute(
        "SELECT (SELECT count(*) FROM (FROM cell_types_of(NULL, NULL) EXCEPT ALL FROM cell_types)),"
        " (SELECT count(*) FROM (FROM cell_types EXCEPT ALL FROM cell_types_of(NULL, NULL))),"
        " (SELECT count(*) FROM cell_types)"
    ).fetchall()[0][:2] == (0, 0)


def test_root_ids_change_while_nucleus_ids_stay(demo_wh):
    """Between versions some proofread cells are edited: new root id, same nucleus id."""
    moved = demo_wh.con.execute(
        """
        SELECT count(*) FROM proofread_cell_types a JOIN proofread_cell_types b
          ON a.nucleus_id = b.nucleus_id AND a.version = 1078 AND b.version = 1181
        WHERE a.pt_root_id <> b.pt_root_id
        """
    ).fetchall()[0][0]
    assert moved > 20
