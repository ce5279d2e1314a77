"""Datastack configuration and the defaults a user can override from the environment.

Table names per datastack live in `datastacks.toml`, not in code, so another CAVE datastack
works by adding a section (or a file named by ``MWH_DATASTACKS``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import WarehouseError

DEFAULT_DB = "warehouse.duckdb"
ROLES = ("proofreading", "synapses", "cell_types_manual", "cell_types_auto")
DEMO = "demo"


@dataclass(frozen=True)
class DatastackConfig:
    name: str
    server_address: str
    tables: dict[str, str]
    voxel_resolution_nm: tuple[float, float, float]
    pia_y_voxels: float
    viewer_site: str
    proofread_filter: dict[str, str]
    row_cap: int
    extra: dict = field(default_factory=dict)

    def table(self, role: str) -> str:
        return self.tables[role]

    def role_of(self, table: str) -> str:
        for role, name in self.tables.items():
            if name == table:
                return role
        known = ", ".join(self.tables.values())
        raise WarehouseError(f"table '{table}' is not configured for {self.name}; known tables: {known}")


def default_db_path() -> Path:
    return Path(os.environ.get("MWH_DB", DEFAULT_DB))


def _load_all() -> dict[str, dict]:
    text = resources.files("warehouse").joinpath("datastacks.toml").read_text()
    stacks = tomllib.loads(text)
    extra = os.environ.get("MWH_DATASTACKS")
    if extra:
        try:
            stacks.update(tomllib.loads(Path(extra).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise WarehouseError(f"cannot read MWH_DATASTACKS file {extra}: {exc}") from None
    return stacks


def known_datastacks() -> list[str]:
    return sorted(_load_all())


def datastack_config(name: str) -> DatastackConfig:
    stacks = _load_all()
    if name not in stacks:
        raise WarehouseError(
            f"unknown datastack '{name}'; configured: {', '.join(sorted(stacks))} "
            "(add one to a TOML file named by MWH_DATASTACKS)"
        )
    raw = dict(stacks[name])
    tables = raw.pop("tables", {})
    missing = [r for r in ROLES if r not in tables]
    if missing:
        raise WarehouseError(f"datastack '{name}' configuration lacks tables for: {', '.join(missing)}")
    return DatastackConfig(
        name=name,
        server_address=raw.pop("server_address"),
        tables=dict(tables),
        voxel_resolution_nm=tuple(float(v) for v in raw.pop("voxel_resolution_nm")),
        pia_y_voxels=float(raw.pop("pia_y_voxels", 0)),
        viewer_site=raw.pop("viewer_site", ""),
        proofread_filter=dict(raw.pop("proofread_filter", {"status_axon": "t"})),
        row_cap=int(raw.pop("row_cap", 500_000)),
        extra=raw,
    )
