"""Reads one version of a CAVE MaterializationEngine Delta Lake export as canonical Arrow tables.

The exporter (`materializationengine/workflows/deltalake_export.py`, v5.26.4) writes
``{bucket}/{datastack}/v{version}/{table}/{spec}``: one Delta table per *spec* (``id``, one per
B-tree-indexed column such as ``pre_pt_root_id``, at most one ``{col}_morton``), each holding ALL
rows of the table, partitioned by a ``{spec}_partition`` column. So a reader takes exactly ONE copy
per table (``id`` if present, else the first by name) and never unions copies: a union would
count every row once per copy.

What the export changes relative to what caveclient's ``query_table(split_positions=True)``
returns, and how this reader puts it back (the role's canonical schema, warehouse/registry.py):

* ``created``, ``deleted`` and ``superceded_id`` are dropped by the exporter by default. ``created``
  and ``superceded_id`` come back as NULL (the export simply does not carry them; a materialized
  version holds only undeleted, unsuperseded rows, so ``superceded_id`` is NULL in CAVE's answer
  too, while ``created`` is lost); ``valid``, should an export drop it, comes back as true (a
  materialized version holds only valid rows).
* PostGIS points stay EWKB binary, except the one point column the Morton copy is built on, which
  is decoded to ``{col}_x/_y/_z`` Int32 in every copy. Both are read: EWKB 3-D points (either byte
  order, with or without the SRID flag, Z or ZM) are decoded here to int64 voxels, and decoded
  Int32 columns are widened.
* The layout's own columns (``{spec}_partition``, ``{col}_morton``) are skipped.
* A reference table (a cell-type table) comes with its own columns only (``id, valid, target_id,
  ...``); its ``_ref`` columns are joined from the target (nucleus) export of the same version on
  ``target_id``, an inner join exactly like CAVE's merged answer (warehouse/registry.py puts the
  annotation columns first, then ``id_ref``: the first ``*_ref`` column marks where the target's
  columns start).

Anything else is refused by name before a row is read: an unknown column, a missing required one,
a type that cannot hold the role's values; a value that does not fit (a fraction in an integer
column, a non-point geometry) is refused with the column's name while reading. Batches stream: the
Delta version's Parquet files (warehouse.lake.data_files, which refuses tables whose files alone do
not give their rows) are scanned with pyarrow.dataset a few batches ahead, so memory stays bounded
whatever the table's size (the synapse table is 337 M rows at full scale).

Only local paths: object stores (``s3://``, ``gs://``) cannot be reached from these machines, so
a URI is refused in one line instead of half-working.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse import lake
from warehouse.config import DatastackConfig
from warehouse.errors import SourceError, WarehouseError
from warehouse.registry import ROLE_NAMES, role, schema_of

from .read_ahead import read_ahead

PREFERRED_SPEC = "id"
# Columns the exporter drops by default, and what this reader puts in their place.
FILLED_NULL = ("created", "superceded_id")
FILLED_TRUE = ("valid",)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_VERSION_DIR = re.compile(r"^v(\d+)$")

# EWKB geometry type flags (PostGIS liblwgeom) and ISO WKB type codes of a point.
_EWKB_Z, _EWKB_M, _EWKB_SRID = 0x80000000, 0x40000000, 0x20000000
_POINT = 1


class DeltaExportError(SourceError):
    """A Delta export that cannot be read as the table it claims to be; the message names the column."""


# ------------------------------------------------------------------------------------ finding copies
@dataclass(frozen=True)
class ExportCopy:
    """One spec copy of one table of the export: the Delta table to read, at its current version."""

    role: str
    table: str  # the CAVE table name (the folder)
    spec: str  # the copy's spec ('id', 'pre_pt_root_id', 'ctr_pt_position_morton', ...); '' if unsplit
    path: Path
    delta_version: int
    files: tuple[str, ...]  # the version's Parquet files, in ascending min(id) where the log says
    schema: pa.Schema  # the Delta schema, partition columns included
    partition_columns: tuple[str, ...]
    rows: int  # from the log's add actions

    @property
    def label(self) -> str:
        return f"{self.table}/{self.spec}" if self.spec else self.table


@dataclass(frozen=True)
class ExportTable:
    """A role's copy, and for a reference role the target's copy its `_ref` columns come from."""

    copy: ExportCopy
    reference: ExportCopy | None = None

    @property
    def role(self) -> str:
        return self.copy.role

    @property
    def label(self) -> str:
        return self.copy.label


def check_local(path: str | Path) -> Path:
    """The export's location as a local path; an object-store URI is refused in one line."""
    text = str(path)
    if _URI.match(text) and not text.startswith("file://"):
        raise DeltaExportError(
            f"--delta {text}: object-store URIs cannot be reached from this machine; "
            "copy the export's version folder to a local disk and give its path"
        )
    return Path(text.removeprefix("file://")).expanduser()


