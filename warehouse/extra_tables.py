"""Any table of a datastack, not only the notebook's: typed from what the server says, kept as plain data.

A role (warehouse/registry.py) is a table the notebook's views need, with a schema fixed in code.
Every other table of a datastack (`mwh ingest --tables coregistration_manual_v4`) has a schema
known only at run time, so it is built here from the server's own description: the table
metadata (schema type, reference target, voxel resolution, description) and the schema service's
JSON schema of its fields, never guessed from the first chunk (an empty table has no rows to guess
from). A reference table is described merged with its target, as caveclient's `query_table`
returns it: the annotation's columns unsuffixed, the target's clashing ones with `_ref`.

Its rows go through the same job and store as a role's: one raw table per (table, schema),
`raw."<table>__<schema key>"`, so a table whose schema changed between versions keeps both. The
view named after the table unions them by name over the complete snapshots, and
`meta.extra_tables` records, per (table, version), the schema it was taken with, so `mwh upgrade`
and every writer re-create the views. Nothing in the notebook's views reads these tables.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from .errors import SourceError, VersionNotSnapshotted, WarehouseError
from .registry import I64, TS

EXTRA_PREFIX = "extra:"  # meta.snapshots.role of a table that plays no role: "extra:<table>"
JSON_FALLBACK = "json"  # a field type the warehouse has no column type for: its values as JSON text
_POINT_REFS = {"BoundSpatialPoint": True, "SpatialPoint": False}
_STANDARD = {  # bookkeeping columns every CAVE annotation table has, whatever its schema
    "id": (I64, "the annotation's id"),
    "created": (TS, "when the annotation was made (UTC)"),
    "superceded_id": (I64, "the id of the annotation that replaced this one, if any"),
    "valid": (pa.bool_(), "true for the rows a version answers"),
}
_AXES = ("x", "y", "z")

CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS meta.extra_tables (
    table_name VARCHAR, version INTEGER, schema_key VARCHAR, schema_type VARCHAR,
    reference_table VARCHAR, description VARCHAR, columns VARCHAR, raw_table VARCHAR,
    recorded_at TIMESTAMPTZ DEFAULT current_timestamp, PRIMARY KEY (table_name, version));
COMMENT ON TABLE meta.extra_tables IS
    'Tables taken beyond the notebook''s roles (mwh ingest --tables NAME): per version, the schema they were taken with (columns: name, type, unit, description as JSON) and the raw table holding its rows.';
"""


def role_of(table: str) -> str:
    """The meta.snapshots role of a table that plays no role."""
    return EXTRA_PREFIX + table


def is_extra_role(role: str) -> bool:
    return role.startswith(EXTRA_PREFIX)


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str = ""
    unit: str | None = None  # positions: 'voxel (4 nm)'
    fallback: bool = False  # kept as JSON text: the schema's type is one the warehouse does not know

    @property
    def duck_type(self) -> str:
        from .tables import DUCK_TYPES

        return DUCK_TYPES[self.type]

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "type": self.duck_type,
            "unit": self.unit,
            "description": self.description,
            "json_text": self.fallback,
        }


@dataclass(frozen=True)
class TableSchema:
    """A table's columns as the warehouse stores them, from the server's description."""

    table: str
    schema_type: str
    reference_table: str | None
    description: str
    columns: tuple[Column, ...]
    row_count: int | None = None
    voxel_resolution: tuple[float, float, float] | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def arrow(self) -> pa.Schema:
        return pa.schema([(c.name, c.type) for c in self.columns])

    @property
    def key(self) -> str:
        """Digest of the stored columns: a changed schema gets a raw table of its own."""
        blob = json.dumps([(c.name, c.duck_type, c.fallback) for c in self.columns])
        return "s" + hashlib.sha256(blob.encode()).hexdigest()[:8]

    @property
    def units(self) -> dict[str, str]:
        return {c.name: c.unit for c in self.columns if c.unit}

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise WarehouseError(
            f"{self.table} has no column '{name}'; columns: {', '.join(c.name for c in self.columns)}"
        )

    @property
    def root_column(self) -> str | None:
        """The root id column a join to cells uses: pt_root_id, else the post-synaptic one, else any."""
        roots = [c.name for c in self.columns if c.name.endswith("root_id") and not c.fallback]
        for pick in ("pt_root_id", "post_pt_root_id"):
            if pick in roots:
                return pick
        return roots[0] if roots else None


