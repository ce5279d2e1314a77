"""Versions over time: proofread cells matched across versions by root id, then nucleus id, checked
against a pandas re-implementation on the raw rows of the demo, and on a hand-built pair of versions
where every kind of change happens once."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

import warehouse
from tests.handmade import Cell, Nucleus, Synapse, Version, build
from tests.notebook import ROLES, raw_rows
from warehouse.cli import cli
from warehouse.diff import compare

V1, V2 = 1078, 1181


def _cells(rows: dict[str, pd.DataFrame]) -> dict[int, int | None]:
    """Proofread root -> smallest nucleus id on it (None without one), from the raw nucleus rows."""
    prf = rows["proofreading"]
    roots = set(prf.loc[prf["status_axon"] == "t", "pt_root_id"])
    nuc = rows["nucleus"].rename(columns={"id": "target_id"})[["target_id", "pt_root_id"]]
    key = (
        nuc[nuc["pt_root_id"].isin(roots) & (nuc["pt_root_id"] != 0)].groupby("pt_root_id")["target_id"].min()
    )
    return {int(r): (int(key[r]) if r in key.index else None) for r in roots}


def oracle_changes(rows1: dict, rows2: dict) -> pd.DataFrame:
    """The same rule as the macro, written as loops over dictionaries."""
    a, b = _cells(rows1), _cells(rows2)
    pairs = {r: r for r in a if r in b}
    free_b = {k: r for r, k in b.items() if r not in pairs.values() and k is not None}
    for r, k in a.items():
        if r not in pairs and k is not None and k in free_b:
            pairs[r] = free_b[k]
    out = [(r1, r2, "same root" if r1 == r2 else "root changed") for r1, r2 in pairs.items()]
    out += [(r, None, "lost") for r in a if r not in pairs]
    out += [(None, r, "added") for r in b if r not in pairs.values()]

    def per_root(rows: dict) -> tuple[pd.Series, pd.Series]:
        syn = rows["synapses"]
        syn = syn[syn["pre_pt_root_id"] != syn["post_pt_root_id"]]
        return syn.groupby("post_pt_root_id").size(), syn.groupby("pre_pt_root_id").size()

    (in_1, out_1), (in_2, out_2) = per_root(rows1), per_root(rows2)

    def counts(ins: pd.Series, outs: pd.Series, root: int | None) -> tuple:
        return (None, None) if root is None else (int(ins.get(root, 0)), int(outs.get(root, 0)))

    records = []
    for r1, r2, change in out:
        (in1, out1), (in2, out2) = counts(in_1, out_1, r1), counts(in_2, out_2, r2)
        key = a.get(r1) if r1 is not None else b.get(r2)
        records.append((key, change, r1, r2, in1, in2, out1, out2))
    cols = [
        "nucleus_id",
        "change",
        "root_id_v1",
        "root_id_v2",
        "syn_in_v1",
        "syn_in_v2",
        "syn_out_v1",
        "syn_out_v2",
    ]
    return pd.DataFrame(records, columns=cols)


def _norm(frame: pd.DataFrame) -> list[tuple]:
    frame = frame.astype(object).where(frame.notna(), None)
    return sorted(map(tuple, frame.itertuples(index=False)), key=repr)


def test_demo_diff_matches_pandas(demo_db, demo_wh):
    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        rows1 = {role: raw_rows(con, role, V1) for role in ROLES}
        rows2 = {role: raw_rows(con, role, V2) for role in ROLES}
    finally:
        con.close()
    want = oracle_changes(rows1, rows2)
    got = demo_wh.diff(V1, V2, kind="pandas")[list(want.columns)]
    assert _norm(got) == _norm(want)
    changes = got["change"].value_counts()
    # the generator re-roots about 8% of proofread cells per version and grows the proofread set
    assert changes["root changed"] > 0.05 * len(rows1["proofreading"]) and changes["added"] > 100


def test_demo_diff_counts_and_summary(demo_wh):
    d = compare(demo_wh, V1, V2)
    n1 = demo_wh.sql("SELECT count(*) FROM proofread_neurons WHERE version = $v", {"v": V1}).item()
    n2 = demo_wh.sql("SELECT count(*) FROM proofread_neurons WHERE version = $v", {"v": V2}).item()
    assert d.proofread == (n1, n2)
    assert sum(d.counts.values()) == d.cells.height
    assert d.summary().startswith(f"version {V1} -> {V2}: {n1:,} -> {n2:,} proofread cells")
    assert d.notes == ["6 cell(s) sit on a root id with several nuclei; they are keyed by the smallest"]


# ------------------------------------------------------------------ every kind of change, by hand
P, Q, R, S, T, M, N = 2001, 2002, 2003, 2004, 2005, 2006, 2007


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> Path:
    """v100 -> v200: P kept; Q edited (new root 2102, more synapses); R no longer proofread; S (no
    nucleus) kept by root; T (no nucleus) edited, so it cannot be followed; M (two nuclei 26, 27)
    edited; N (nucleus 28, there at v100) newly proofread; U (nucleus 29) new at v200."""
    v100 = Version(
        cells=[Cell(P), Cell(Q), Cell(R), Cell(S), Cell(T), Cell(M)],
        nuclei=[
            Nucleus(21, P, "23P"),
            Nucleus(22, Q, "BC"),
            Nucleus(23, R, "4P"),
            Nucleus(26, M, "23P"),
            Nucleus(27, M, "MC", "manual"),
            Nucleus(28, N, "6P-IT"),
        ],
        synapses=[Synapse(1, Q, P), Synapse(2, Q, P), Synapse(3, P, Q), Synapse(4, R, P)],
    )
    v200 = Version(
        cells=[
            Cell(P),
            Cell(2102),
            Cell(R, status_axon="f"),
            Cell(S),
            Cell(2105),
            Cell(2106),
            Cell(N),
            Cell(2109),
        ],
        nuclei=[
            Nucleus(21, P, "23P"),
            Nucleus(22, 2102, "BC"),
            Nucleus(23, R, "4P"),
            Nucleus(26, 2106, "23P"),
            Nucleus(27, 2106, "MC", "manual"),
            Nucleus(28, N, "6P-IT"),
            Nucleus(29, 2109, "BC"),
        ],
        synapses=[
            Synapse(1, 2102, P),
            Synapse(2, 2102, P),
            Synapse(3, P, 2102),
            Synapse(4, R, P),
            Synapse(5, 2102, P),
            Synapse(6, 3000, 2102),
            Synapse(7, 3000, 2102),
        ],
    )
    return build(tmp_path_factory.mktemp("diff") / "w.duckdb", {100: v100, 200: v200})


COLUMNS = "nucleus_id, change, root_id_v1, root_id_v2, nucleus_root_v1, nucleus_root_v2, several_nuclei"
EXPECTED = {
    (21, "same root", P, P, P, P, False),
    (22, "root changed", Q, 2102, Q, 2102, False),
    (23, "lost", R, None, R, R, False),
    (None, "same root", S, S, None, None, False),
    (None, "lost", T, None, None, None, False),
    (None, "added", None, 2105, None, None, False),
    (26, "root changed", M, 2106, M, 2106, True),
    (28, "added", None, N, N, N, False),
    (29, "added", None, 2109, None, 2109, False),
}


def test_hand_built_changes(two_versions):
    with warehouse.open(two_versions) as wh:
        rows = wh.sql(f"SELECT {COLUMNS} FROM proofread_changes(100, 200)").rows()
        assert set(rows) == EXPECTED and len(rows) == len(EXPECTED)
        q = wh.sql("FROM proofread_changes(100, 200) WHERE nucleus_id = 22").to_dicts()[0]
        assert (q["syn_in_v1"], q["syn_in_v2"], q["syn_in_change"]) == (1, 3, 2)
        assert (q["syn_out_v1"], q["syn_out_v2"], q["syn_out_change"]) == (2, 3, 1)
        assert (q["syn_in_proofread_v1"], q["syn_in_proofread_v2"]) == (1, 1)  # 3000 is not proofread
        assert q["cell_type"] == "BC"
        back = wh.sql(f"SELECT {COLUMNS} FROM proofread_changes(200, 100)").rows()
        swap = {"added": "lost", "lost": "added"}
        assert set(back) == {
            (k, swap.get(c, c), r2, r1, n2, n1, sev) for k, c, r1, r2, n1, n2, sev in EXPECTED
        }
        d = compare(wh, 100, 200)
        assert d.counts == {"same root": 2, "root changed": 2, "added": 3, "lost": 2}
        assert d.proofread == (6, 7)
        assert any("several nuclei" in note for note in d.notes)


def test_root_history_follows_the_nucleus(two_versions):
    with warehouse.open(two_versions) as wh:
        assert wh.sql(
            "SELECT version, nucleus_id, pt_root_id, same_root, proofread FROM root_history($r)", {"r": Q}
        ).rows() == [
            (100, 22, Q, True, True),
            (200, 22, 2102, False, True),
        ]
        assert wh.sql("SELECT count(*) FROM root_history($r)", {"r": S}).item() == 0  # no nucleus: no history


def test_diff_of_an_unsnapshotted_version_names_the_fix(two_versions):
    with warehouse.open(two_versions) as wh, pytest.raises(warehouse.WarehouseError, match="mwh ingest"):
        compare(wh, 100, 300)


# ------------------------------------------------------------------ the command line
def test_cli_diff_lists_changes_and_writes_csv(two_versions, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["diff", "100", "200", "--db", str(two_versions), "-f", "csv"])
    assert res.exit_code == 0, res.output
    assert (
        "version 100 -> 200: 6 -> 7 proofread cells; 2 same root, 2 root changed, 3 added, 2 lost"
        in res.stderr
    )
    listed = pd.read_csv(io.StringIO(res.stdout))
    assert sorted(listed["change"]) == sorted(["root changed"] * 2 + ["added"] * 3 + ["lost"] * 2)
    out = tmp_path / "lost.csv"
    res = runner.invoke(
        cli, ["diff", "100", "200", "--db", str(two_versions), "--only", "lost", "-f", "csv", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert sorted(pd.read_csv(out)["root_id_v1"]) == [R, T]
    table = runner.invoke(cli, ["diff", "100", "200", "--db", str(two_versions), "--only", "all"])
    assert table.exit_code == 0 and str(2102) in table.stdout and "same root" in table.stdout


def test_cli_diff_errors_are_one_line(two_versions):
    res = CliRunner().invoke(cli, ["diff", "100", "300", "--db", str(two_versions)])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "run: mwh ingest --datastack demo --version 300" in lines[0]
    res = CliRunner().invoke(cli, ["diff", "100", "x", "--db", str(two_versions)])
    assert res.exit_code == 2 and "V2" in res.stderr