def version_folder(path: str | Path, cfg: DatastackConfig, version: int) -> Path:
    """The export's `v{version}` folder: `path` itself, or `path/v{version}`, or
    `path/{datastack}/v{version}` (the bucket root), whichever holds a configured table."""
    base = check_local(path)
    if not base.exists():
        raise DeltaExportError(f"--delta {base} does not exist")
    if not base.is_dir():
        raise DeltaExportError(f"--delta {base} is not a folder (an export is a folder of Delta tables)")
    m = _VERSION_DIR.match(base.name)
    if m and int(m.group(1)) != version:
        raise DeltaExportError(
            f"--delta {base} is the export of version {m.group(1)}, not of version {version}"
        )
    tables = {cfg.table(r) for r in ROLE_NAMES}
    for candidate in (base, base / f"v{version}", base / cfg.name / f"v{version}"):
        if candidate.is_dir() and any((candidate / t).is_dir() for t in tables):
            return candidate
    raise DeltaExportError(
        f"no export of version {version} at {base}; looked for table folders "
        f"({', '.join(sorted(tables))}) in it, in v{version}/ and in {cfg.name}/v{version}/"
    )


def spec_copies(table_dir: Path) -> list[str]:
    """The spec copies present under a table's folder ('' when the folder is itself a Delta table)."""
    if lake.is_delta_table(table_dir):
        return [""]
    if not table_dir.is_dir():
        return []
    return sorted(p.name for p in table_dir.iterdir() if p.is_dir() and lake.is_delta_table(p))


def open_copy(table_dir: Path, role_name: str, spec: str | None = None) -> ExportCopy:
    """One spec copy of a table: `spec` if given, else 'id', else the first present by name."""
    specs = spec_copies(table_dir)
    if not specs:
        raise DeltaExportError(f"{table_dir} holds no Delta table (no spec folder with a _delta_log)")
    if spec is None:
        spec = PREFERRED_SPEC if PREFERRED_SPEC in specs else specs[0]
    elif spec not in specs:
        raise DeltaExportError(f"{table_dir.name} has no spec copy {spec!r}; copies: {', '.join(specs)}")
    path = table_dir / spec if spec else table_dir
    from deltalake import DeltaTable

    try:
        files = lake.data_files(path)
        dt = DeltaTable(str(path))
    except WarehouseError as exc:
        raise DeltaExportError(f"{table_dir.name}/{spec}: {exc}") from None
    schema = pa.schema(dt.schema().to_arrow())
    adds = pa.table(dt.get_add_actions(flatten=True))
    rows = int(pc.sum(adds.column("num_records")).as_py() or 0) if adds.num_rows else 0
    return ExportCopy(
        role=role_name,
        table=table_dir.name,
        spec=spec,
        path=path,
        delta_version=dt.version(),
        files=tuple(_in_id_order(path, files, adds)),
        schema=schema,
        partition_columns=tuple(dt.metadata().partition_columns),
        rows=rows,
    )


def _in_id_order(path: Path, files: list[str], adds: pa.Table) -> list[str]:
    """The files by their smallest id (from the log's statistics), so an `id` copy reads in id order
    and the store's appender skips its dedup probe; the log's order where statistics are missing."""
    if "min.id" not in adds.column_names or adds.column("min.id").null_count:
        return files
    rank = {
        str((path / urllib.parse.unquote(p)).resolve()): m
        for p, m in zip(adds.column("path").to_pylist(), adds.column("min.id").to_pylist(), strict=True)
    }
    if any(str(Path(f).resolve()) not in rank for f in files):
        return files
    return sorted(files, key=lambda f: rank[str(Path(f).resolve())])