def _fields(schema_json: dict | None, table: str, schema_type: str) -> dict[str, dict]:
    """The properties of a schema service answer ({"$ref": "#/definitions/X", "definitions": ...})."""
    if not isinstance(schema_json, dict):
        raise SourceError(f"the schema service has no definition of schema type '{schema_type}' of {table}")
    defs = schema_json.get("definitions") or {}
    ref = str(schema_json.get("$ref", "")).rsplit("/", 1)[-1]
    body = defs.get(ref) if ref else schema_json
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise SourceError(f"the schema service's definition of '{schema_type}' ({table}) lists no properties")
    return body["properties"]


def _field_columns(name: str, spec: dict, resolution: tuple[float, float, float] | None) -> list[Column]:
    """One schema field as stored columns: a point split into _x/_y/_z with its unit, a bound point
    with its supervoxel and root id, a scalar typed, anything else kept as JSON text."""
    ref = str(spec.get("$ref", "")).rsplit("/", 1)[-1] if "$ref" in spec else None
    desc = str(spec.get("description", "") or "")
    if ref in _POINT_REFS:
        out = []
        if _POINT_REFS[ref]:
            out += [
                Column(f"{name}_supervoxel_id", I64, f"supervoxel under {name}"),
                Column(f"{name}_root_id", I64, f"root id (segment) under {name} at the version"),
            ]
        for i, a in enumerate(_AXES):
            unit = f"voxel ({resolution[i]:g} nm)" if resolution else "voxel"
            out.append(Column(f"{name}_position_{a}", I64, f"{name} position, {a} ({unit})".strip(), unit))
        return out
    typ, fmt = spec.get("type"), spec.get("format")
    if isinstance(typ, list):  # ["integer", "null"]: nullable
        typ = next((t for t in typ if t != "null"), None)
    scalar = {
        "integer": I64,
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "string": TS if fmt in ("date-time", "datetime") else pa.string(),
    }.get(typ if isinstance(typ, str) else "")
    if ref is None and scalar is not None:
        return [Column(name, scalar, desc)]
    what = f"$ref {ref}" if ref else f"type {typ!r}"
    return [Column(name, pa.string(), f"{desc} (kept as JSON text: {what})".strip(), fallback=True)]


def _resolution(md: dict) -> tuple[float, float, float] | None:
    res = md.get("voxel_resolution")
    if isinstance(res, list | tuple) and len(res) == 3:
        return tuple(float(x) for x in res)  # type: ignore[return-value]
    if all(f"voxel_resolution_{a}" in md for a in _AXES):
        return tuple(float(md[f"voxel_resolution_{a}"]) for a in _AXES)  # type: ignore[return-value]
    return None


def _own_columns(md: dict, schema_json: dict | None, table: str, *, crud: bool) -> list[Column]:
    schema_type = str(md.get("schema_type") or md.get("schema") or "")
    res = _resolution(md)
    cols = [Column(n, t, d) for n, (t, d) in _STANDARD.items() if crud or n != "superceded_id"]
    for name, spec in _fields(schema_json, table, schema_type).items():
        if name in _STANDARD:
            continue
        cols += _field_columns(name, spec if isinstance(spec, dict) else {}, res)
    return cols


