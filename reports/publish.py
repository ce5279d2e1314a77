"""Renders a set of reports for one version into a folder with an index page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warehouse.errors import WarehouseError

from . import REPORTS, build, get
from .render import RenderedReport, render, write_index


def check_out_dir(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WarehouseError(f"--out {out} is a file; give a folder for the reports")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot create report folder {out}: {exc.strerror}") from None
    return out


def publish(
    wh: Any, version: int, out: Path, names: list[str] | None = None, **options: Any
) -> tuple[list[RenderedReport], Path]:
    out = check_out_dir(out)
    rendered = []
    for name in names or list(REPORTS):
        module = get(name)
        chart = build(wh, name, version, **options)
        rendered.append(
            render(chart, out, f"{name}_v{version}", module.TITLE, module.description(version, **options))
        )
        if name == "connectivity" and not options.get("weighted"):
            chart = build(wh, name, version, weighted=True)
            rendered.append(
                render(
                    chart,
                    out,
                    f"{name}_weighted_v{version}",
                    module.TITLE + " (weighted)",
                    module.description(version, weighted=True),
                )
            )
    if not rendered:
        raise WarehouseError("no report to render")
    index = write_index(
        out,
        rendered,
        heading=f"{wh.datastack}: reports at version {version}",
        subtitle=f"From {wh.path.name}; every chart reads only the warehouse's views and opens offline.",
    )
    return rendered, index
