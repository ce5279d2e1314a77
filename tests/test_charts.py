"""The report charts say what a scientist needs, checked on their real Vega-Lite specs from the demo warehouse.

Expectations are worked out here from the warehouse's views (counts, types, proofread status), never copied
from what the chart code produced; only documented parameters (the small-sample threshold) are imported.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import pytest

import reports
from reports import cell_type_connectivity
from reports.publish import publish

V = 1181

# Channels whose title a reader sees (axes and legends); positional helpers like x2 and text have none.
_TITLED = ("x", "y", "color", "fill", "stroke", "opacity", "fillOpacity", "strokeOpacity", "size", "shape")


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    with alt.data_transformers.disable_max_rows():
        return chart.to_dict()


def _units(spec: dict[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]]:
    """Every single-mark view: (unit spec, its data rows, its encoding with what layers inherit)."""
    datasets = spec.get("datasets", {})

    def rows(data: dict[str, Any] | None) -> list[dict[str, Any]]:
        if not data:
            return []
        return data["values"] if "values" in data else datasets.get(data.get("name"), [])

    def walk(node: dict[str, Any], data: list[dict[str, Any]], enc: dict[str, Any]):
        data = rows(node["data"]) if "data" in node else data
        enc = {**enc, **node.get("encoding", {})}
        if "mark" in node:
            yield node, data, enc
        for key in ("layer", "hconcat", "vconcat", "concat"):
            for child in node.get(key, []):
                yield from walk(child, data, enc)

    yield from walk(spec, [], {})


def _mark(unit: dict[str, Any]) -> str:
    mark = unit["mark"]
    return mark["type"] if isinstance(mark, dict) else mark


def _titles(spec: Any) -> Iterator[str]:
    """Every title and subtitle anywhere in the spec (chart, axis, legend, encoding, tooltip)."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("title", "subtitle") and value is not None:
                if isinstance(value, dict):
                    yield from _titles(value)
                    if "text" in value:
                        yield from (value["text"] if isinstance(value["text"], list) else [value["text"]])
                else:
                    yield from (value if isinstance(value, list) else [value])
            elif key not in ("datasets", "data"):
                yield from _titles(value)
    elif isinstance(spec, list):
        for item in spec:
            yield from _titles(item)


def _all_charts(wh) -> dict[str, alt.TopLevelMixin]:
    charts = {name: reports.build(wh, name, V) for name in reports.REPORTS}
    charts["connectivity_weighted"] = reports.build(wh, "connectivity", V, weighted=True)
    return charts


@pytest.fixture(scope="module")
def specs(demo_db: Path) -> dict[str, dict[str, Any]]:
    import warehouse

    with warehouse.open(demo_db) as wh:
        return {name: _spec(chart) for name, chart in _all_charts(wh).items()}


@pytest.fixture(scope="module")
def proofread_types(demo_db: Path) -> pl.DataFrame:
    """Each proofread cell's type at V as the reports should see it ('no type' where there is none)."""
    import warehouse

    with warehouse.open(demo_db) as wh:
        return wh.con.sql(
            "SELECT DISTINCT pt_root_id, coalesce(cell_type, 'no type') AS cell_type "
            "FROM proofread_cell_types WHERE version = ?",
            params=[V],
        ).pl()


# --- words, not column names; µm, not um -----------------------------------------------------------------


def test_every_shown_field_has_a_title_in_words(specs: dict[str, dict[str, Any]]) -> None:
    problems = []
    for report, spec in specs.items():
        for unit, _, enc in _units(spec):
            shown = [(ch, enc[ch]) for ch in _TITLED if isinstance(enc.get(ch), dict)]
            tips = enc.get("tooltip", [])
            shown += [
                ("tooltip", t) for t in (tips if isinstance(tips, list) else [tips]) if isinstance(t, dict)
            ]
            for channel, definition in shown:
                field = definition.get("field")
                if field is None or definition.get("scale", {}) is None:
                    continue  # a constant, or raw pixel positions (no axis is drawn for those)
                if definition.get("axis", {}) is None or definition.get("legend", {}) is None:
                    continue
                if "title" not in definition:
                    problems.append(f"{report} {_mark(unit)} {channel}: field {field!r} shown by its name")
                    continue
                title = definition["title"]  # None: deliberately no title (e.g. bars labelled in words)
                if title is not None and (not isinstance(title, str) or "_" in title):
                    problems.append(f"{report} {_mark(unit)} {channel}: field {field!r}, title {title!r}")
    assert problems == [], "\n".join(problems)


