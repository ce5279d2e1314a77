"""Shared rendering of report charts to offline HTML pages, slide-ready PNGs and an index page.

Reports are read on machines without internet access (and shipped as files), so every page must carry its
own copy of Vega, Vega-Lite and vega-embed instead of pointing at a CDN. The JavaScript comes from the
bundle that vl-convert ships, the same Vega-Lite version vl-convert uses for the PNG, so the page and the
picture of a chart cannot drift apart.
"""

from __future__ import annotations

import html
import json
import os
import re
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import altair as alt
import vl_convert

__all__ = ["PNG_SCALE", "RenderedReport", "read_folder", "render", "version_of", "write_index"]

# A 300 px chart becomes 600 px wide: sharp on a projected slide without bloating the repository.
PNG_SCALE = 2.0

# Names become file names and URLs; keeping them to this alphabet means no quoting surprises anywhere.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# `{report}_v{version}` (and `neuron_{root}_v{version}`): how publish and `mwh neuron` name their files.
_VERSION_RE = re.compile(r"_v(\d+)$")

# Beside every page, `{name}.meta.json` says what the index needs (title, description, version, PNG size),
# so the index can be rebuilt from the folder alone, whichever run wrote which report.
MANIFEST_SUFFIX = ".meta.json"

# vega-embed's "Open in Vega Editor" action posts the spec to a web site, which is useless offline and
# would leak report data if clicked; export (PNG/SVG from the page itself) and view-source stay.
_EMBED_OPTIONS: dict[str, Any] = {
    "mode": "vega-lite",
    "actions": {"export": True, "source": True, "compiled": True, "editor": False},
}

# Toggling altair's data transformer options is process-global state; serialise our own toggles so two
# threads rendering at once cannot restore each other's settings in the wrong order.
_TRANSFORMER_LOCK = threading.Lock()


@dataclass(frozen=True)
class RenderedReport:
    """What write_index needs to link a report, so callers need not re-read files to build the index."""

    name: str
    title: str
    description: str
    html: Path
    png: Path
    png_width: int
    png_height: int
    version: int | None = None


def version_of(name: str) -> int | None:
    """The version a report's file name ends with (``strategy_v1181`` -> 1181), None if it has none."""
    match = _VERSION_RE.search(name)
    return int(match.group(1)) if match else None


@contextmanager
def _unlimited_rows() -> Iterator[None]:
    """Lift altair's 5,000-row MaxRowsError while a chart is serialised, then restore whatever was set.

    The limit exists to stop notebooks from silently embedding huge data; our reports embed their data on
    purpose (the page must work offline, so there is no separate data file to point at). A proofread-
    neuron x proofread-neuron heatmap is already ~1,400 x 1,400 cells, so aggregated but honest inputs
    easily pass 5,000 rows. Callers still have to aggregate: the long form of that heatmap (~2 M rows)
    would make a page hundreds of MB. ``disable_max_rows()`` returns a PluginEnabler whose ``__exit__``
    restores the previous registry state, so the change does not leak to the caller's later charts.
    """
    with _TRANSFORMER_LOCK, alt.data_transformers.disable_max_rows():
        yield


@cache
def _vl_version() -> str:
    """The Vega-Lite version matching altair's schema, in vl-convert's spelling (e.g. ``v6_4``)."""
    from altair.utils._importers import vl_version_for_vl_convert

    return vl_version_for_vl_convert()


@cache
def _javascript_bundle() -> str:
    """vega-embed + Vega-Lite + Vega as one script; cached because building it takes ~0.5 s and ~1 MB."""
    return vl_convert.javascript_bundle(vl_version=_vl_version())


def _page_head(title: str, style: str, script: str = "") -> str:
    """The start of every page up to </head>: the report pages add the bundled vega-embed script."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{html.escape(title)}</title>
  <style>
{style}
  </style>{script}
</head>"""


