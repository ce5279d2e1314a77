"""Reports must be readable offline and must really draw: checked on the files and in a real browser."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import altair as alt
import pandas as pd
import pyarrow as pa
import pytest
from browser import BrowserSession, browser_session, require_chromium, screenshot_is_drawn
from PIL import Image

from reports.render import RenderedReport, render, write_index

# Above altair's 5,000-row MaxRowsError, so the heatmap proves render() lifts the limit.
HEATMAP_SIDE = 80
TRICKY_TITLE = 'Synapses <per> "cell" type & layer'


def _bar_chart() -> alt.Chart:
    frame = pd.DataFrame(
        {
            "cell_type": ["23P", "4P", "5P-IT", "BC", "MC"],
            "n_synapses": [1520, 980, 640, 410, 233],
        }
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(x=alt.X("cell_type:N", sort=None), y="n_synapses:Q")
        .properties(width=400, height=300)
    )


def _heatmap() -> alt.Chart:
    # pyarrow, as the warehouse hands DuckDB results over; altair reads it through narwhals.
    pre, post, weight = [], [], []
    for i in range(HEATMAP_SIDE):
        for j in range(HEATMAP_SIDE):
            pre.append(i)
            post.append(j)
            weight.append(round(math.sin(i / 7) * math.cos(j / 5), 4))
    table = pa.table({"pre_idx": pre, "post_idx": post, "weight": weight})
    return (
        alt.Chart(table)
        .mark_rect()
        .encode(x="pre_idx:O", y="post_idx:O", color=alt.Color("weight:Q", scale=alt.Scale(scheme="viridis")))
        .properties(width=400, height=400)
    )


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def reports(out_dir: Path) -> list[RenderedReport]:
    return [
        render(
            _bar_chart(), out_dir, "synapses_by_type", TRICKY_TITLE, "Counts from the <b>demo</b> snapshot."
        ),
        render(_heatmap(), out_dir, "connectivity", "Connectivity heatmap", "Pre x post, 6,400 cells."),
    ]


@pytest.fixture(scope="module")
def index(out_dir: Path, reports: list[RenderedReport]) -> Path:
    return write_index(out_dir, reports, "MICrONS <warehouse> reports", "Snapshot 943 & friends")


def test_png_is_a_real_slide_sized_image(reports: list[RenderedReport]) -> None:
    for report in reports:
        with Image.open(report.png) as img:
            assert img.format == "PNG"
            assert img.size == (report.png_width, report.png_height)
            # 400 px of plot at scale 2, plus axes.
            assert img.width > 800 and img.height > 600, img.size
            colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
            assert colours is not None and len(colours) > 10
        assert screenshot_is_drawn(report.png, min_chromatic_fraction=0.05)


def test_html_embeds_the_spec_and_no_remote_script(reports: list[RenderedReport]) -> None:
    bar, heat = (r.html.read_text(encoding="utf-8") for r in reports)
    assert '"cell_type"' in bar and '"5P-IT"' in bar and "1520" in bar
    assert '"pre_idx"' in heat and '"viridis"' in heat
    # Every pre/post pair is embedded, i.e. the 5,000-row limit did not truncate or raise.
    assert heat.count('"pre_idx":') == HEATMAP_SIDE**2
    for page in (bar, heat):
        assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
        assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", page, re.IGNORECASE)
        assert "cdn.jsdelivr" not in page
        assert "vegaEmbed(" in page and "window.vegaEmbed" in page  # the library itself is inline
        # Exactly our two script elements: nothing in the bundle or data closed one early.
        assert page.count("<script>") == 2 and page.count("</script>") == 2
    assert f"<h1>{'Synapses &lt;per&gt; &quot;cell&quot; type &amp; layer'}</h1>" in bar
    assert "Counts from the &lt;b&gt;demo&lt;/b&gt; snapshot." in bar


def test_rendering_is_deterministic(tmp_path: Path, reports: list[RenderedReport]) -> None:
    again = render(
        _bar_chart(), tmp_path, "synapses_by_type", TRICKY_TITLE, "Counts from the <b>demo</b> snapshot."
    )
    assert again.html.read_bytes() == reports[0].html.read_bytes()
    assert again.png.read_bytes() == reports[0].png.read_bytes()


def test_row_limit_is_lifted_only_while_rendering(tmp_path: Path) -> None:
    before = (alt.data_transformers.active, dict(alt.data_transformers.options))
    big = alt.Chart(pd.DataFrame({"x": range(6000)})).mark_tick().encode(x="x:Q")
    render(big, tmp_path, "big", "Big", "6,000 rows")
    assert (alt.data_transformers.active, dict(alt.data_transformers.options)) == before
    with pytest.raises(alt.MaxRowsError):
        big.to_dict()


def test_bad_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file name"):
        render(_bar_chart(), tmp_path, "../escape", "t", "d")


def test_index_links_every_report_and_escapes_text(index: Path, reports: list[RenderedReport]) -> None:
    page = index.read_text(encoding="utf-8")
    for report in reports:
        assert f'href="{report.name}.html"' in page
        assert f'src="{report.name}.png"' in page
    assert "Synapses &lt;per&gt; &quot;cell&quot; type &amp; layer" in page
    assert "<per>" not in page and "<warehouse>" not in page and "<b>demo" not in page
    assert "MICrONS &lt;warehouse&gt; reports" in page and "Snapshot 943 &amp; friends" in page
    assert "<script" not in page


# --- in a real browser, with the network unreachable ---------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserSession]:
    require_chromium()
    with browser_session() as session:
        yield session


@pytest.mark.browser
def test_index_opens_offline(browser: BrowserSession, index: Path, tmp_path: Path) -> None:
    screenshot, console_errors, failed_requests, _ = browser.visit(index, tmp_path / "index.png")
    assert console_errors == []
    assert failed_requests == []
    assert screenshot_is_drawn(screenshot, min_chromatic_fraction=0.02)


@pytest.mark.browser
@pytest.mark.parametrize("which", [0, 1], ids=["bar", "heatmap"])
def test_report_draws_offline(
    browser: BrowserSession, reports: list[RenderedReport], which: int, tmp_path: Path
) -> None:
    report = reports[which]
    visit = browser.visit(report.html, tmp_path / f"{report.name}.png", chart_selector="#vis")
    assert visit.console_errors == []
    assert visit.failed_requests == []
    assert screenshot_is_drawn(visit.screenshot)
    [chart] = visit.chart_screenshots
    assert screenshot_is_drawn(chart, min_chromatic_fraction=0.02)


@pytest.mark.browser
def test_harness_catches_network_use_and_blank_pages(browser: BrowserSession, tmp_path: Path) -> None:
    """The checks above only mean something if the harness would have failed a bad page."""
    page = tmp_path / "online.html"
    page.write_text(
        '<!DOCTYPE html><html><head><script src="https://cdn.jsdelivr.net/npm/vega@6"></script></head>'
        "<body><div id='vis'></div><script>vegaEmbed('#vis', {})</script></body></html>",
        encoding="utf-8",
    )
    visit = browser.visit(page, tmp_path / "online.png")
    assert any("cdn.jsdelivr.net" in f and "blocked" in f for f in visit.failed_requests), visit
    assert any("vegaEmbed is not defined" in e for e in visit.console_errors), visit
    assert not screenshot_is_drawn(visit.screenshot)
    with pytest.raises(AssertionError, match="no chart drawn"):
        browser.visit(page, tmp_path / "online2.png", chart_selector="#vis", timeout_s=1)