def find_export(
    path: str | Path,
    cfg: DatastackConfig,
    version: int,
    roles: list[str] | None = None,
    specs: dict[str, str] | None = None,
) -> list[ExportTable]:
    """The export's tables for `roles` (all configured roles found, if None), in role order.

    A role asked for by name must be there; a reference role also needs its target's export of the
    same version. `specs` picks a copy per role (default: 'id', else the first present).
    """
    folder = version_folder(path, cfg, version)
    wanted = list(roles) if roles else list(ROLE_NAMES)
    for r in wanted:
        role(r)
    specs = specs or {}
    found = []
    for r in [n for n in ROLE_NAMES if n in wanted]:
        table_dir = folder / cfg.table(r)
        if not spec_copies(table_dir):
            if roles:
                raise DeltaExportError(f"no Delta table for the {r} table {cfg.table(r)} in {folder}")
            continue
        ref = None
        target = role(r).reference
        if target:
            target_dir = folder / cfg.table(target)
            if not spec_copies(target_dir):
                raise DeltaExportError(
                    f"{cfg.table(r)} references {cfg.table(target)}, whose export of version {version} "
                    f"is not in {folder}: its root ids and positions come from there"
                )
            ref = open_copy(target_dir, target, specs.get(target))
        found.append(ExportTable(open_copy(table_dir, r, specs.get(r)), ref))
    if not found:
        looked = ", ".join(cfg.table(r) for r in wanted)
        raise DeltaExportError(f"no Delta tables in {folder}; looked for: {looked}")
    return found


# ------------------------------------------------------------------------------------ the columns
def own_columns(role_name: str) -> list[str]:
    """The columns a role's own export carries: all of them, or for a reference role those before
    the first `*_ref` column (the rest are joined from the target)."""
    names = schema_of(role_name).names
    if not role(role_name).reference:
        return names
    first = next(i for i, n in enumerate(names) if n.endswith("_ref"))
    return names[:first]


def _points(names: list[str]) -> list[str]:
    return [n[:-2] for n in names if n.endswith("_x") and f"{n[:-2]}_y" in names and f"{n[:-2]}_z" in names]


@dataclass(frozen=True)
class ColumnPlan:
    """How a copy's columns become the role's own canonical columns."""

    copy: ExportCopy
    schema: pa.Schema  # the output: the role's own columns, canonical types
    read: list[str]  # columns read from the Parquet files
    ewkb: list[str] = field(default_factory=list)  # point columns decoded from EWKB to _x/_y/_z
    filled_null: list[str] = field(default_factory=list)
    filled_true: list[str] = field(default_factory=list)


def plan_columns(copy: ExportCopy, columns: list[str] | None = None) -> ColumnPlan:
    """Match a copy's columns to the role's schema by name and type, or say which one is wrong."""
    full = schema_of(copy.role)
    names = columns or own_columns(copy.role)
    out = pa.schema([full.field(n) for n in names])
    points = _points(names)
    where = copy.label
    layout = {f"{copy.spec}_partition", *copy.partition_columns, *(f"{p}_morton" for p in points)}
    read, ewkb, provided = [], [], set()
    for f in copy.schema:
        if f.name in layout:
            continue
        if f.name in points:
            if not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)):
                raise DeltaExportError(
                    f"{where}: point column {f.name} is {f.type}; expected EWKB binary or {f.name}_x/_y/_z"
                )
            ewkb.append(f.name)
            read.append(f.name)
            provided.update(f"{f.name}_{a}" for a in "xyz")
            continue
        if f.name not in names:
            raise DeltaExportError(
                f"{where}: column {f.name} ({f.type}) is not a column of the {copy.role} table "
                f"(expected: {', '.join(names)})"
            )
        _check_type(where, f.name, f.type, out.field(f.name).type)
        if f.name in provided:
            raise DeltaExportError(f"{where}: column {f.name} is given both as EWKB and as a decoded column")
        read.append(f.name)
        provided.add(f.name)
    missing = [n for n in names if n not in provided]
    filled_null = [n for n in missing if n in FILLED_NULL]
    filled_true = [n for n in missing if n in FILLED_TRUE]
    absent = [n for n in missing if n not in filled_null and n not in filled_true]
    if absent:
        raise DeltaExportError(
            f"{where}: the {copy.role} table needs column(s) {', '.join(absent)}, absent here"
        )
    return ColumnPlan(copy, out, read, ewkb, filled_null, filled_true)