def test_titles_write_micrometres_as_um_sign(specs: dict[str, dict[str, Any]], demo_wh) -> None:
    depth_shown = False
    for report, spec in specs.items():
        for title in _titles(spec):
            assert not re.search(r"\bum\b", title), f"{report}: {title!r}"
            depth_shown |= "µm" in title
    # The neuron card's title carries its depth, so the check above saw a real micrometre value.
    assert depth_shown
    for module in reports.REPORTS.values():
        assert not re.search(r"\bum\b", module.description(V)), module.NAME


# --- one colour per cell type -------------------------------------------------------------------------


def _type_colours(spec: dict[str, Any]) -> dict[str, str]:
    """type -> colour from every colour scale over a cell-type field; a scale without a range fails."""
    found: dict[str, str] = {}
    for _, _, enc in _units(spec):
        for channel in ("color", "fill", "stroke"):
            definition = enc.get(channel)
            if not isinstance(definition, dict) or definition.get("field") != "cell_type":
                continue
            scale = definition.get("scale") or {}
            assert "range" in scale and "domain" in scale, (
                f"{channel} scale leaves colours to a scheme: {scale}"
            )
            assert len(scale["domain"]) == len(scale["range"])
            for cell_type, colour in zip(scale["domain"], scale["range"], strict=True):
                assert found.setdefault(cell_type, colour) == colour, f"{cell_type} has two colours"
    return found


def test_each_cell_type_has_one_colour_across_charts(
    specs: dict[str, dict[str, Any]], proofread_types: pl.DataFrame
) -> None:
    by_chart = {name: _type_colours(specs[name]) for name in ("cell_types", "degrees", "neuron", "partners")}
    assert all(by_chart.values()), "every chart that colours by type has a type colour scale"
    # The scatter of all proofread neurons and the composition bars show every type of the version.
    assert set(by_chart["degrees"]) == set(proofread_types["cell_type"])
    assert set(by_chart["cell_types"]) == set(proofread_types["cell_type"])
    seen: dict[str, tuple[str, str]] = {}
    for chart, colours in by_chart.items():
        for cell_type, colour in colours.items():
            first = seen.setdefault(cell_type, (chart, colour))
            assert first[1] == colour, f"{cell_type}: {first[1]} in {first[0]}, {colour} in {chart}"
        assert len(set(colours.values())) == len(colours), f"{chart}: two types share a colour"
    shared = set(by_chart["neuron"]) & set(by_chart["degrees"]) & set(by_chart["partners"])
    assert len(shared) >= 3, "the charts overlap in enough types for the comparison to mean something"


def test_unknown_types_get_a_colour_that_does_not_depend_on_the_process() -> None:
    from reports.palette import CELL_TYPE_COLORS, cell_type_color

    assert cell_type_color("Unsure") == cell_type_color("unsure")
    assert cell_type_color(None) == cell_type_color("no type")
    assert len(set(CELL_TYPE_COLORS.values())) == len(CELL_TYPE_COLORS)
    names = ["L7-made-up", "chandelier", "5P-XX"]
    code = f"from reports.palette import cell_type_color; print([cell_type_color(n) for n in {names!r}])"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[1],
    )
    assert other.stdout.strip() == str([cell_type_color(n) for n in names])


# --- the binary heatmap names the type blocks on both axes ------------------------------------------------


def _pixel(row: dict[str, Any], definition: dict[str, Any] | None) -> float | None:
    if isinstance(definition, dict) and "value" in definition:
        return float(definition["value"])
    if isinstance(definition, dict) and definition.get("scale", {}) is None and "field" in definition:
        return float(row[definition["field"]])  # scale null: the field holds pixels
    return None  # not a fixed pixel position, so not a label beside the plot


