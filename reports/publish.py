"""Renders a set of reports for one version into a folder, and the folder's index page.

The index lists every report in the folder, not only this run's: people render one report at a time
(`mwh report partners`, `mwh neuron`, `mwh diff --out`) into the same folder, and an index that forgot
the rest after each run would hide them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warehouse.errors import NoCompleteNeuron, WarehouseError

from . import REPORTS, build, get
from .render import RenderedReport, read_folder, render, write_index


def check_out_dir(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WarehouseError(f"--out {out} is a file; give a folder for the reports")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot create report folder {out}: {exc.strerror}") from None
    return out


_NEURON_RE = re.compile(r"neuron_\d+")


def _report_rank(name: str) -> tuple[int, str]:
    """Where a report file sits within its version: the order of REPORTS, variants after their report.

    `connectivity_weighted` follows `connectivity` and `neuron_<root>` (from `mwh neuron`) follows
    `neuron`; names this package does not know (older or hand-made files) go last, by name.
    """
    match = re.fullmatch(r"(.+)_v\d+", name)
    stem = match.group(1) if match else name
    order = list(REPORTS)
    if stem in REPORTS:
        return 2 * order.index(stem), name
    if stem == "connectivity_weighted":
        return 2 * order.index("connectivity") + 1, name
    if _NEURON_RE.fullmatch(stem):
        return 2 * order.index("neuron") + 1, name
    return 2 * len(order), name


def index_order(reports: list[RenderedReport]) -> list[RenderedReport]:
    """Newest version first, then report order; reports without a version last."""

    def key(r: RenderedReport) -> tuple[bool, int, tuple[int, str]]:
        return r.version is None, -(r.version or 0), _report_rank(r.name)

    return sorted(reports, key=key)


def update_index(out: Path, datastack: str, source: str) -> Path:
    """Rewrite `out/index.html` from every report in the folder (see read_folder)."""
    return write_index(
        out,
        index_order(read_folder(out)),
        heading=f"{datastack}: reports",
        subtitle=(
            f"Newest version first; last updated from {source}. Every chart reads only the warehouse's "
            "views and opens offline."
        ),
    )


def publish(
    wh: Any,
    version: int,
    out: Path,
    names: list[str] | None = None,
    *,
    on_skip: Callable[[str, str], None] | None = None,
    **options: Any,
) -> tuple[list[RenderedReport], Path]:
    """Render reports into `out` and rebuild its index. Asked for every report (no `names`), one
    that needs a complete neuron the version does not hold is skipped and said so through
    `on_skip(name, reason)`; asked for by name, it is an error."""
    out = check_out_dir(out)
    rendered = []
    for name in names or list(REPORTS):
        module = get(name)
        try:
            chart = build(wh, name, version, **options)
        except NoCompleteNeuron as exc:
            if names or on_skip is None:
                raise
            on_skip(name, str(exc))
            continue
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
    index = update_index(out, wh.datastack, wh.path.name)
    return rendered, index