def narrow_plan(plan: ColumnPlan, columns: tuple[str, ...]) -> ColumnPlan:
    """The same copy read for only `columns`, plain columns all (a synapse table's id and root ids):
    Parquet reads just those column chunks, so a later version skips most of the bytes."""
    if any(c not in plan.read for c in columns):
        raise DeltaExportError(f"{plan.copy.label}: cannot read only {', '.join(columns)} from this copy")
    return ColumnPlan(plan.copy, pa.schema([plan.schema.field(c) for c in columns]), list(columns))


def _check_type(where: str, name: str, have: pa.DataType, want: pa.DataType) -> None:
    """Refuse a type that cannot hold the role's values (a cast that is merely wider or narrower is
    checked value by value while reading)."""
    ok = False
    if pa.types.is_integer(want):
        ok = pa.types.is_integer(have) or pa.types.is_floating(have)  # a float must hold whole numbers
    elif pa.types.is_floating(want):
        ok = pa.types.is_integer(have) or pa.types.is_floating(have)
    elif pa.types.is_boolean(want):
        ok = pa.types.is_boolean(have)
    elif pa.types.is_timestamp(want):
        ok = pa.types.is_timestamp(have)
    elif pa.types.is_string(want):
        ok = pa.types.is_string(have) or pa.types.is_large_string(have) or pa.types.is_string_view(have)
    if not ok:
        raise DeltaExportError(f"{where}: column {name} is {have}, which cannot hold {want} values")


