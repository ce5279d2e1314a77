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

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources

import duckdb

from .errors import WarehouseError
from .registry import in_order
from .store import TableLayout

LAYERS = ("macros", "staging", "analysis")
TABLE_KINDS = ("raw", "rows", "fixed", "by_post")  # {{kind.role}}: TableLayout.relation
PLACEHOLDER = re.compile(
    r"\{\{\s*(" + "|".join((*TABLE_KINDS, "datastack", "warehouse", "filter")) + r")\.(\w+)\s*\}\}"
)
# meta.warehouse keys a file may template (the viewer links' layer sources).
SETTING_KEYS = ("segmentation_source", "image_source", "proofread_filter")


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
        if kind == "filter":
            return _predicate(settings.get(f"warehouse.{role}_filter"), role)
        if kind in ("datastack", "warehouse"):
            key = f"{kind}.{role}"
            if key not in settings:
                raise WarehouseError(f"SQL refers to unknown setting '{key}'")
            return _literal(settings[key])
        if role not in layouts:
            raise WarehouseError(f"SQL refers to unknown table role '{role}'")
        return layouts[role].relation(kind)

    return PLACEHOLDER.sub(sub, text)


def _predicate(spec: object, name: str) -> str:
    """`{{filter.proofread}}`: the datastack's proofread filter ({"status_axon": "t"}) as SQL, so the
    view and the synapse query (which reads the view's cells) share one master, datastacks.toml."""
    if not spec:
        raise WarehouseError(f"SQL refers to the {name} filter, which this file does not record")
    values = json.loads(spec) if isinstance(spec, str) else spec
    return "(" + " AND ".join(f'"{col}" = {_literal(v)}' for col, v in sorted(values.items())) + ")"


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


_WORD = re.compile(r"\w+")


def _without_comments(text: str) -> str:
    """SQL without `--` comments, so a name mentioned in prose is not taken for a dependency."""
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def dependencies(files: list[SqlFile]) -> dict[str, set[str]]:
    """For each file, the other sql/ objects its code names."""
    names = {f.name for f in files}
    words = {f.name: set(_WORD.findall(_without_comments(f.text))) for f in files}  # one pass a file
    return {f.name: (words[f.name] & names) - {f.name} for f in files}


def roles_of(files: list[SqlFile] | None = None) -> dict[str, tuple[str, ...]]:
    """The table roles each view or macro reads, directly (`{{raw.<role>}}`) or through the
    objects it names: what must be snapshotted at a version before the view can answer for it.
    Read from the SQL itself, so no list of views per role is kept by hand."""
    files = files if files is not None else sql_files()
    deps = dependencies(files)
    direct = {
        f.name: {
            m.group(2) for m in PLACEHOLDER.finditer(_without_comments(f.text)) if m.group(1) in TABLE_KINDS
        }
        for f in files
    }
    out: dict[str, tuple[str, ...]] = {}

    def walk(name: str, seen: set[str]) -> set[str]:
        roles = set(direct[name])
        for d in deps[name] - seen:
            roles |= walk(d, seen | {d})
        return roles

    for f in files:
        out[f.name] = tuple(in_order(walk(f.name, {f.name})))
    return out


@functools.cache
def view_roles() -> dict[str, tuple[str, ...]]:
    """`roles_of` the shipped sql/ files, read once a process."""
    return roles_of()


def ordered(files: list[SqlFile]) -> list[SqlFile]:
    """Files in an order where every object comes after the objects its text names."""
    names = {f.name for f in files}
    deps = dependencies(files)
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


_DEFINITIONS = """
    SELECT view_name AS name, sql AS definition FROM duckdb_views()
    WHERE NOT internal AND schema_name = 'main' AND view_name IN (SELECT unnest($names))
    UNION ALL
    SELECT function_name, string_agg(macro_definition, ';' ORDER BY macro_definition) FROM duckdb_functions()
    WHERE NOT internal AND schema_name = 'main' AND function_type IN ('macro', 'table_macro')
      AND function_name IN (SELECT unnest($names))
    GROUP BY function_name
"""


def changed_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The sql/ views and macros that are missing from the file, or whose definition is no longer
    the one applied (a `DROP VIEW` or a hand-made `CREATE OR REPLACE` since): `mwh upgrade`
    re-applies sql/ when any are."""
    names = [f.name for f in sql_files()]
    try:
        applied = dict(con.execute("SELECT name, definition FROM meta.sql_objects").fetchall())
    except duckdb.CatalogException:  # a file from before the record: compare what can be seen
        applied = None
    now = dict(con.execute(_DEFINITIONS, {"names": names}).fetchall())
    if applied is None:
        return sorted(n for n in names if n not in now)
    return sorted(n for n in names if n not in now or _same_text(now[n]) != _same_text(applied.get(n)))


def _same_text(definition: str | None) -> str | None:
    """A definition as DuckDB prints it, with what its printing varies in taken out: a float
    constant comes back as 1e-09 in one process and 1e-9 in another."""
    if definition is None:
        return None
    return re.sub(r"(\d)e([+-]?)0+(\d)", r"\1e\2\3", definition)


def apply_all(con: duckdb.DuckDBPyConnection, layouts: dict[str, TableLayout]) -> list[str]:
    """Create or replace every view and macro; returns their names in the order applied."""
    applied = []
    settings = file_settings(con)
    files = sql_files()
    # What each object needs snapshotted, for at_version() and any reader: read from the SQL.
    con.execute("CREATE OR REPLACE TABLE meta.view_roles (object_name VARCHAR, role VARCHAR)")
    con.executemany(
        "INSERT INTO meta.view_roles VALUES (?, ?)",
        [(name, r) for name, roles in roles_of(files).items() for r in roles],
    )
    for f in ordered(files):
        try:
            con.execute(render(f.text, layouts, settings))
        except duckdb.Error as exc:
            raise WarehouseError(
                f"sql/{f.layer}/{f.name}.sql does not apply: {str(exc).splitlines()[0]}"
            ) from None
        applied.append(f.name)
    # What each object looks like once applied, as DuckDB prints it, to tell later if one changed.
    con.execute(
        "CREATE OR REPLACE TABLE meta.sql_objects AS " + _DEFINITIONS, {"names": [f.name for f in files]}
    )
    return applied