def describe(
    metadata: dict,
    schema_json: dict | None,
    reference_metadata: dict | None = None,
    reference_schema_json: dict | None = None,
) -> TableSchema:
    """A table's stored columns from the server's table metadata and schema definition (and its
    reference target's, for a reference table: merged as query_table returns it)."""
    table = str(metadata.get("table_name") or metadata.get("annotation_table"))
    ref = metadata.get("reference_table") or None
    schema_type = str(metadata.get("schema_type") or metadata.get("schema") or "")
    cols = _own_columns(metadata, schema_json, table, crud=not ref)
    if ref:
        if reference_metadata is None:
            raise SourceError(f"{table} references {ref}, whose metadata the server did not give")
        if "target_id" not in {c.name for c in cols}:
            cols.insert(3, Column("target_id", I64, f"the {ref} row this annotates"))
        own = {c.name for c in cols}
        for c in _own_columns(reference_metadata, reference_schema_json, str(ref), crud=False):
            name = c.name + "_ref" if c.name in own else c.name
            cols.append(Column(name, c.type, f"{ref}: {c.description}".strip(": "), c.unit, c.fallback))
    return TableSchema(
        table=table,
        schema_type=schema_type,
        reference_table=ref,
        description=str(metadata.get("description") or ""),
        columns=tuple(cols),
        row_count=metadata.get("row_count"),
        voxel_resolution=_resolution(metadata),
    )


def conform(data: pa.Table, schema: TableSchema, source: str) -> pa.Table:
    """A source's answer cast to the table's stored columns; a missing or unlisted column, or a
    value that does not fit its column, is refused by name. JSON-text columns take any value."""
    answered = set(data.column_names)
    missing = [c.name for c in schema.columns if c.name not in answered and c.name != "superceded_id"]
    unlisted = sorted(answered - {c.name for c in schema.columns} - {"deleted"})
    if missing:
        raise SourceError(f"{source} answered {schema.table} without column(s) {', '.join(missing)}")
    if unlisted:
        raise SourceError(
            f"{source} answered {schema.table} with column(s) {', '.join(unlisted)} that its schema "
            f"'{schema.schema_type}' does not list; nothing was stored"
        )
    arrays = []
    for c in schema.columns:
        if c.name not in answered:  # superceded_id: not every answer carries it; a valid row has none
            arrays.append(pa.nulls(data.num_rows, c.type))
            continue
        col = data.column(c.name)
        if c.fallback:
            arrays.append(pa.array([as_json_text(v) for v in col.to_pylist()], pa.string()))
            continue
        if col.type != c.type:
            try:
                col = col.cast(c.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SourceError(
                    f"{source}: column {schema.table}.{c.name} arrived as {col.type}, which does not fit "
                    f"{c.duck_type}: {str(exc).splitlines()[0]}"
                ) from None
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=schema.arrow)


def as_json_text(value: object) -> str | None:
    """A value of a column the warehouse has no type for, as JSON text (strings stay as they are)."""
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, default=str, ensure_ascii=False)


# ------------------------------------------------------------------------------------ the catalog
def ensure_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CATALOG_DDL)


def record(con: duckdb.DuckDBPyConnection, schema: TableSchema, version: int, raw_table: str) -> None:
    """The schema a version of the table is taken with (the raw table its rows go to)."""
    ensure_catalog(con)
    con.execute(
        "INSERT OR REPLACE INTO meta.extra_tables (table_name, version, schema_key, schema_type, "
        "reference_table, description, columns, raw_table) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            schema.table,
            version,
            schema.key,
            schema.schema_type,
            schema.reference_table,
            schema.description,
            json.dumps([c.as_json() for c in schema.columns]),
            raw_table,
        ],
    )


def _has_catalog(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = 'extra_tables'"
        ).fetchone()[0]
    )


def recorded(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(table, version, schema_key, schema_type, reference_table, description, columns, raw_table)."""
    if not _has_catalog(con):
        return []
    return con.execute(
        "SELECT table_name, version, schema_key, schema_type, reference_table, description, columns, raw_table "
        "FROM meta.extra_tables ORDER BY table_name, version"
    ).fetchall()


def held(con: duckdb.DuckDBPyConnection) -> dict[str, list[int]]:
    """Every table's versions with a complete snapshot in the file (roles' and other tables')."""
    rows = con.execute(
        "SELECT table_name, list(DISTINCT version ORDER BY version) FROM meta.current_snapshots GROUP BY 1"
    ).fetchall()
    return {t: list(v) for t, v in rows}


def view_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted({r[0] for r in recorded(con)})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def apply_views(con: duckdb.DuckDBPyConnection, only: str | None = None) -> list[str]:
    """(Re-)create the view of every recorded table (or of `only`): its raw tables of every schema,
    unioned by name, over the complete snapshots; commented from the server's description; plus,
    for a table with a root id column, the `<table>_proofread(version)` join helper."""
    by_table: dict[str, list[tuple]] = {}
    for row in recorded(con):
        if only is None or row[0] == only:
            by_table.setdefault(row[0], []).append(row)
    for table, rows in by_table.items():
        _apply_view(con, table, rows)
    if by_table and _has_view_roles(con):
        con.execute("DELETE FROM meta.view_roles WHERE object_name IN (SELECT unnest(?))", [list(by_table)])
        con.executemany("INSERT INTO meta.view_roles VALUES (?, ?)", [(t, role_of(t)) for t in by_table])
    return sorted(by_table)


def _has_view_roles(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = 'view_roles'"
        ).fetchone()[0]
    )