# ------------------------------------------------------------------------------------ points
def decode_ewkb_points(arr: pa.Array | pa.ChunkedArray, column: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """x, y, z int64 arrays of a column of PostGIS EWKB (or ISO WKB) 3-D points; NULL stays NULL.

    Vectorised over the value buffer, never per row: points of one shape (one byte order and
    flags, as an exporter writes them) are rows of one byte matrix and 1 M decode in tens of
    milliseconds; mixed shapes take a per-byte gather (~1 s per million). Refuses (naming the column) anything that is not a 3-D point
    or whose coordinates are not whole voxels.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_large_binary(arr.type):
        off_type = np.int64
    else:
        arr = arr.cast(pa.binary())
        off_type = np.int32
    n = len(arr)
    valid = np.ones(n, bool) if arr.null_count == 0 else np.asarray(arr.is_valid())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    all_lengths = np.diff(offsets)
    lengths = all_lengths[valid]
    fast = _uniform_points(data, offsets, all_lengths, valid, lengths)
    if fast is not None and arr.null_count == 0:
        return _arrays(_whole(fast, column), None)
    out = np.zeros((n, 3), dtype=np.int64)
    if fast is not None:
        out[valid] = _whole(fast, column)
        lengths = lengths[:0]  # done
    starts = offsets[:-1][valid] if len(lengths) else offsets[:0]
    if len(starts):
        if lengths.min() < 5 + 24:
            raise DeltaExportError(f"column {column}: a value of {lengths.min()} bytes is not a 3-D point")
        little = data[starts] == 1
        if not np.all(little | (data[starts] == 0)):
            raise DeltaExportError(f"column {column}: not WKB (the first byte is not a byte-order mark)")
        tb = data[starts[:, None] + 1 + np.arange(4)].astype(np.uint64)
        le = tb[:, 0] | tb[:, 1] << 8 | tb[:, 2] << 16 | tb[:, 3] << 24
        be = tb[:, 3] | tb[:, 2] << 8 | tb[:, 1] << 16 | tb[:, 0] << 24
        typ = np.where(little, le, be)
        srid = (typ & _EWKB_SRID) != 0
        base = typ & 0x0FFFFFFF
        has_z = ((typ & _EWKB_Z) != 0) | np.isin(base, (1001, 3001))
        has_m = ((typ & _EWKB_M) != 0) | np.isin(base, (2001, 3001))
        if not np.all(np.isin(base % 1000, (_POINT,)) & has_z):
            raise DeltaExportError(f"column {column}: holds geometries that are not 3-D points")
        coord = starts + 5 + 4 * srid
        if not np.all(lengths == 5 + 4 * srid + 8 * (3 + has_m)):
            raise DeltaExportError(f"column {column}: a point's length does not match its EWKB header")
        raw = data[coord[:, None] + np.arange(24)]
        xyz = np.empty((len(starts), 3), dtype=np.float64)
        if little.any():
            xyz[little] = raw[little].copy().view("<f8")
        if (~little).any():
            xyz[~little] = raw[~little].copy().view(">f8")
        out[valid] = _whole(xyz, column)
    return _arrays(out, None if valid.all() else ~valid)


def _arrays(xyz: np.ndarray, mask: np.ndarray | None) -> tuple[pa.Array, pa.Array, pa.Array]:
    x, y, z = (pa.array(np.ascontiguousarray(xyz[:, i]), pa.int64(), mask=mask) for i in range(3))
    return x, y, z


def _uniform_points(
    data: np.ndarray, offsets: np.ndarray, all_lengths: np.ndarray, valid: np.ndarray, lengths: np.ndarray
) -> np.ndarray | None:
    """The coordinates (n, 3) float64 when every point has the same header and length, as an
    exporter writes them (one SRID, one byte order): the values are then rows of one byte matrix
    and decode without a per-byte gather, ~50x faster. None when the values differ in shape."""
    if not len(lengths) or lengths.min() != lengths.max() or (all_lengths[~valid] != 0).any():
        return None
    width = int(lengths[0])
    if width < 29:
        return None
    rows = data[offsets[0] : offsets[0] + width * len(lengths)].reshape(-1, width)
    head = bytes(rows[0, : width - 24])
    little = head[0] == 1
    if head[0] not in (0, 1):
        return None
    typ = int.from_bytes(head[1:5], "little" if little else "big")
    base = typ & 0x0FFFFFFF
    srid = bool(typ & _EWKB_SRID)
    flag_z, flag_m = bool(typ & _EWKB_Z), bool(typ & _EWKB_M)
    iso_z = base in (1001, 3001)
    if base % 1000 != _POINT or not (flag_z or iso_z) or flag_m or base == 3001:
        return None  # M values or other shapes: the general path checks and refuses
    if width != 5 + 4 * srid + 24 or not (rows[:, :5] == rows[0, :5]).all():
        return None
    return rows[:, width - 24 :].copy().view("<f8" if little else ">f8").astype(np.float64)


def _whole(xyz: np.ndarray, column: str) -> np.ndarray:
    """Voxel coordinates as int64; PostGIS stores them as doubles, so any fraction is refused."""
    whole = xyz.astype(np.int64)
    if not np.array_equal(whole, xyz):
        raise DeltaExportError(f"column {column}: holds coordinates that are not whole voxels")
    return whole


# ------------------------------------------------------------------------------------ the data
def _convert(batch: pa.Table, plan: ColumnPlan) -> pa.Table:
    """A raw batch in the plan's output schema, one chunk per column (DuckDB appends those fastest)."""
    n = batch.num_rows
    decoded: dict[str, pa.Array] = {}
    for p in plan.ewkb:
        for axis, values in zip("xyz", decode_ewkb_points(batch.column(p), p), strict=True):
            decoded[f"{p}_{axis}"] = values
    columns = []
    for f in plan.schema:
        if f.name in decoded:
            columns.append(decoded[f.name])
            continue
        if f.name in plan.filled_null:
            columns.append(pa.nulls(n, f.type))
            continue
        if f.name in plan.filled_true:
            columns.append(pa.array(np.ones(n, bool)))
            continue
        col = batch.column(f.name).combine_chunks()
        if col.type != f.type:
            try:
                if pa.types.is_timestamp(col.type) and col.type.tz is None:
                    col = col.cast(pa.timestamp(col.type.unit, tz="UTC"))  # naive database times are UTC
                col = col.cast(f.type)  # safe: 12.5 does not become 12, 2^63 does not wrap
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DeltaExportError(f"column {f.name}: {str(exc).splitlines()[0]}") from None
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=plan.schema)


SCAN_BATCH_ROWS = 1 << 18


