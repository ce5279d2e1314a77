"""The notebook's analysis as Spark SQL over a lake, derived from the warehouse's own DuckDB views.

For users with a Spark (or Sail, a Spark Connect server without a JVM) session and a lake written by
:mod:`warehouse.lake_export`: :func:`register_lake` reads each table role's Delta table at the
Delta version the manifest names as a temp view and then creates, as Spark temp views,
the staging views and the analysis views ``proofread_neurons``, ``proofread_synapses``,
``connections`` and ``cell_types``; the :class:`SparkLake` it returns gives one neuron's partners by synapse count (``.partners``).

Two readers, one set of views. ``reader="delta"`` (the default) uses
``spark.read.format("delta").option("versionAsOf", v).load(path)``, for a session with Delta
support (Sail has it built in; JVM Spark needs the delta-spark jars, which come from Maven).
``reader="parquet"`` reads exactly the Parquet files that Delta version committed
(:func:`warehouse.lake.data_files`, the files DuckDB reads) with ``spark.read.parquet(*files)``,
for a plain JVM Spark without Delta jars. That is exact for the tables the lake writes (protocol
reader 1, no partitions, no deletion vectors; ``data_files`` refuses others). The Parquet files
carry the same types a Delta read gives (``TIMESTAMP`` adjusted to UTC, 32- and 64-bit integers)
as long as the session time zone is UTC, as the warehouse's is. A version with no rows has no
files: its frame is made empty from the Delta schema.

The SQL is not written twice: each view is the ``sql/`` file's statement, parsed with sqlglot as
DuckDB and written out as Spark SQL, so a change to a view reaches Spark too. What the
transpiler cannot carry is done here, in the AST, and said where it is done:

- ``{{raw.role}}`` template names become the temp views ``raw_<role>``, ``{{datastack.x}}`` and
  ``{{warehouse.x}}`` literals from the manifest's meta, and ``meta.current_snapshots`` the temp
  view ``meta_current_snapshots`` built from the manifest (Spark temp views have one-part names).
- DuckDB scalar macros (``voxel_um``, ``depth_um``) have no Spark SQL equivalent; their bodies are
  inlined at each call. Numbers from meta are written as DOUBLE literals, since a Spark literal
  ``4.0`` is a DECIMAL and would change the arithmetic's type and rounding.
- DuckDB table macros (``cell_types_of``, which the ``cell_types`` view and ``partners`` read, and
  ``partner_synapses``) become subqueries of their bodies with the arguments put in, and each
  WHERE of an inlined body is simplified so constant tests of the arguments fold away as in
  DuckDB (``cell_types_of(NULL, NULL)`` becomes the merge alone).
- ``neuroglancer_url`` builds its link with DuckDB's ``url_encode`` and JSON functions, which have
  no Spark SQL counterparts: Spark's ``proofread_neurons`` leaves that column out.
- ``QUALIFY`` (in ``cell_types``) is rewritten by sqlglot into a filtered subquery; DuckDB's
  ``SEMI JOIN`` and ``::BIGINT`` casts are Spark SQL as written.
- ``partners`` is a DuckDB table macro with a named default (``direction := 'output'``), which
  sqlglot cannot parse as a statement: its body is parsed alone and the parameters are replaced
  by literals. ``require_snapshot`` and ``error()`` (DuckDB's way of failing a query with a
  message) are replaced by checks in Python before the query runs.
- Views that read other DuckDB macros (``at_version``, ``neuroglancer_state``) are not offered.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.simplify import simplify

from . import lake, lake_export, snapshots, sqlfiles
from .errors import WarehouseError
from .registry import ROLE_NAMES, schema_of

# The views made in Spark, in dependency order (each reads only those before it).
VIEWS = (
    "stg_nucleus",
    "stg_proofreading",
    "stg_synapses",
    "stg_synapse_roots",
    "stg_synapse_roots_by_post",
    "stg_cell_types_auto",
    "stg_cell_types_manual",
    "proofread_roots",
    "proofread_neurons",
    "proofread_synapses",
    "connections",
    "cell_types",
)
SCALAR_MACROS = ("voxel_um", "depth_um")
# DuckDB table macros that views and partners read, inlined as subqueries (no Spark counterpart).
TABLE_MACROS = ("partner_synapses", "cell_types_of")
# How register_lake reads a table: Spark's Delta source, or the committed version's Parquet files.
READERS = ("delta", "parquet")
DROPPED_COLUMNS = {"proofread_neurons": ("neuroglancer_url",)}
_TABLE_MACRO = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+MACRO\s+(\w+)\s*\((?P<params>[^)]*)\)\s+AS\s+TABLE\s+(?P<body>.*?);\s*(?:COMMENT|\Z)",
    re.S | re.I,
)


def sql_text(name: str) -> str:
    """The text of the sql/ file that creates ``name`` (a view or macro)."""
    root = resources.files("sql")
    for layer in ("macros", "staging", "analysis"):
        f = root.joinpath(layer, f"{name}.sql")
        if f.is_file():
            return f.read_text()
    raise WarehouseError(f"no sql/ file creates {name}")


def _settings(manifest: dict) -> dict[str, tuple[str, str | None]]:
    """``{{datastack.x}}`` / ``{{warehouse.x}}`` values as (DuckDB type, text) from the manifest's meta."""
    out: dict[str, tuple[str, str | None]] = {}
    ds = manifest["meta"]["datastack"]
    if len(ds["rows"]) != 1:
        raise WarehouseError("the lake manifest's meta.datastack should have exactly one row")
    for (col, typ), value in zip(ds["columns"], ds["rows"][0], strict=True):
        out[f"datastack.{col}"] = (typ, value)
    for key, value in manifest["meta"]["warehouse"]["rows"]:
        out[f"warehouse.{key}"] = ("VARCHAR", value)
    return out


