"""Reports: Altair charts that read only from the warehouse's views, one module per chart.

Each report module defines NAME, TITLE, VIEWS (the views it reads), `description(version, **options)`
and `chart(wh, version, **options) -> alt.Chart`; `render.py` turns charts into offline HTML + PNG.
The table roles a report needs follow from its views (warehouse/sqlfiles.py reads them from sql/).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from warehouse.errors import WarehouseError

from . import (
    cell_type_composition,
    cell_type_connectivity,
    changes,
    connectivity,
    degrees,
    neuron,
    partners,
    strategy,
)

_MODULES: list[ModuleType] = [
    strategy,
    connectivity,
    cell_type_composition,
    partners,
    cell_type_connectivity,
    degrees,
    neuron,
    changes,
]
REPORTS: dict[str, ModuleType] = {m.NAME: m for m in _MODULES}


def get(name: str) -> ModuleType:
    if name not in REPORTS:
        raise WarehouseError(f"unknown report '{name}'; reports: {', '.join(REPORTS)}")
    return REPORTS[name]


def views_of(name: str | None = None) -> tuple[str, ...]:
    """The views one report (or, with no name, every report) reads."""
    modules = [get(name)] if name else list(REPORTS.values())
    return tuple(dict.fromkeys(v for m in modules for v in m.VIEWS))


def build(wh: Any, name: str, version: int, **options: Any):
    """The report's chart for one version; the version must be snapshotted."""
    module = get(name)
    wh.require(version, wh.roles_for(*module.VIEWS))
    return module.chart(wh, version, **options)