def _script_safe_json(value: Any) -> str:
    """JSON that cannot end the surrounding <script> element early.

    Data values are arbitrary strings (annotation text, cell-type labels); a literal ``</script>`` or
    ``<!--`` inside one would otherwise cut the page's script in half. ``\\u003c`` is the same string to
    JSON.parse and to a JavaScript literal.
    """
    return json.dumps(value, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, so the main package does not need pillow at run time."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("vl-convert did not return a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


_PAGE_STYLE = """\
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
           margin: 2rem; color: #222; background: #fff; }
    h1 { font-size: 1.5rem; margin: 0 0 0.5rem 0; }
    p.description { max-width: 60rem; margin: 0 0 1.5rem 0; line-height: 1.4; }
    #vis.vega-embed { display: flex; width: 100%; }
    #vis.vega-embed details, #vis.vega-embed details summary { position: relative; }
    footer { margin-top: 1.5rem; font-size: 0.8rem; color: #666; }"""


def _report_page(spec: dict[str, Any], title: str, description: str) -> str:
    """The report page, written by hand rather than with altair's ``inline`` template.

    Altair's inline page is offline too, but has no place for a heading or description and no hook that
    tells a test the chart finished drawing; ``data-render-state`` on <body> is that hook (``done`` once
    vega-embed's promise resolves, ``error`` with the message in ``data-render-error`` otherwise).
    """
    vl_version = _vl_version().removeprefix("v").replace("_", ".")
    bundle = _javascript_bundle()
    script = f"""
  <script>
// vega-embed, Vega-Lite {vl_version} and Vega, bundled by vl-convert {vl_convert.__version__}
{bundle}
  </script>"""
    return f"""{_page_head(title, _PAGE_STYLE, script)}
<body data-render-state="pending">
  <h1>{html.escape(title)}</h1>
  <p class="description">{html.escape(description)}</p>
  <div id="vis"></div>
  <footer>Drawn in this page by Vega-Lite {html.escape(vl_version)}; no network access is needed.</footer>
  <script>
    const spec = {_script_safe_json(spec)};
    const embedOptions = {_script_safe_json(_EMBED_OPTIONS)};
    vegaEmbed("#vis", spec, embedOptions)
      .then(function () {{ document.body.dataset.renderState = "done"; }})
      .catch(function (err) {{
        document.body.dataset.renderState = "error";
        document.body.dataset.renderError = String(err);
        console.error(err);
      }});
  </script>
</body>
</html>
"""


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"report name {name!r} must match {_NAME_RE.pattern} (it becomes a file name)")