def _literal(typ: str, value: str | None) -> str:
    if value is None:
        return "NULL"
    if typ in ("DOUBLE", "FLOAT", "REAL"):
        return f"CAST({float(value)!r} AS DOUBLE)"
    if typ in ("BIGINT", "INTEGER", "SMALLINT"):
        return str(int(value))
    return "'" + value.replace("'", "''") + "'"


def render(text: str, manifest: dict) -> str:
    """Fill a sql/ file's templates for Spark: raw names to temp views, settings to literals."""
    settings = _settings(manifest)

    def sub(m: re.Match) -> str:
        kind, name = m.group(1), m.group(2)
        if kind in sqlfiles.TABLE_KINDS:  # a lake keeps each role whole: one relation, as LakeLayout
            if kind == "fixed":
                raise WarehouseError(f"SQL reads {{{{fixed.{name}}}}}, which a lake does not have")
            return f"raw_{name}"
        if kind == "filter":  # the datastack's proofread filter, as the DuckDB view applies it
            spec = json.loads(settings[f"warehouse.{name}_filter"][1])
            return (
                "("
                + " AND ".join(f"{col} = {_literal('VARCHAR', str(v))}" for col, v in sorted(spec.items()))
                + ")"
            )
        key = f"{kind}.{name}"
        if key not in settings:
            raise WarehouseError(f"SQL refers to unknown setting '{key}'")
        return _literal(*settings[key])

    return sqlfiles.PLACEHOLDER.sub(sub, text)


def _scalar_macros(manifest: dict) -> dict[str, tuple[list[str], exp.Expression]]:
    macros = {}
    for name in SCALAR_MACROS:
        create = sqlglot.parse(render(sql_text(name), manifest), read="duckdb")[0]
        if not isinstance(create, exp.Create) or str(create.args.get("kind")).upper() != "MACRO":
            raise WarehouseError(f"sql/macros/{name}.sql is not a scalar macro sqlglot can read")
        params = [p.name for p in create.this.expressions]
        macros[name] = (params, create.expression)
    return macros


def _put_in(body: exp.Expression, params: list[str], values: list[exp.Expression]) -> exp.Expression:
    """A copy of a macro's body with each parameter (an unqualified column of its name) replaced."""
    args = dict(zip(params, values, strict=True))
    return body.copy().transform(
        lambda n: args[n.name].copy() if isinstance(n, exp.Column) and not n.table and n.name in args else n
    )


def _inline(tree: exp.Expression, macros: dict[str, tuple[list[str], exp.Expression]]) -> exp.Expression:
    """Replace each call of a scalar macro by its body with the arguments put in (repeatedly, for nesting)."""

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() in macros:
            params, body = macros[node.name.lower()]
            return exp.Paren(this=_inline(_put_in(body, params, node.expressions), macros))
        return node

    return tree.transform(visit)


