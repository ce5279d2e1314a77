"""Export a single-file warehouse to a lake: every complete snapshot as Delta tables, plus a manifest.

What is written, under ``{root}/{datastack}/`` (see :mod:`warehouse.lake` for the layout):

- ``v{version}/{table}``: for each table role and version, the rows of that version's complete
  snapshots exactly as the raw relation holds them (``snapshot_id``, ``version``, then CAVE's
  columns), one Delta commit each. With ``split_synapses=True`` the synapse table is written as
  ``{table}__fixed`` (appended with only ids not yet in the lake) and ``v{version}/{table}__rows``.
- ``_manifest.json``: the export's commit point, replaced atomically after every table it names
  has committed. It holds every ``meta`` table of the file (column names, DuckDB types and each
  value as DuckDB's own text form, which casts back exactly), so an import into a fresh warehouse
  can restore ``meta`` row for row, and one entry per exported table: its role, version, snapshot
  ids, the current snapshot (what ``meta.current_snapshots`` picks), row count, path and the Delta
  version to read. A reader that is not DuckDB (Spark, polars) needs nothing else.

A re-run exports only what the manifest does not list yet; a table folder left by a killed export
and not in the manifest is overwritten in a new Delta version (its old files are then orphans for
:func:`warehouse.lake.remove_orphans`). Rows of snapshots that never completed are not exported:
their meta rows are kept, so the record of the attempt survives, but an ingest cannot resume from
a lake.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from . import lake
from .errors import WarehouseError

MANIFEST = "_manifest.json"
FORMAT = "microns-warehouse-lake"
FORMAT_VERSION = 1
META_TABLES = ("warehouse", "datastack", "versions", "snapshots", "chunks", "snapshot_roots")
BATCH_ROWS = 256 * 1024


@dataclass
class ExportResult:
    """What an export wrote (tables skipped because the manifest already had them are not counted)."""

    root: Path
    datastack: str
    manifest: Path
    written: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def manifest_path(root: str | os.PathLike[str], datastack: str) -> Path:
    return lake.check_root(root) / lake._check_name("datastack", datastack) / MANIFEST


def read_manifest(root: str | os.PathLike[str], datastack: str) -> dict:
    """The lake's manifest for a datastack; a WarehouseError if there is none or it is not one."""
    path = manifest_path(root, datastack)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise WarehouseError(f"no lake manifest at {path}; export a warehouse there first") from None
    except (OSError, ValueError) as exc:
        raise WarehouseError(f"cannot read lake manifest {path}: {exc}") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version", 0) > FORMAT_VERSION:
        raise WarehouseError(f"{path} is not a lake manifest this warehouse can read")
    return manifest