def render(
    chart: alt.TopLevelMixin,
    out_dir: Path,
    name: str,
    title: str,
    description: str,
    *,
    scale: float = PNG_SCALE,
) -> RenderedReport:
    """Write ``out_dir/name.html`` (interactive, offline) and ``out_dir/name.png`` (for slides).

    The chart is serialised once, and both files are made from that one spec, so they show the same data.
    Output depends only on the chart and the arguments (no timestamps, altair's dataset names are content
    hashes), so re-rendering an unchanged report leaves the files byte-identical and diffs stay quiet.
    """
    _check_name(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    with _unlimited_rows():
        spec = chart.to_dict()

    # allowed_base_urls=[]: a spec that points at remote data must fail here, not silently phone home.
    png = vl_convert.vegalite_to_png(spec, vl_version=_vl_version(), scale=scale, allowed_base_urls=[])
    width, height = _png_size(png)

    html_path = out_dir / f"{name}.html"
    png_path = out_dir / f"{name}.png"
    html_path.write_text(_report_page(spec, title, description), encoding="utf-8")
    png_path.write_bytes(png)
    report = RenderedReport(
        name=name,
        title=title,
        description=description,
        html=html_path,
        png=png_path,
        png_width=width,
        png_height=height,
        version=version_of(name),
    )
    _write_manifest(report)
    return report


def _write_manifest(report: RenderedReport) -> None:
    """`{name}.meta.json`, written last: a manifest beside a page means the page and picture are whole."""
    manifest = {
        "name": report.name,
        "title": report.title,
        "description": report.description,
        "version": report.version,
        "html": report.html.name,
        "png": report.png.name,
        "png_width": report.png_width,
        "png_height": report.png_height,
    }
    text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    (report.html.parent / f"{report.name}{MANIFEST_SUFFIX}").write_text(text, encoding="utf-8")


_H1_RE = re.compile(r"<h1>(.*?)</h1>", re.DOTALL)
_DESCRIPTION_RE = re.compile(r'<p class="description">(.*?)</p>', re.DOTALL)


def _from_page(html_path: Path, png_path: Path) -> RenderedReport:
    """A report page written before manifests existed: title and description back from its own HTML."""
    page = html_path.read_text(encoding="utf-8", errors="replace")
    body = page[max(page.rfind("<body"), 0) :]  # the inline JavaScript bundle comes first; skip it
    title, description = _H1_RE.search(body), _DESCRIPTION_RE.search(body)
    with png_path.open("rb") as f:
        width, height = _png_size(f.read(24))
    return RenderedReport(
        name=html_path.stem,
        title=html.unescape(title.group(1)) if title else html_path.stem,
        description=html.unescape(description.group(1)) if description else "",
        html=html_path,
        png=png_path,
        png_width=width,
        png_height=height,
        version=version_of(html_path.stem),
    )


def _from_manifest(path: Path, html_path: Path, png_path: Path) -> RenderedReport | None:
    """The manifest's report, or None when it is unreadable or names other files (then the page decides)."""
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        if m["html"] != html_path.name or m["png"] != png_path.name:
            return None
        version = m.get("version")
        return RenderedReport(
            name=html_path.stem,
            title=str(m["title"]),
            description=str(m["description"]),
            html=html_path,
            png=png_path,
            png_width=int(m["png_width"]),
            png_height=int(m["png_height"]),
            version=int(version) if version is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_folder(out_dir: Path) -> list[RenderedReport]:
    """Every report in `out_dir`, from whichever run wrote it: what the index has to list.

    A report is a ``name.html`` with its ``name.png`` beside it; its manifest gives title and description,
    and pages of runs older than manifests (or with a damaged one) are read back from their HTML. Pages
    without a picture, the index itself and files whose names are not report names are left out. Sorted
    by name; the caller orders them for reading.
    """
    out_dir = Path(out_dir)
    found = []
    for html_path in sorted(out_dir.glob("*.html")):
        name = html_path.stem
        png_path = html_path.with_suffix(".png")
        if name == "index" or not _NAME_RE.fullmatch(name) or not png_path.is_file():
            continue
        manifest = out_dir / f"{name}{MANIFEST_SUFFIX}"
        report = _from_manifest(manifest, html_path, png_path) if manifest.is_file() else None
        if report is None:
            try:
                report = _from_page(html_path, png_path)
            except (OSError, ValueError):
                continue  # not a picture vl-convert wrote: not one of ours
        found.append(report)
    return found


def _href(target: Path, base: Path) -> str:
    """A relative, percent-encoded link, so the output folder can be moved or zipped as a whole."""
    rel = os.path.relpath(Path(target).resolve(), Path(base).resolve())
    return quote(Path(rel).as_posix())


_INDEX_STYLE = """\
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
           margin: 2rem; color: #222; background: #fff; }
    h1 { font-size: 1.6rem; margin: 0 0 0.25rem 0; }
    p.subtitle { margin: 0 0 1.5rem 0; color: #555; }
    ul.reports { list-style: none; padding: 0; margin: 0; display: grid; gap: 1.5rem;
                 grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); }
    ul.reports li { border: 1px solid #ddd; border-radius: 6px; padding: 1rem; }
    ul.reports img { width: 100%; height: 16rem; object-fit: contain; display: block;
                     margin-bottom: 0.75rem; background: #fff; }
    section h2 { font-size: 1.25rem; margin: 1.5rem 0 0.75rem 0; }
    ul.reports h3 { font-size: 1.1rem; margin: 0 0 0.4rem 0; }
    ul.reports p { margin: 0; line-height: 1.4; }"""


def _card(report: RenderedReport, out_dir: Path) -> str:
    href = html.escape(_href(report.html, out_dir))
    src = html.escape(_href(report.png, out_dir))
    title = html.escape(report.title)
    return f"""      <li id="report-{html.escape(report.name)}">
        <a href="{href}"><img src="{src}" alt="{title}" width="{report.png_width}" \
height="{report.png_height}"></a>
        <h3><a href="{href}">{title}</a></h3>
        <p>{html.escape(report.description)}</p>
      </li>"""


def write_index(out_dir: Path, reports: list[RenderedReport], heading: str, subtitle: str) -> Path:
    """Write ``out_dir/index.html``: one card per report, thumbnail linking to the interactive page.

    Cards keep the order given and are grouped under a heading per version wherever the version changes
    (reports without a version get a section without one), so a folder holding several versions reads
    as one section per version. Plain HTML and CSS, no script: the index has to open instantly and work
    in any viewer, including ones that block JavaScript in local files. Links are relative so the folder
    can be copied anywhere.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: list[tuple[int | None, list[RenderedReport]]] = []
    for report in reports:
        if not groups or groups[-1][0] != report.version:
            groups.append((report.version, []))
        groups[-1][1].append(report)
    sections = []
    for version, members in groups:
        label = f"version-{version}" if version is not None else "other"
        title = f"\n    <h2>Version {version}</h2>" if version is not None else ""
        cards = "\n".join(_card(r, out_dir) for r in members)
        sections.append(
            f"""  <section id="{label}">{title}
    <ul class="reports">
{cards}
    </ul>
  </section>"""
        )
    body = "\n".join(sections)
    page = f"""{_page_head(heading, _INDEX_STYLE)}
<body>
  <h1>{html.escape(heading)}</h1>
  <p class="subtitle">{html.escape(subtitle)}</p>
{body}
</body>
</html>
"""
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