def _table_macro(name: str, manifest: dict) -> tuple[list[str], exp.Expression]:
    """A DuckDB table macro's parameter names (defaults dropped) and parsed body, from its sql/ file.
    sqlglot cannot parse the CREATE MACRO ... AS TABLE statement (a named default such as
    ``direction := 'output'``), so the body is cut out and parsed alone."""
    m = _TABLE_MACRO.search(sql_text(name))
    if not m or m.group(1) != name:
        raise WarehouseError(f"sql/ file for {name} is not a table macro this module can read")
    params = [p.split(":=")[0].strip() for p in m.group("params").split(",")]
    return params, sqlglot.parse_one(render(m.group("body"), manifest), read="duckdb")


def _table_macros(manifest: dict) -> dict[str, tuple[list[str], exp.Expression]]:
    """Each of TABLE_MACROS as (parameters, parsed body)."""
    return {name: _table_macro(name, manifest) for name in TABLE_MACROS}


def _inline_tables(
    tree: exp.Expression, macros: dict[str, tuple[list[str], exp.Expression]]
) -> exp.Expression:
    """Replace each ``FROM macro(args) alias`` by the macro's body as a subquery, the arguments put in.

    Each WHERE of the inlined body is then simplified, so constant tests of the arguments fold
    away as DuckDB folds them: ``cell_types_of(NULL, NULL)`` reaches Spark as the merge alone,
    without an ``explode(NULL)`` for it to type."""

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
            name = node.this.name.lower()
            if name in macros:
                params, body = macros[name]
                out = _put_in(body, params, node.this.expressions)
                for where in out.find_all(exp.Where):
                    where.set("this", simplify(where.this))
                return exp.Subquery(
                    this=_inline_tables(out, macros),
                    alias=exp.TableAlias(this=exp.to_identifier(node.alias or name)),
                )
        return node

    return tree.transform(visit)


def _rename_meta(tree: exp.Expression) -> exp.Expression:
    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db == "meta":
            return exp.Table(this=exp.to_identifier(f"meta_{node.name}"), alias=node.args.get("alias"))
        return node

    return tree.transform(visit)


def view_sql(name: str, manifest: dict) -> str:
    """The Spark SQL statement creating the temp view ``name``, transpiled from its DuckDB file."""
    if name not in VIEWS:
        raise WarehouseError(f"no Spark version of {name}; Spark views: {', '.join(VIEWS)}")
    statements = sqlglot.parse(render(sql_text(name), manifest), read="duckdb")
    creates = [
        s for s in statements if isinstance(s, exp.Create) and str(s.args.get("kind")).upper() == "VIEW"
    ]
    if len(creates) != 1:
        raise WarehouseError(f"sql file for {name} should create exactly one view")
    query = _rename_meta(
        _inline(_inline_tables(creates[0].expression, _table_macros(manifest)), _scalar_macros(manifest))
    )
    dropped = DROPPED_COLUMNS.get(name, ())
    if dropped:
        select = query if isinstance(query, exp.Select) else query.find(exp.Select)
        select.set("expressions", [e for e in select.expressions if e.alias_or_name not in dropped])
    return f"CREATE OR REPLACE TEMPORARY VIEW {name} AS " + query.sql(dialect="spark")


def partners_sql(manifest: dict, root_id: int, version: int, direction: str = "output") -> str:
    """Spark SQL for ``partners(root_id, version, direction)``, from the DuckDB table macro's body."""
    if direction not in ("output", "input"):
        raise WarehouseError(f"direction must be 'output' or 'input', not {direction!r}")
    params, body = _table_macro("partners", manifest)
    values = {"root_id": exp.Literal.number(int(root_id)), "v": exp.Literal.number(int(version))}
    values["direction"] = exp.Literal.string(direction)
    if set(params) != set(values):
        raise WarehouseError(f"partners macro parameters changed ({', '.join(params)}); update spark_sql.py")

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in values:
            return values[node.name].copy()
        # require_snapshot() is checked by the caller (in the inlined macros too: this runs after
        # the inlining); a subquery of only such calls becomes TRUE.
        if isinstance(node, exp.Anonymous) and node.name.lower() in (
            "require_snapshot",
            "require_synapses_of",
        ):
            return exp.true()  # and SparkLake.partners checks the root is held whole
        # error() is DuckDB's way to fail with a message; the direction was checked above.
        if isinstance(node, exp.Anonymous) and node.name.lower() == "error":
            return exp.false()
        return node

    tree = _rename_meta(
        _inline(_inline_tables(body, _table_macros(manifest)).transform(visit), _scalar_macros(manifest))
    )
    return tree.sql(dialect="spark")