def _write_manifest(path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dump_meta(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Every meta table as columns with DuckDB types and rows of text values (None for NULL).

    Text, not JSON numbers or ISO strings, because DuckDB's cast of a value to VARCHAR and back to
    its type is exact for every type here (TIMESTAMPTZ to the microsecond, DOUBLE to the last bit).
    """
    out = {}
    for name in META_TABLES:
        cols = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'meta' AND table_name = ? ORDER BY ordinal_position",
            [name],
        ).fetchall()
        if not cols:
            raise WarehouseError(f"the warehouse has no meta.{name} table; is it a warehouse file?")
        select = ", ".join(f"CAST({_q(c)} AS VARCHAR)" for c, _ in cols)
        order = ", ".join(str(i + 1) for i in range(len(cols)))
        rows = con.execute(f"SELECT {select} FROM meta.{_q(name)} ORDER BY {order}").fetchall()
        out[name] = {"columns": [[c, t] for c, t in cols], "rows": [list(r) for r in rows]}
    return out


def restore_meta(con: duckdb.DuckDBPyConnection, manifest: dict, schema: str = "meta") -> None:
    """Recreate the manifest's meta tables in ``schema`` of ``con``, values cast back to their types.

    The import into a fresh warehouse will insert into the tables its schema module creates; this
    is the part that turns the manifest's text back into typed rows, and what the round-trip test
    compares with the source file's meta.
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
    for name, table in manifest["meta"].items():
        cols = table["columns"]
        ddl = ", ".join(f"{_q(c)} {t}" for c, t in cols)
        con.execute(f"CREATE TABLE {_q(schema)}.{_q(name)} ({ddl})")
        if table["rows"]:
            casts = ", ".join(f"CAST(? AS {t})" for _, t in cols)
            con.executemany(f"INSERT INTO {_q(schema)}.{_q(name)} SELECT {casts}", table["rows"])


def _complete_snapshots(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(role, table, version, current snapshot ids, rows stored, newest id) per table and version.

    The current snapshots are what views read: the newest complete one, or every complete one of
    the synapse table (a version's synapse snapshots add up, each synapse stored once, so the rows
    stored are counted rather than the snapshots' own row counts summed)."""
    out = []
    for role, table, version, ids in con.execute(
        "SELECT role, table_name, version, list(snapshot_id ORDER BY snapshot_id) FROM meta.current_snapshots "
        "GROUP BY ALL ORDER BY version, role"
    ).fetchall():
        rows = con.execute(
            f"SELECT count(*) FROM raw.{_q(table)} WHERE snapshot_id IN (SELECT unnest(?))", [ids]
        ).fetchall()[0][0]
        out.append((role, table, version, ids, rows, ids[-1]))
    return out


def _relation_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _stream(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    """The query's rows as a record-batch stream, never whole in memory (duckdb 2.x and 1.4 names)."""
    rel = con.sql(query, params=params)
    reader = getattr(rel, "to_arrow_reader", None) or rel.fetch_record_batch
    return reader(BATCH_ROWS)


def export_warehouse(
    db: str | os.PathLike[str] | duckdb.DuckDBPyConnection,
    root: str | os.PathLike[str],
    *,
    split_synapses: bool = False,
    versions: list[int] | None = None,
    on_table: Callable[[dict], None] | None = None,
) -> ExportResult:
    """Export every complete snapshot of a warehouse file (or open connection) to the lake at ``root``.

    ``versions`` limits the export to some versions (the manifest still lists all of meta);
    ``on_table`` is called with each manifest entry once its table has committed (for progress).
    """
    root = lake.check_root(root)
    own = not isinstance(db, duckdb.DuckDBPyConnection)
    if own:
        if not Path(db).is_file():
            raise WarehouseError(f"no warehouse file at {db}")
        try:
            con = duckdb.connect(str(db), read_only=True)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open {db} as a warehouse: {exc}") from None
    else:
        con = db
    try:
        con.execute("SET TimeZone = 'UTC'")
        return _export(con, root, split_synapses, versions, on_table)
    finally:
        if own:
            con.close()


def _export(con, root: Path, split_synapses: bool, versions, on_table) -> ExportResult:
    meta = dump_meta(con)
    stacks = [r[0] for r in con.execute("SELECT name FROM meta.datastack").fetchall()]
    if len(stacks) != 1:
        raise WarehouseError(f"expected one datastack in meta.datastack, found {len(stacks)}")
    datastack = stacks[0]
    mpath = manifest_path(root, datastack)
    old = read_manifest(root, datastack) if mpath.exists() else None
    if old is not None and old["datastack"] != datastack:
        raise WarehouseError(f"lake manifest {mpath} is for datastack {old['datastack']}, not {datastack}")
    if old is not None:
        layout = old["layout"]["synapses"]
        if layout != ("split" if split_synapses else "full"):
            raise WarehouseError(
                f"the lake at {root} stores synapses {layout}; export again with the same layout or to a new root"
            )
    done = {(t["role"], t["version"]): t for t in (old or {}).get("tables", [])}
    result = ExportResult(root=root, datastack=datastack, manifest=mpath)
    entries = dict(done)
    base = root / datastack
    for role, table, version, snap_ids, rows, current in _complete_snapshots(con):
        if versions is not None and version not in versions:
            continue
        prior = done.get((role, version))
        if prior is not None and prior["snapshot_ids"] == snap_ids:
            result.skipped.append(prior)
            continue
        split = split_synapses and role == "synapses"
        entry = {
            "role": role,
            "table": table,
            "version": version,
            "snapshot_ids": snap_ids,
            "current_snapshot_id": current,
            "current_snapshot_ids": snap_ids,
            "rows": rows,
            "layout": "split" if split else "full",
            "columns": _relation_columns(con, table),
        }
        ids = ", ".join(str(i) for i in snap_ids)
        sort = lake.SYNAPSE_SORT if role == "synapses" else lake.DEFAULT_SORT
        order = ", ".join([*sort, "snapshot_id"])
        if split:
            entry.update(_export_split(con, base, table, version, ids, order))
        else:
            path = lake.table_path(root, datastack, version, table)
            res = lake.write_table(
                path,
                _stream(con, f"SELECT * FROM raw.{_q(table)} WHERE snapshot_id IN ({ids}) ORDER BY {order}"),
                mode="overwrite" if lake.is_delta_table(path) else "error",
                description=f"{table} at v{version}, snapshots {ids}",
            )
            entry.update(
                path=path.relative_to(base).as_posix(), delta_version=res.delta_version, bytes=res.bytes
            )
            _check_rows(res.rows, rows, path)
        entries[(role, version)] = entry
        result.written.append(entry)
        if on_table is not None:
            on_table(entry)
    warehouse_meta = dict(r for r in meta["warehouse"]["rows"])
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "datastack": datastack,
        "exported_at": datetime.now(UTC).isoformat(),
        "source": {"warehouse_version": warehouse_meta.get("warehouse_version")},
        "layout": {"synapses": "split" if split_synapses else "full"},
        "meta": meta,
        "tables": sorted(entries.values(), key=lambda e: (e["version"], e["role"])),
    }
    _write_manifest(mpath, manifest)
    return result


def _check_rows(written: int, expected: int, path: Path) -> None:
    if written != expected:
        raise WarehouseError(f"{path}: wrote {written} rows but meta.snapshots says {expected}")


def _export_split(con, base: Path, table: str, version: int, ids: str, order: str) -> dict:
    """The split synapse layout for one version: new ids into ``__fixed``, root ids into ``__rows``."""
    fixed = base / f"{table}__fixed"
    rows_path = base / f"v{version}" / f"{table}__rows"
    fixed_cols = _relation_columns(con, f"{table}__fixed")
    row_cols = _relation_columns(con, f"{table}__rows")
    if not fixed_cols or not row_cols:
        raise WarehouseError(
            f"raw.{table} is not stored split in this warehouse; export with split_synapses off"
        )
    known = (
        f"AND f.id NOT IN (SELECT id FROM {lake.duckdb_source(fixed)})" if lake.is_delta_table(fixed) else ""
    )
    new = _stream(
        con,
        f"SELECT f.* FROM raw.{_q(table + '__fixed')} f "
        f"WHERE f.id IN (SELECT id FROM raw.{_q(table + '__rows')} WHERE snapshot_id IN ({ids})) {known} "
        "ORDER BY f.id",
    )
    fres = lake.write_table(fixed, new, mode="append", description=f"new {table} ids of v{version}")
    rres = lake.write_table(
        rows_path,
        _stream(
            con, f"SELECT * FROM raw.{_q(table + '__rows')} WHERE snapshot_id IN ({ids}) ORDER BY {order}"
        ),
        mode="overwrite" if lake.is_delta_table(rows_path) else "error",
        description=f"{table} root ids at v{version}",
    )
    return {
        "path": rows_path.relative_to(base).as_posix(),
        "delta_version": rres.delta_version,
        "bytes": rres.bytes,
        "fixed": {"path": fixed.relative_to(base).as_posix(), "delta_version": fres.delta_version},
    }


def table_entry(manifest: dict, role: str, version: int) -> dict:
    """The manifest entry of one role at one version, or an error naming the versions there are."""
    for t in manifest["tables"]:
        if t["role"] == role and t["version"] == version:
            return t
    have = sorted({t["version"] for t in manifest["tables"] if t["role"] == role})
    raise WarehouseError(
        f"the lake has no {role} table at version {version}; versions there: {', '.join(map(str, have)) or 'none'}"
    )


def duckdb_relation_sql(root: str | os.PathLike[str], manifest: dict, role: str, version: int) -> str:
    """A DuckDB query giving one exported table exactly as the raw relation held it (no extension).

    The split layout joins ``__rows`` with ``__fixed`` at the recorded Delta version, columns in the
    raw view's order.
    """
    entry = table_entry(manifest, role, version)
    base = lake.check_root(root) / manifest["datastack"]
    src = lake.duckdb_source(base / entry["path"], entry["delta_version"])
    if entry["layout"] == "full":
        return f"SELECT * FROM {src}"
    fixed = lake.duckdb_source(base / entry["fixed"]["path"], entry["fixed"]["delta_version"])
    row_cols = set(_columns_of(base / entry["path"]))
    cols = ", ".join(f"r.{_q(c)}" if c in row_cols else f"f.{_q(c)}" for c in entry["columns"])
    return f"SELECT {cols} FROM {src} r JOIN {fixed} f USING (id)"


def _columns_of(path: Path) -> list[str]:
    return [f.name for f in lake._open(path).schema().to_arrow()]
