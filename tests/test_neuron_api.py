"""One neuron from the command line and from Python, the Python helpers, and the new reports as real
Altair charts that render offline."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner

import warehouse
from reports.render import render
from tests.handmade import Cell, Nucleus, Synapse, Version, build
from warehouse.cli import cli
from warehouse.errors import WarehouseError

V = 1181
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def busy_root(demo_db) -> int:
    """The proofread neuron with the most output synapses at V (the reports' default neuron)."""
    with warehouse.open(demo_db) as wh:
        from reports.partners import default_root

        return default_root(wh, V)


# ------------------------------------------------------------------ Python
def test_sql_binds_parameters_and_returns_each_kind(demo_wh):
    q = "SELECT version, count(*) AS n FROM proofread_neurons WHERE version >= $v GROUP BY ALL ORDER BY 1"
    frame = demo_wh.sql(q, {"v": V})
    assert isinstance(frame, pl.DataFrame) and frame.rows() == [(1181, 1436), (1300, 1560)]
    assert isinstance(demo_wh.sql(q, {"v": V}, kind="pandas"), pd.DataFrame)
    assert isinstance(demo_wh.sql("SELECT ? AS x", [7], kind="arrow"), pa.Table)
    with pytest.raises(WarehouseError, match="kind must be"):
        demo_wh.sql("SELECT 1", kind="excel")


def test_partners_from_python_match_the_macro_and_check_input(demo_wh, busy_root):
    macro = demo_wh.con.sql("FROM partners(?, ?, direction := 'input')", params=[busy_root, V]).pl()
    mine = demo_wh.partners(str(busy_root), V, "input")
    assert mine.equals(macro)
    assert demo_wh.partners(busy_root, V, top=5, kind="pandas").shape[0] == 5
    with pytest.raises(WarehouseError, match="digits only"):
        demo_wh.partners("864691135808473885; DROP VIEW proofread_neurons", V)
    with pytest.raises(WarehouseError, match="'output' or 'input'"):
        demo_wh.partners(busy_root, V, "sideways")
    with pytest.raises(WarehouseError, match="mwh ingest"):
        demo_wh.partners(busy_root, 943)


def test_neuron_card_from_python(demo_wh, busy_root):
    card = demo_wh.neuron(busy_root, V, top=3)
    assert card.summary["proofread"] and card.outputs.height == 3 and card.inputs.height == 3
    assert card.summary["syn_out"] == demo_wh.partners(busy_root, V)["syn_count"].sum()
    assert set(card.history["version"]) == {1078, 1181, 1300}


@pytest.mark.parametrize("kind", ["arrow", "pandas"])
def test_neuron_card_in_each_kind_of_frame_holds_the_same_rows(demo_wh, busy_root, kind):
    """`mwh neuron` prints from arrow frames (it starts without polars); every kind answers alike."""
    polars_card = demo_wh.neuron(busy_root, V, top=5)
    card = demo_wh.neuron(busy_root, V, top=5, kind=kind)
    assert card.summary == polars_card.summary
    for part in ("outputs", "inputs", "history"):
        frame = getattr(card, part)
        rows = frame.to_pylist() if kind == "arrow" else frame.to_dict("records")
        assert rows == getattr(polars_card, part).to_dicts(), part
    with pytest.raises(WarehouseError, match="kind must be polars, pandas or arrow"):
        demo_wh.neuron(busy_root, V, kind="numpy")


@pytest.mark.parametrize("name", ["degrees", "changes"])
def test_new_reports_are_altair_charts_that_render_offline(demo_wh, name, tmp_path):
    """render() serialises the chart with to_dict and draws the PNG from that spec with vl-convert.

    The other two new reports are drawn by the docs test (cell_type_connectivity saved as PNG, the
    neuron report through render) and by `mwh neuron`; `mwh demo` renders all of them."""
    chart = demo_wh.report(name, V)
    assert isinstance(chart, alt.TopLevelMixin)
    assert chart.to_dict()["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    done = render(chart, tmp_path, f"{name}_v{V}", name, "test", scale=0.5)
    page = done.html.read_text()
    assert "vegaEmbed" in page and "<script src=" not in page  # Vega is inlined: the page works offline
    assert done.png.read_bytes()[:8] == PNG_MAGIC and done.png_width > 100


def test_changes_report_with_a_single_version_says_why(tmp_path):
    one = build(
        tmp_path / "w.duckdb",
        {100: Version([Cell(5)], [Nucleus(1, 5, "BC"), Nucleus(1, 5, "BC", "manual")], [Synapse(1, 5, 6)])},
    )
    with warehouse.open(one) as wh:
        spec = wh.report("changes", 100).to_dict()
    assert "earliest complete version" in json.dumps(spec)


# ------------------------------------------------------------------ the command line
def test_cli_neuron_prints_both_directions_and_renders(demo_db, demo_wh, busy_root, tmp_path):
    res = CliRunner().invoke(
        cli,
        [
            "neuron",
            str(busy_root),
            "--version",
            str(V),
            "--db",
            str(demo_db),
            "--top",
            "4",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    out = res.stdout
    s = demo_wh.neuron(busy_root, V).summary
    assert f"neuron {busy_root} at version {V}" in out
    assert f"{s['syn_in']:,} in from {s['input_partners']:,} partners" in out
    assert f"depth {s['depth_um']:,.1f} µm below the pia" in out
    assert s["neuroglancer_url"] in out
    for direction, head in (("input", "inputs"), ("output", "outputs")):
        block = out.split(f"top 4 {head}", 1)[1].splitlines()[2:6]
        want = demo_wh.partners(busy_root, V, direction, top=4)
        assert [int(line.split()[0]) for line in block] == want["partner_root_id"].to_list()
        assert [int(line.split()[1]) for line in block] == want["syn_count"].to_list()
    assert (tmp_path / f"neuron_{busy_root}_v{V}.html").exists()
    assert (tmp_path / f"neuron_{busy_root}_v{V}.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("bad", ["12x", "1.5", "0", "9223372036854775808", "8.6e17"])
def test_cli_neuron_rejects_what_is_not_a_root_id(demo_db, bad):
    res = CliRunner().invoke(cli, ["neuron", bad, "--version", str(V), "--db", str(demo_db), "--no-report"])
    assert res.exit_code == 2
    assert "root id" in res.stderr and "Traceback" not in res.output


def test_cli_neuron_unknown_root_names_the_cells_root_at_that_version(demo_wh, demo_db):
    moved = demo_wh.sql(
        "SELECT a.pt_root_id AS root_id_v1, b.pt_root_id AS root_id_v2 FROM proofread_nuclei a "
        "JOIN proofread_nuclei b ON b.nucleus_id = a.nucleus_id AND b.version = 1300 "
        "WHERE a.version = 1181 AND a.n_nuclei = 1 AND a.pt_root_id <> b.pt_root_id ORDER BY 1 LIMIT 1"
    ).to_dicts()[0]
    res = CliRunner().invoke(
        cli, ["neuron", str(moved["root_id_v1"]), "--version", "1300", "--db", str(demo_db), "--no-report"]
    )
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"try: mwh neuron {moved['root_id_v2']} --version 1300" in lines[0]


# ------------------------------------------------------------------ the docs' examples run
def test_every_python_example_in_the_docs_runs(demo_db, busy_root, tmp_path, monkeypatch):
    """docs/python.md is run block by block against the demo warehouse, in one namespace."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(
            compile(block.replace('"warehouse.duckdb"', repr(str(demo_db))), "docs/python.md", "exec"),
            namespace,
        )
    assert namespace["root"] == busy_root  # the page's neuron is the demo's busiest, as it says
    assert (tmp_path / "cell_type_connectivity.png").read_bytes()[:8] == PNG_MAGIC
    assert namespace["done"].html.exists() and namespace["d"].counts["root changed"] > 0