def _load(spark: Any, path: os.PathLike[str] | str, delta_version: int | None, reader: str) -> Any:
    """One committed Delta version of the table at ``path`` as a DataFrame, through ``reader``."""
    if reader == "delta":
        read = spark.read.format("delta")
        if delta_version is not None:
            read = read.option("versionAsOf", delta_version)
        return read.load(str(path))
    files = lake.data_files(path, delta_version)  # refuses tables whose files alone are not the rows
    table = lake._open(Path(path), delta_version)
    if table.metadata().partition_columns:  # their values are in folder names, which a file list drops
        raise WarehouseError(f"Delta table {path} is partitioned; read it with reader='delta'")
    # The Delta schema, given, not inferred: no Spark job reads the footers, and the types are the
    # table's whatever Spark's Parquet inference settings are. A version with no rows has no files.
    schema = _spark_schema(table.schema().to_arrow())
    return spark.read.schema(schema).parquet(*files) if files else spark.createDataFrame([], schema)


def _spark_schema(schema: Any) -> str:
    """A Spark DDL schema for a Delta table's Arrow schema, of the types the lake writes."""
    import pyarrow as pa

    def spark_type(t: pa.DataType) -> str:
        for test, name in (
            (pa.types.is_int64, "BIGINT"),
            (pa.types.is_int32, "INT"),
            (pa.types.is_int16, "SMALLINT"),
            (pa.types.is_int8, "TINYINT"),
            (pa.types.is_boolean, "BOOLEAN"),
            (pa.types.is_float64, "DOUBLE"),
            (pa.types.is_float32, "FLOAT"),
            (pa.types.is_string, "STRING"),
            (pa.types.is_large_string, "STRING"),
            (pa.types.is_date32, "DATE"),
        ):
            if test(t):
                return name
        if pa.types.is_timestamp(t):
            return "TIMESTAMP" if t.tz else "TIMESTAMP_NTZ"
        raise WarehouseError(f"no Spark type for the lake column type {t}")

    fields = [pa.field(f) for f in schema]  # delta-rs gives arro3 fields; pyarrow reads them as is
    return ", ".join(f"`{f.name}` {spark_type(f.type)}" for f in fields)


def raw_frame(
    spark: Any, root: str | os.PathLike[str], manifest: dict, role: str, version: int, reader: str = "delta"
) -> Any:
    """One role's exported rows at one version as a Spark DataFrame, as the raw relation held them."""
    if reader not in READERS:
        raise WarehouseError(f"reader must be one of {', '.join(READERS)}, not {reader!r}")
    entry = lake_export.table_entry(manifest, role, version)
    base = lake.check_root(root) / manifest["datastack"]
    rows = _load(spark, base / entry["path"], entry["delta_version"], reader)
    if entry["layout"] == "split":
        fixed = _load(spark, base / entry["fixed"]["path"], entry["fixed"]["delta_version"], reader)
        fixed = fixed.select(*[c for c in fixed.columns if c == "id" or c not in rows.columns])
        rows = rows.join(fixed, on="id", how="inner")
    return rows.select(*entry["columns"])


def _empty_frame(spark: Any, role: str) -> Any:
    """No rows, in the raw relation's columns and types."""
    import pyarrow as pa

    raw = pa.schema([pa.field("snapshot_id", pa.int32()), pa.field("version", pa.int32()), *schema_of(role)])
    return spark.createDataFrame([], _spark_schema(raw))


