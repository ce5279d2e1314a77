"""Applies the `.sql` files shipped in the `sql` package to a warehouse.

The files are templates in two things only: the names of the raw relations (`{{raw.synapses}}`),
because table names belong to the datastack's configuration, and the file's datastack settings
(`{{datastack.voxel_y_nm}}`, `{{warehouse.segmentation_source}}`), written in as literals from
meta.datastack and meta.warehouse. Those never change for a file, and a literal lets DuckDB fold
a macro such as voxel_um('y') to a constant, where a subquery on meta.datastack cost every query
that used it a few milliseconds of planning. Everything else is plain DuckDB SQL that a user can
read and run. Views bind when they are created, so the files are applied in dependency order:
a file comes after every other file whose object it names.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import duckdb

from .errors import WarehouseError
from .tables import TableLayout

LAYERS = ("macros", "staging", "analysis")
_PLACEHOLDER = re.compile(r"\{\{\s*(raw|rows|fixed|datastack|warehouse)\.(\w+)\s*\}\}")
# meta.warehouse keys a file may template (the viewer links' layer sources).
SETTING_KEYS = ("segmentation_source", "image_source")


@dataclass(frozen=True)
class SqlFile:
    layer: str
    name: str  # the object it creates, named after the file
    text: str

    @property
    def header(self) -> str:
        """The leading comment: which question the object answers."""
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line.removeprefix("--").strip())
        return " ".join(x for x in lines if x)


def sql_files() -> list[SqlFile]:
    root = resources.files("sql")
    files = []
    for layer in LAYERS:
        folder = root.joinpath(layer)
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                files.append(SqlFile(layer, entry.name.removesuffix(".sql"), entry.read_text()))
    return files


def sql_hash() -> str:
    h = hashlib.sha256()
    for f in sql_files():
        h.update(f"{f.layer}/{f.name}\0{f.text}\0".encode())
    return h.hexdigest()[:16]


def render(text: str, layouts: dict[str, TableLayout], settings: dict[str, object] | None = None) -> str:
    settings = settings or {}

    def sub(m: re.Match) -> str:
        kind, role = m.group(1), m.group(2)
        if kind in ("datastack", "warehouse"):
            key = f"{kind}.{role}"
            if key not in settings:
                raise WarehouseError(f"SQL refers to unknown setting '{key}'")
            return _literal(settings[key])
        if role not in layouts:
            raise WarehouseError(f"SQL refers to unknown table role '{role}'")
        layout = layouts[role]
        return {"raw": layout.raw, "rows": layout.rows_table, "fixed": layout.fixed_table}[kind]

    return _PLACEHOLDER.sub(sub, text)


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def file_settings(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """The values `{{datastack.*}}` and `{{warehouse.*}}` stand for, read from the file itself."""
    settings: dict[str, object] = {}
    rel = con.sql("SELECT * FROM meta.datastack LIMIT 1")
    row = rel.fetchall()
    if row:
        settings.update({f"datastack.{c}": v for c, v in zip(rel.columns, row[0], strict=True)})
    for key, value in con.execute(
        "SELECT key, value FROM meta.warehouse WHERE key IN ?", [list(SETTING_KEYS)]
    ).fetchall():
        settings[f"warehouse.{key}"] = value
    for key in SETTING_KEYS:
        settings.setdefault(f"warehouse.{key}", "")
    return settings


def _without_comments(text: str) -> str:
    """SQL without `--` comments, so a name mentioned in prose is not taken for a dependency."""
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def ordered(files: list[SqlFile]) -> list[SqlFile]:
    """Files in an order where every object comes after the objects its text names."""
    names = {f.name for f in files}
    code = {f.name: _without_comments(f.text) for f in files}
    deps = {f.name: {n for n in names if n != f.name and re.search(rf"\b{n}\b", code[f.name])} for f in files}
    by_name = {f.name: f for f in files}
    done: list[SqlFile] = []
    placed: set[str] = set()
    while len(done) < len(files):
        ready = [f for f in files if f.name not in placed and deps[f.name] <= placed]
        if not ready:
            cycle = sorted(n for n in names if n not in placed)
            raise WarehouseError(f"sql files depend on each other in a cycle: {', '.join(cycle)}")
        for f in ready:
            done.append(by_name[f.name])
            placed.add(f.name)
    return done


def apply_all(con: duckdb.DuckDBPyConnection, layouts: dict[str, TableLayout]) -> list[str]:
    """Create or replace every view and macro; returns their names in the order applied."""
    applied = []
    settings = file_settings(con)
    for f in ordered(sql_files()):
        try:
            con.execute(render(f.text, layouts, settings))
        except duckdb.Error as exc:
            raise WarehouseError(
                f"sql/{f.layer}/{f.name}.sql does not apply: {str(exc).splitlines()[0]}"
            ) from None
        applied.append(f.name)
    return applied
