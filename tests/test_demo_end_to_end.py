"""The README's first journey: `mwh demo` in an empty folder, then the file in the stock duckdb shell and
the reports in a real browser with the network cut off."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from reports import REPORTS
from tests.browser import browser_session, require_chromium, screenshot_is_drawn

EXPECTED_REPORTS = tuple(REPORTS)


def test_demo_says_where_things_are(demo_run):
    folder, proc = demo_run
    assert f"warehouse: {folder / 'warehouse.duckdb'}" in proc.stdout
    assert f"reports:   {folder / 'reports' / 'out' / 'index.html'}" in proc.stdout
    assert (folder / "warehouse.duckdb").stat().st_size > 10_000_000
    assert not list(folder.glob("*.building*")), "no temporary file is left behind"
    assert "Traceback" not in proc.stderr


def test_demo_renders_every_report_as_png_and_offline_html(demo_run):
    folder, _ = demo_run
    out = folder / "reports" / "out"
    for name in EXPECTED_REPORTS:
        [png] = out.glob(f"{name}_v*.png")
        with Image.open(png) as img:
            assert img.format == "PNG"
            assert img.width >= 600 and img.height >= 300
            assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 8  # not a blank canvas
        html = png.with_suffix(".html").read_text()
        assert '"$schema"' in html and "vega-lite" in html  # the chart spec is in the page
        assert not re.search(r"<script[^>]+src=[\"']?https?:", html), "no external script"
        assert "cdn.jsdelivr" not in html
    index = (out / "index.html").read_text()
    for name in EXPECTED_REPORTS:
        assert f"{name}_v1181.html" in index


def _duckdb_cli() -> str:
    found = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    assert found, "the stock duckdb shell comes with the test extra (pip install duckdb-cli)"
    return found


def test_file_opens_in_the_stock_duckdb_shell(demo_run):
    folder, _ = demo_run
    shell = _duckdb_cli()
    version = subprocess.run([shell, "--version"], capture_output=True, text=True).stdout
    assert version.startswith("v1."), "the test extra pins a 1.x shell, the oldest the file must open in"
    db = str(folder / "warehouse.duckdb")
    tables = subprocess.run(
        [shell, "-readonly", db, "-c", ".tables"], capture_output=True, text=True, timeout=60
    )
    assert tables.returncode == 0, tables.stderr
    for view in (
        "proofread_neurons",
        "proofread_synapses",
        "connectivity_pairs",
        "cell_types",
        "proofread_cell_types",
    ):
        assert view in tables.stdout
    proc = subprocess.run(
        [
            shell,
            "-readonly",
            "-csv",
            db,
            "-c",
            "SELECT count(*) AS n FROM proofread_synapses",
            "-c",
            "SELECT count(*) AS n FROM connectivity_matrix_1181()",
            "-c",
            "SELECT count(*) AS n FROM partners((SELECT min(pt_root_id) FROM proofread_neurons WHERE version = 1181), 1181)",
            "-c",
            "SELECT comment FROM duckdb_views() WHERE NOT internal AND view_name = 'cell_types'",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    counts = [int(x) for x in re.findall(r"^n\n(\d+)$", out, flags=re.M)]
    assert counts[0] > 300_000 and counts[1] == 1436 and counts[2] > 0
    assert "prefers the manual type" in out


def test_missing_version_fails_in_the_shell_with_the_fix(demo_run):
    folder, _ = demo_run
    proc = subprocess.run(
        [_duckdb_cli(), "-readonly", str(folder / "warehouse.duckdb"), "-c", "FROM partners(1, 999)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "mwh ingest --datastack demo --version 999" in proc.stdout + proc.stderr
    for view in ("proofread_synapses", "cell_types", "proofread_neurons"):
        proc = subprocess.run(
            [
                _duckdb_cli(),
                "-readonly",
                str(folder / "warehouse.duckdb"),
                "-c",
                f"FROM at_version('{view}', 999)",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (
            proc.returncode != 0 and "mwh ingest --datastack demo --version 999" in proc.stdout + proc.stderr
        )
    ok = subprocess.run(
        [
            _duckdb_cli(),
            "-readonly",
            "-csv",
            str(folder / "warehouse.duckdb"),
            "-c",
            "SELECT count(*) AS n FROM at_version('proofread_synapses', 1181)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and int(ok.stdout.split()[-1]) > 100_000


@pytest.mark.browser
def test_reports_draw_in_a_browser_with_the_network_off(demo_run, tmp_path):
    folder, _ = demo_run
    require_chromium()
    out = folder / "reports" / "out"
    pages = [out / "index.html", *sorted(out.glob("*_v*.html"))]
    assert len(pages) >= 1 + len(EXPECTED_REPORTS)
    with browser_session() as browser:
        for page in pages:
            is_index = page.name == "index.html"
            shot = tmp_path / f"{page.stem}.png"
            visit = browser.visit(page, shot, chart_selector=None if is_index else "#vis")
            assert visit.console_errors == [], page.name
            assert visit.failed_requests == [], page.name
            assert screenshot_is_drawn(visit.screenshot, min_chromatic_fraction=0.01), page.name
            if not is_index:
                assert visit.chart_screenshots and all(
                    screenshot_is_drawn(c) for c in visit.chart_screenshots
                ), page.name