@pytest.mark.parametrize("report", ["connectivity", "connectivity_weighted"])
def test_heatmap_labels_type_blocks_on_both_axes(
    specs: dict[str, dict[str, Any]], proofread_types: pl.DataFrame, report: str
) -> None:
    spec = specs[report]
    side = spec["width"]
    assert spec["height"] == side
    counts = proofread_types.group_by("cell_type").len("cells").sort("cell_type")  # the heatmap's order
    n = int(counts["cells"].sum())
    edges = [0, *counts["cells"].cum_sum().to_list()]
    centre = {t: (edges[i] + edges[i + 1]) / 2 / n * side for i, t in enumerate(counts["cell_type"])}

    axes: dict[str, list[tuple[str, float, float]]] = {"x": [], "y": []}
    for unit, data, enc in _units(spec):
        if _mark(unit) != "text" or not data:
            continue
        field = enc["text"]["field"]
        placed = [(row[field], _pixel(row, enc.get("x")), _pixel(row, enc.get("y"))) for row in data]
        if {p[0] for p in placed} != set(centre):
            continue
        if all(y is not None and y > side for _, _, y in placed):
            axes["x"].append(placed)
        elif all(x is not None and x < 0 for _, x, _ in placed):
            axes["y"].append(placed)
    assert len(axes["x"]) == 1, "one row of type labels under the heatmap (post-synaptic types)"
    assert len(axes["y"]) == 1, "one column of type labels left of the heatmap (pre-synaptic types)"
    for axis, [placed] in axes.items():
        along = [(x if axis == "x" else y) for _, x, y in placed]
        by_type = dict(zip([p[0] for p in placed], along, strict=True))
        ordered = [by_type[t] for t in counts["cell_type"]]
        assert ordered == sorted(ordered), f"{axis} labels follow the blocks' order"
        gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
        assert min(gaps) >= 10, f"{axis} labels are far enough apart to read: {gaps}"
        assert all(0 <= p <= side for p in ordered)
        # A label sits at its block's centre unless a crowded neighbour pushed it.
        for cell_type, position in by_type.items():
            big = counts.filter(pl.col("cell_type") == cell_type)["cells"].item() / n * side >= 40
            if big:
                assert position == pytest.approx(centre[cell_type], abs=1), cell_type


# --- the number of pairs behind each cell-type connection probability -------------------------------------


def test_type_connectivity_shows_pairs_and_marks_small_samples(
    specs: dict[str, dict[str, Any]], proofread_types: pl.DataFrame, demo_wh
) -> None:
    cells = dict(proofread_types.group_by("cell_type").len("cells").iter_rows())
    possible = {(a, b): cells[a] * (cells[b] - (a == b)) for a in cells for b in cells}
    connected = dict(
        (((a, b), k))
        for a, b, k in demo_wh.con.sql(
            """
            WITH t AS (SELECT DISTINCT pt_root_id, coalesce(cell_type, 'no type') AS cell_type
                       FROM proofread_cell_types WHERE version = $v)
            SELECT pre.cell_type, post.cell_type, count(*) FROM connections c
            JOIN t pre ON pre.pt_root_id = c.pre_pt_root_id JOIN t post ON post.pt_root_id = c.post_pt_root_id
            WHERE c.version = $v GROUP BY ALL
            """,
            params={"v": V},
        ).fetchall()
    )
    threshold = cell_type_connectivity.MIN_POSSIBLE_PAIRS
    small = {pair for pair, p in possible.items() if p < threshold}
    assert ("5P-ET", "5P-ET") in small, "the demo has a type pair too small to mean anything"

    coloured, shown = set(), {}
    for unit, data, enc in _units(specs["cell_type_connectivity"]):
        key = [(r["pre_cell_type"], r["post_cell_type"]) for r in data]
        if _mark(unit) == "rect" and enc.get("color", {}).get("field") == "percent":
            coloured |= set(key)
        if _mark(unit) == "text":
            for pair, row in zip(key, data, strict=True):
                shown.setdefault(pair, []).append(row[enc["text"]["field"]])
    assert coloured == set(possible) - small, "only type pairs with enough possible pairs get a colour"
    assert set(shown) == set(possible), "every type pair has a label"
    for pair, labels in shown.items():
        if pair in small:
            # Raw counts instead of a percentage nobody should read.
            assert f"{connected.get(pair, 0)}/{possible[pair]}" in labels, (pair, labels)
        else:
            assert f"n={possible[pair]:,}" in labels, (pair, labels)
            percent = 100 * connected.get(pair, 0) / possible[pair]
            assert any(lbl == f"{percent:.1f}" or lbl == str(round(percent, 1)) for lbl in labels)
    subtitle = " ".join(specs["cell_type_connectivity"]["title"]["subtitle"])
    assert str(threshold) in subtitle and "possible pairs" in subtitle


