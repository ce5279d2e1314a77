"""Datastack configuration and the defaults a user can override from the environment.

Table names per datastack live in `datastacks.toml`, not in code, so another CAVE datastack
works by adding a section (or a file named by ``MWH_DATASTACKS``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources

from . import registry, settings
from .errors import WarehouseError

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


def _load_all() -> dict[str, dict]:
    text = resources.files("warehouse").joinpath("datastacks.toml").read_text()
    stacks = tomllib.loads(text)
    extra = settings.datastacks_file()
    if extra:
        try:
            stacks.update(tomllib.loads(extra.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise WarehouseError(f"cannot read MWH_DATASTACKS file {extra}: {exc}") from None
    return stacks


def datastack_config(name: str) -> DatastackConfig:
    stacks = _load_all()
    if name not in stacks:
        raise WarehouseError(
            f"unknown datastack '{name}'; configured: {', '.join(sorted(stacks))} "
            "(add one to a TOML file named by MWH_DATASTACKS)"
        )
    raw = dict(stacks[name])
    named = raw.pop("tables", {})
    unknown = sorted(set(named) - set(registry.ROLE_NAMES))
    if unknown:
        raise WarehouseError(
            f"datastack '{name}' names tables for unknown role(s) {', '.join(unknown)}; "
            f"roles: {', '.join(registry.ROLE_NAMES)}"
        )
    # A role the section does not name keeps the registry's CAVE table name.
    tables = {r: named.get(r, registry.role(r).default_table) for r in registry.ROLE_NAMES}
    proofread_filter = dict(raw.pop("proofread_filter", {"status_axon": "t"}))
    if not proofread_filter or not all(isinstance(v, str | int | bool) for v in proofread_filter.values()):
        raise WarehouseError(
            f"datastack '{name}': proofread_filter must map proofreading columns to values, e.g. {{ status_axon = \"t\" }}"
        )
    return DatastackConfig(
        name=name,
        server_address=raw.pop("server_address"),
        tables=tables,
        voxel_resolution_nm=tuple(float(v) for v in raw.pop("voxel_resolution_nm")),
        pia_y_voxels=float(raw.pop("pia_y_voxels", 0)),
        viewer_site=raw.pop("viewer_site", ""),
        proofread_filter=proofread_filter,
        row_cap=int(raw.pop("row_cap", settings.DEFAULT_ROW_CAP)),
        extra=raw,
    )