def _apply_view(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    raws: list[str] = []
    columns: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: -r[1]):  # the newest schema's words for a column win
        if row[7] not in raws:
            raws.append(row[7])
        for c in json.loads(row[6]):
            columns.setdefault(c["name"], c)
    raws.sort(key=lambda r: min(x[1] for x in rows if x[7] == r))  # oldest schema first: its column order
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {r}" for r in raws)
    view = _q(table)
    newest = max(rows, key=lambda r: r[1])
    con.execute(
        f"CREATE OR REPLACE VIEW {view} AS SELECT version, * EXCLUDE (snapshot_id, version) FROM ({union}) "
        f"WHERE snapshot_id IN (SELECT snapshot_id FROM meta.current_snapshots WHERE role = {_lit(role_of(table))})"
    )
    versions = ", ".join(str(r[1]) for r in sorted(rows, key=lambda r: r[1]))
    ref = (
        f" A reference table on {newest[4]}, merged with it (its clashing columns end in _ref)."
        if newest[4]
        else ""
    )
    text = (
        f"{newest[5] or table} [CAVE table {table}, schema {newest[3]}; taken by mwh ingest --tables {table} "
        f"at version(s) {versions}; plain data, not read by the notebook's views.{ref}]"
    )
    con.execute(f"COMMENT ON VIEW {view} IS {_lit(text)}")
    con.execute(f"COMMENT ON COLUMN {view}.version IS 'the materialization version of the snapshot'")
    for name, c in columns.items():
        words = c.get("description") or ""
        if c.get("unit") and c["unit"] not in words:
            words = f"{words} [{c['unit']}]".strip()
        if words:
            con.execute(f"COMMENT ON COLUMN {view}.{_q(name)} IS {_lit(words)}")
    root = next(
        (n for n in ("pt_root_id", "post_pt_root_id") if n in columns),
        next((n for n in columns if n.endswith("root_id")), None),
    )
    if root and _exists(con, "proofread_cell_types"):
        macro = _q(f"{table}_proofread")
        con.execute(
            f"CREATE OR REPLACE MACRO {macro}(v) AS TABLE "
            f"SELECT x.*, p.nucleus_id AS proofread_nucleus_id, p.cell_type AS proofread_cell_type "
            f"FROM {view} x JOIN proofread_cell_types p ON p.version = x.version AND p.pt_root_id = x.{_q(root)} "
            "WHERE x.version = v"
        )
        con.execute(
            f"COMMENT ON MACRO TABLE {macro} IS "
            f"{_lit(f'Rows of {table} at a version whose {root} is a proofread cell, with its nucleus id and cell type.')}"
        )


def _exists(con: duckdb.DuckDBPyConnection, view: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'main' AND view_name = ?", [view]
        ).fetchone()[0]
    )


def require(con: duckdb.DuckDBPyConnection, table: str, version: int, datastack: str) -> None:
    """A version of a table's view is answered only once the file holds it; else the command that fixes it."""
    have = held(con).get(table, [])
    if version not in have:
        holds = f"it holds {', '.join(map(str, have))}" if have else "it holds no snapshot of it"
        raise VersionNotSnapshotted(
            f"version {version} of {table} is not in this warehouse ({holds}); run: "
            f"mwh ingest --datastack {datastack} --version {version} --tables {table}"
        )