# --- faded bars are explained -----------------------------------------------------------------------------


@pytest.mark.parametrize("report", ["neuron", "partners"])
def test_faded_bars_have_a_legend_in_words(specs: dict[str, dict[str, Any]], demo_wh, report: str) -> None:
    spec = specs[report]
    proofread = {
        str(r)
        for (r,) in demo_wh.con.sql(
            "SELECT pt_root_id FROM proofread_neurons WHERE version = ?", params=[V]
        ).fetchall()
    }
    faded_any, fading = False, 0
    for unit, data, enc in _units(spec):
        opacity = enc.get("opacity") or enc.get("fillOpacity")
        if _mark(unit) != "bar" or not isinstance(opacity, dict) or "field" not in opacity:
            continue
        fading += 1
        assert opacity.get("legend", {}) is not None, "the fading has a legend"
        domain, levels = opacity["scale"]["domain"], opacity["scale"]["range"]
        assert all(isinstance(d, str) for d in domain), f"words, not true/false: {domain}"
        faded_word = domain[levels.index(min(levels))]
        assert "not proofread" in faded_word, domain
        for row in data:
            is_faded = row[opacity["field"]] == faded_word
            assert is_faded == (row["partner"] not in proofread), row
            faded_any |= is_faded
    assert fading, "bars are faded by a field, so the legend can say what the fading means"
    assert faded_any, "the demo neuron has partners that are not proofread, so the legend shows both"
    title = spec["title"]
    assert "faded" in " ".join(
        title["subtitle"] if isinstance(title["subtitle"], list) else [title["subtitle"]]
    )


# --- the index lists every report in the folder -----------------------------------------------------------


def test_index_lists_reports_of_every_run_newest_version_first(demo_wh, tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(demo_wh, 1078, out, ["strategy"])
    # A run from before manifests existed: its page and picture, nothing else.
    (out / "strategy_v1078.meta.json").unlink(missing_ok=True)
    (out / "notes.html").write_text("<h1>my notes</h1>", encoding="utf-8")  # no picture: not a report
    publish(demo_wh, 1181, out, ["cell_types", "strategy"])
    _, index = publish(demo_wh, 1300, out, ["strategy"])

    page = index.read_text(encoding="utf-8")
    cards = re.findall(r'<li id="report-([^"]+)">', page)
    order = list(reports.REPORTS)
    expected = sorted(
        ["strategy_v1078", "cell_types_v1181", "strategy_v1181", "strategy_v1300"],
        key=lambda n: (-int(n.rsplit("_v", 1)[1]), order.index(n.rsplit("_v", 1)[0])),
    )
    assert cards == expected
    sections = re.findall(r"<h2>Version (\d+)</h2>", page)
    assert sections == ["1300", "1181", "1078"]
    for name in expected:
        assert f'href="{name}.html"' in page and f'src="{name}.png"' in page
    # The old run's card still has its title and description, read back from its page.
    old_card = page[page.index('id="report-strategy_v1078"') :]
    assert html.escape(reports.get("strategy").TITLE) in old_card
    assert html.escape(reports.get("strategy").description(1078)) in old_card
    assert "notes" not in page