def _scan(plan: ColumnPlan, rows_per_batch: int) -> Iterator[pa.Table]:
    """The copy's rows in file order, about `rows_per_batch` at a time.

    One file at a time, one row group at a time: pyarrow's dataset scanner reads ahead without
    bound when its consumer is slower than the disk (DuckDB's appends are), 1.2-1.5 GB at 10 M
    synapse rows whatever its readahead settings. Batches of SCAN_BATCH_ROWS: with 1 M rows a
    batch the reader alone peaked at 0.6 GB, with 256 k at 0.37 GB, and ran faster (measured on
    625 k-row export files). The caller's read-ahead thread (read_batches) keeps the overlap with
    the appends. Each batch is converted as it comes (one chunk per column, no copy); small ones
    are gathered until half a batch.
    """
    copy = plan.copy
    pending: list[pa.Table] = []
    rows = 0
    for path in copy.files:
        for batch in pq.ParquetFile(path).iter_batches(
            batch_size=max(1, min(rows_per_batch, SCAN_BATCH_ROWS)), columns=plan.read, use_threads=True
        ):
            if not batch.num_rows:
                continue
            pending.append(_convert(pa.Table.from_batches([batch]), plan))
            rows += batch.num_rows
            if rows >= min(rows_per_batch, SCAN_BATCH_ROWS) // 2:
                yield _combined(pending)
                pending, rows = [], 0
    if pending:
        yield _combined(pending)


def _combined(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()


def read_reference(copy: ExportCopy, role_name: str) -> pa.Table:
    """The target's columns a reference role joins, renamed the way CAVE's merged answer names
    them (`id_ref`, `created_ref`, `valid_ref`, then the target's other columns). The target is a
    small table (one row per nucleus: ~144 k), read whole."""
    own = own_columns(role_name)
    full = schema_of(role_name)
    tplan = plan_columns(copy)
    target = pa.concat_tables(list(_scan(tplan, 1_000_000)) or [tplan.schema.empty_table()])
    keep = [c for c in target.column_names if c != "superceded_id"]  # not part of the merged answer
    renamed = {c: (c + "_ref" if c in own else c) for c in keep}
    wanted = full.names[len(own) :]
    if sorted(renamed.values()) != sorted(wanted):
        raise WarehouseError(
            f"the registry's {role_name} columns {', '.join(wanted)} do not match its target {copy.role}'s"
        )
    return target.select(keep).rename_columns([renamed[c] for c in keep])


def read_batches(
    table: ExportTable, rows_per_batch: int = 1_000_000, columns: tuple[str, ...] | None = None
) -> Iterator[pa.Table]:
    """Tables of about `rows_per_batch` rows in the role's canonical schema (or only `columns`).

    A producer thread scans, decodes and converts up to two batches ahead of the caller (the queue
    bounds memory), so on two cores reading overlaps the caller's DuckDB appends. A failure there
    is raised here as one line naming the copy and the column.
    """
    plan = plan_columns(table.copy)
    if columns is not None:
        plan = narrow_plan(plan, columns)
    ref = read_reference(table.reference, table.role) if table.reference is not None else None
    schema = schema_of(table.role)

    def produce() -> Iterator[pa.Table]:
        for batch in _scan(plan, rows_per_batch):
            yield batch if ref is None else _join(batch, ref, schema)

    return read_ahead(produce(), lambda exc: _explain(table.label, exc), name="mwh-delta-reader")


def _join(batch: pa.Table, ref: pa.Table, schema: pa.Schema) -> pa.Table:
    """A reference table's rows with their target's columns: an inner join on target_id (a row
    whose target is not in the version is not in CAVE's merged answer either), in the batch's order."""
    batch = batch.append_column("__row", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
    joined = batch.join(ref, keys="target_id", right_keys="id_ref", join_type="inner")
    joined = joined.sort_by("__row").append_column("id_ref", joined.sort_by("__row").column("target_id"))
    return pa.Table.from_arrays([joined.column(n).combine_chunks() for n in schema.names], schema=schema)


def _explain(label: str, exc: BaseException) -> BaseException:
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    text = " ".join(str(exc).split())[:300]
    if isinstance(exc, DeltaExportError):
        return DeltaExportError(text if text.startswith(label) else f"{label}: {text}")
    if isinstance(exc, WarehouseError):
        return exc
    return DeltaExportError(f"cannot read {label}: {type(exc).__name__}: {text}")