@dataclass
class SparkLake:
    """A Spark session with a lake's views registered: what :func:`register_lake` returns."""

    spark: Any
    root: Path
    manifest: dict
    versions: list[int]

    def view(self, name: str, version: int | None = None) -> Any:
        """A registered view as a DataFrame, at one version if given."""
        if name not in VIEWS:
            raise WarehouseError(f"no Spark view {name}; Spark views: {', '.join(VIEWS)}")
        frame = self.spark.table(name)
        if version is not None:
            self._require(version)
            self._require_roles(name, version)
            frame = frame.where(frame.version == version)
        return frame

    def _require_roles(self, name: str, version: int) -> None:
        """As at_version in DuckDB: every table the view reads must be in the lake at the version,
        or the answer would be silently empty or partial."""
        held = {t["role"] for t in self.manifest["tables"] if t["version"] == version}
        missing = [r for r in sqlfiles.view_roles().get(name, ()) if r not in held]
        if missing:
            raise WarehouseError(
                f"{name} at version {version} needs the {', '.join(missing)} table(s), which the lake "
                f"does not hold at that version; run: mwh ingest --datastack {self.manifest['datastack']} "
                f"--version {version}"
            )

    def partners(self, root_id: int, version: int, direction: str = "output") -> Any:
        """One neuron's partners at a version by synapse count, as DuckDB's ``partners`` macro gives them.

        A version not registered is refused by name, as ``require_snapshot`` does in DuckDB, and so is
        a version without a table the macro reads (the cell types), where DuckDB's checks are gone
        from the Spark SQL.
        """
        if direction not in ("output", "input"):
            raise WarehouseError(f"direction must be 'output' or 'input', not {direction!r}")
        self._require(version)
        self._require_roles("partners", version)  # as Warehouse.partners: the cell types too
        self._require_whole(int(root_id), version)
        return self.spark.sql(partners_sql(self.manifest, root_id, version, direction))

    def _require_whole(self, root_id: int, version: int) -> None:
        """As require_synapses_of in DuckDB: the lake must hold every synapse of the root."""
        meta = self.manifest["meta"]
        cols = [c for c, _ in meta["snapshots"]["columns"]]
        current = {
            sid
            for t in self.manifest["tables"]
            if t["role"] == "synapses" and t["version"] == version
            for sid in t.get("current_snapshot_ids", [t["current_snapshot_id"]])
        }
        kinds = {
            json.loads(dict(zip(cols, row, strict=True))["query"] or "{}").get("kind")
            for row in meta["snapshots"]["rows"]
            if int(dict(zip(cols, row, strict=True))["snapshot_id"]) in current
        }
        if kinds & set(snapshots.WHOLE_TABLE_KINDS):
            return
        covered = {
            int(r[1]) for r in meta.get("snapshot_roots", {"rows": []})["rows"] if int(r[0]) in current
        }
        if root_id not in covered:
            raise WarehouseError(
                f"the lake holds only part of the synapses of root id {root_id} at version {version}; "
                f"take them all with: mwh ingest --datastack {self.manifest['datastack']} --version {version} --root-ids {root_id}"
            )

    def _require(self, version: int) -> None:
        if version not in self.versions:
            raise WarehouseError(
                f"version {version} is not registered from the lake at {self.root}; registered: "
                f"{', '.join(map(str, self.versions))}"
            )


def register_lake(
    spark: Any,
    root: str | os.PathLike[str],
    datastack: str,
    versions: list[int] | None = None,
    *,
    reader: str = "delta",
) -> SparkLake:
    """Create the raw, meta and analysis temp views over a lake in ``spark``.

    ``versions`` defaults to every version the manifest has a proofreading table for; each role's
    view is the union of its Delta tables at those versions. Temp views belong to the session, so
    registering again (other versions) replaces them. ``reader`` is ``"delta"`` (Spark's Delta
    source) or ``"parquet"`` (each committed version's exact Parquet files, for a Spark without
    Delta); the views over the raw tables are the same either way.
    """
    manifest = lake_export.read_manifest(root, datastack)
    have = sorted({t["version"] for t in manifest["tables"] if t["role"] == "proofreading"})
    versions = have if versions is None else sorted(versions)
    if not versions:
        raise WarehouseError(f"the lake at {root} has no versions of {datastack}")
    for role in ROLE_NAMES:
        # A role the lake lacks at a version (a warehouse fed only synapses and proofreading, say)
        # reads as no rows, as the DuckDB raw view of a role never ingested does.
        held = {t["version"] for t in manifest["tables"] if t["role"] == role}
        frames = [raw_frame(spark, root, manifest, role, v, reader) for v in versions if v in held]
        frame = frames[0] if frames else _empty_frame(spark, role)
        for f in frames[1:]:
            frame = frame.unionByName(f)
        frame.createOrReplaceTempView(f"raw_{role}")
    # A version's synapse snapshots add up, so a table can have several current ones.
    current = [
        (t["role"], t["version"], sid)
        for t in manifest["tables"]
        if t["version"] in versions
        for sid in t.get("current_snapshot_ids", [t["current_snapshot_id"]])
    ]
    spark.createDataFrame(current, "role string, version int, snapshot_id int").createOrReplaceTempView(
        "meta_current_snapshots"
    )
    for name in VIEWS:
        spark.sql(view_sql(name, manifest))
    return SparkLake(spark=spark, root=lake.check_root(root), manifest=manifest, versions=versions)
