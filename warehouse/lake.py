"""The lake: CAVE-layout Delta tables on a local disk, written and listed without a JVM or DuckDB extension.

Layout. CAVE's MaterializationEngine exports to ``{bucket}/{datastack}/v{version}/{table}/{spec}``;
the lake keeps the same tree under a local ``root``: ``{root}/{datastack}/v{version}/{table}``
holds one Delta table per (table, version), and ``spec`` (one copy per access path in CAVE's
exports) is an optional last part so a reader can be pointed at a CAVE copy. Only plain local
paths are accepted: object stores (``s3://``, ``gs://``) cannot be reached from these machines,
so no code path here could be tested against one, and a URI is refused with a clear error rather
than half-working.

Commits. A (table, version) is written as ONE Delta commit (``write_deltalake`` over a stream of
record batches commits once, at the end; the lake store's :func:`commit_stream` writes the Parquet
files itself and names them all in one commit): a reader sees either the previous state or the
whole new table, never half of it. A writer killed mid-write leaves Parquet files that no commit names; they
are invisible to every Delta reader and to :func:`data_files`, and :func:`orphan_files` /
:func:`remove_orphans` find and delete them (after a grace period, so the files of a writer that is
still running are not taken).

Ordering. Rows are written sorted (the synapse table by ``post_pt_root_id, id``, the way CAVE's
post copy and parqlayground's layout are ordered; other tables by ``id``), without hive
partitions: at demo scale a partition per root-id bucket would mean hundreds of tiny files, while
sorted row groups already let DuckDB, polars and Spark skip row groups by their min/max statistics
for a lookup by post root id (``bench/lake.py`` measures the difference). Positions stay as
``{col}_x/_y/_z`` integer columns, as the warehouse's raw tables hold them.

Split synapse layout. Optionally the synapse table is stored as CAVE's columns that never change
(:data:`warehouse.tables.STABLE_COLUMNS`) once, in an append-only Delta table
``{root}/{datastack}/{table}__fixed`` that each version extends with only its new ids, and the
root ids per version in ``v{version}/{table}__rows``. A reader of version v joins ``__rows`` at v
with ``__fixed`` at the Delta version recorded for v (any later one works too: it only appends).

DuckDB reads a committed Delta version through ``read_parquet([...])`` over :func:`data_files`,
since its ``delta`` extension cannot be installed here. That is exact for the tables this module
writes (protocol reader 1: no deletion vectors, no column mapping), which :func:`data_files` checks.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import WarehouseError

# Columns a table is sorted by when written; the synapse table the way CAVE's post copy is.
SYNAPSE_SORT = ("post_pt_root_id", "id")
DEFAULT_SORT = ("id",)
# A file younger than this is never called an orphan: it may belong to a writer still running.
ORPHAN_GRACE_SECONDS = 3600.0
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise WarehouseError(f"bad lake {kind} name {name!r}: use letters, digits, '_', '-' or '.'")
    return name


def check_root(root: str | os.PathLike[str]) -> Path:
    """The lake's root as a local path, refusing object-store URIs that cannot be reached from here."""
    text = os.fspath(root)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", text) and not text.startswith("file://"):
        raise WarehouseError(
            f"lake root {text!r} is an object-store URI; only local paths are supported "
            "(no object store is reachable from this machine to test against)"
        )
    return Path(text.removeprefix("file://")).expanduser()


def version_dir(root: str | os.PathLike[str], datastack: str, version: int) -> Path:
    """``{root}/{datastack}/v{version}``: where every table of one materialization version lives."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise WarehouseError(f"bad materialization version {version!r}: expected a non-negative integer")
    return check_root(root) / _check_name("datastack", datastack) / f"v{version}"


def table_path(
    root: str | os.PathLike[str], datastack: str, version: int, table: str, spec: str | None = None
) -> Path:
    """``{root}/{datastack}/v{version}/{table}[/{spec}]``, the CAVE export layout."""
    path = version_dir(root, datastack, version) / _check_name("table", table)
    return path / _check_name("spec", spec) if spec is not None else path


def fixed_path(root: str | os.PathLike[str], datastack: str, table: str) -> Path:
    """``{root}/{datastack}/{table}__fixed``: the split layout's never-changing columns, all versions."""
    return check_root(root) / _check_name("datastack", datastack) / f"{_check_name('table', table)}__fixed"


def is_delta_table(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` holds a Delta log with at least one commit."""
    log = Path(path) / "_delta_log"
    return log.is_dir() and any(
        p.suffix == ".json" or p.name.endswith(".checkpoint.parquet") for p in log.iterdir()
    )


def _open(path: Path, version: int | None = None):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    if not is_delta_table(path):
        raise WarehouseError(f"no Delta table at {path}")
    try:
        return DeltaTable(str(path), version=version)
    except TableNotFoundError:
        raise WarehouseError(f"no Delta table at {path}") from None
    except Exception as exc:  # delta-rs raises a generic error for a missing version
        if version is not None:
            raise WarehouseError(f"Delta table {path} has no version {version}: {exc}") from None
        raise


def delta_version(path: str | os.PathLike[str]) -> int:
    """The newest committed Delta version of the table at ``path``."""
    return _open(Path(path)).version()


@dataclass(frozen=True)
class WriteResult:
    """What one commit added: its Delta version, and the rows, files and bytes of that commit alone."""

    path: Path
    delta_version: int
    rows: int
    files: int
    bytes: int


def _sorted(table: pa.Table, sort_by: Iterable[str]) -> pa.Table:
    keys = [c for c in sort_by if c in table.column_names]
    if not keys or table.num_rows == 0:
        return table
    return table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in keys]))


def write_table(
    path: str | os.PathLike[str],
    data: pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch],
    *,
    schema: pa.Schema | None = None,
    sort_by: Iterable[str] | None = None,
    mode: str = "error",
    partition_by: list[str] | None = None,
    target_file_size: int | None = None,
    description: str | None = None,
) -> WriteResult:
    """Write ``data`` to the Delta table at ``path`` as one commit, and say what was committed.

    ``data`` is an Arrow table (sorted here by ``sort_by``) or a stream of record batches (written
    in the order given, so sort upstream, e.g. with ORDER BY in DuckDB: a stream is never held in
    memory whole). ``mode`` is delta-rs's: ``error`` refuses an existing table, because a
    materialization version is immutable; ``append`` adds rows (the split layout's ``__fixed``);
    ``overwrite`` replaces the rows in a new Delta version, leaving the old one readable by version.
    """
    from deltalake import WriterProperties, write_deltalake

    if mode not in ("error", "append", "overwrite"):
        raise WarehouseError(f"bad write mode {mode!r}: expected error, append or overwrite")
    path = Path(path)
    if mode == "error" and is_delta_table(path):
        raise WarehouseError(f"Delta table {path} already exists; a lake version is written once")
    if isinstance(data, pa.Table):
        if schema is not None:
            data = data.cast(schema)
        data = _sorted(data, sort_by or ())
        schema = data.schema
        stream = pa.RecordBatchReader.from_batches(schema, data.to_batches(max_chunksize=1 << 20))
    elif isinstance(data, pa.RecordBatchReader):
        stream = data
    else:
        batches = iter(data)
        if schema is None:
            first = next(batches, None)
            if first is None:
                raise WarehouseError(f"no schema for an empty batch stream written to {path}")
            schema = first.schema
            batches = _chain(first, batches)
        stream = pa.RecordBatchReader.from_batches(schema, batches)
    before = set(_relative_files(path)) if is_delta_table(path) else set()
    path.parent.mkdir(parents=True, exist_ok=True)
    # zstd like the warehouse's own Parquet; statistics let readers skip row groups on sorted keys.
    props = WriterProperties(compression="ZSTD", compression_level=3)
    write_deltalake(
        str(path),
        stream,
        mode=mode,
        partition_by=partition_by,
        target_file_size=target_file_size,
        writer_properties=props,
        description=description,
    )
    dt = _open(path)
    add = pa.table(dt.get_add_actions(flatten=True))
    add = add.filter(
        pa.array([urllib.parse.unquote(p) not in before for p in add.column("path").to_pylist()], pa.bool_())
    )
    return WriteResult(
        path=path,
        delta_version=dt.version(),
        rows=int(pc.sum(add.column("num_records")).as_py() or 0),
        files=add.num_rows,
        bytes=int(pc.sum(add.column("size_bytes")).as_py() or 0),
    )


# Rows per Parquet file of a streamed commit (~100 MB of zstd synapse rows) and per row group.
STREAM_FILE_ROWS = 2_000_000
STREAM_ROW_GROUP_ROWS = 1 << 20


def commit_stream(
    path: str | os.PathLike[str],
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    *,
    app_id: str,
    description: str,
) -> int:
    """Append a stream of batches to the Delta table at ``path`` as ONE commit tagged ``app_id``
    (a Delta transaction id, so a re-run can tell it is done); returns the rows committed.

    The Parquet files are written here with pyarrow, a row group at a time, and then named in one
    commit (delta-rs ``create_write_transaction``): delta-rs's own streaming writer held 0.4-1.5 GB
    more as a whole-file snapshot grew (measured at 10-50 M synapse rows), this stays flat. A file
    written but never committed (a killed writer) is an orphan no reader lists (:func:`remove_orphans`).
    """
    import uuid

    from deltalake import CommitProperties, DeltaTable, Schema, Transaction
    from deltalake.transaction import AddAction, create_table_with_add_actions

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex
    actions: list[AddAction] = []
    writer: pq.ParquetWriter | None = None
    name, in_file, rows = "", 0, 0

    def close() -> None:
        nonlocal writer
        if writer is not None:
            writer.close()
            writer = None
            actions.append(_add_action(path, name))

    pending: list[pa.RecordBatch] = []  # each write is a row group: small batches are gathered first

    def write() -> None:
        nonlocal writer, name, in_file
        if writer is None:
            name = f"part-{len(actions):05d}-{run}-c000.zstd.parquet"
            writer = pq.ParquetWriter(
                path / name, schema, compression="zstd", compression_level=3, write_statistics=True
            )
            in_file = 0
        table = pa.Table.from_batches(pending, schema)
        writer.write_table(table, row_group_size=STREAM_ROW_GROUP_ROWS)
        in_file += table.num_rows
        pending.clear()
        if in_file >= STREAM_FILE_ROWS:
            close()

    try:
        for batch in batches:
            if not batch.num_rows:
                continue
            pending.append(batch)
            rows += batch.num_rows
            if sum(b.num_rows for b in pending) >= STREAM_ROW_GROUP_ROWS:
                write()
        if pending:
            write()
        close()
    finally:
        if writer is not None:  # an error mid-file: what was written stays an orphan, never committed
            writer.close()
    commit = CommitProperties(app_transactions=[Transaction(app_id, 1)])
    if is_delta_table(path):
        DeltaTable(str(path)).create_write_transaction(actions, "append", schema, commit_properties=commit)
    else:
        create_table_with_add_actions(
            str(path),
            Schema.from_arrow(schema),
            actions,
            "append",
            description=description,
            commit_properties=commit,
        )
    return rows


def _add_action(table: Path, name: str):
    """A Delta add action for one written file, with the statistics Delta readers skip files by."""
    from deltalake.transaction import AddAction

    f = table / name
    meta = pq.ParquetFile(f).metadata
    mins: dict = {}
    maxs: dict = {}
    nulls: dict = {}
    schema = meta.schema.to_arrow_schema()
    for i, field in enumerate(schema):
        lo = hi = None
        count = 0
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(i).statistics
            if st is None:
                lo = hi = None
                count = None
                break
            count = None if count is None or st.null_count is None else count + st.null_count
            if not st.has_min_max:
                continue
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
        if count is not None:
            nulls[field.name] = count
        # Numbers only: Delta writes timestamps and strings in forms a reader may parse differently.
        if lo is not None and (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)):
            mins[field.name], maxs[field.name] = lo, hi
    stats = {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}
    st = f.stat()
    return AddAction(name, st.st_size, {}, int(st.st_mtime * 1000), True, json.dumps(stats))


def _relative_files(path: Path) -> list[str]:
    """The current version's data files relative to the table folder, as the log names them (unquoted)."""
    return [
        urllib.parse.unquote(p) for p in pa.table(_open(path).get_add_actions()).column("path").to_pylist()
    ]


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def data_files(path: str | os.PathLike[str], version: int | None = None) -> list[str]:
    """The Parquet files of one committed Delta version (the newest if None), as local paths.

    These are exactly the files ``read_parquet([...])`` in DuckDB must read to see that version and
    nothing else: files of an unfinished or killed writer are not among them. Refused for tables
    whose files alone do not give their rows (deletion vectors, column mapping, protocol reader
    above 1), since read_parquet would then return wrong rows rather than fail.
    """
    dt = _open(Path(path), version)
    proto = dt.protocol()
    if proto.min_reader_version > 1:
        features = ", ".join(proto.reader_features or []) or f"reader version {proto.min_reader_version}"
        raise WarehouseError(
            f"Delta table {path} needs reader features ({features}) that plain read_parquet cannot honour"
        )
    return [urllib.parse.unquote(u.removeprefix("file://")) for u in dt.file_uris()]


def duckdb_source(path: str | os.PathLike[str], version: int | None = None) -> str:
    """A DuckDB table expression reading one committed Delta version: ``read_parquet([...])``.

    An empty table has no files; it reads as a typed empty relation from the Delta schema instead.
    """
    files = data_files(path, version)
    if files:
        quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        # A partition column's values live in the folder names, not in the files.
        hive = ", hive_partitioning = true" if _open(Path(path), version).metadata().partition_columns else ""
        return f"read_parquet([{quoted}]{hive})"
    schema = _open(Path(path), version).schema().to_arrow()
    cols = ", ".join(f'NULL::{_duck_type(pa.field(f))} AS "{f.name}"' for f in schema)
    return f"(SELECT {cols} WHERE false)"


def _duck_type(field: pa.Field) -> str:
    t = field.type
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    return "VARCHAR"


def read_arrow(path: str | os.PathLike[str], version: int | None = None) -> pa.Table:
    """One committed Delta version as an Arrow table, through delta-rs (the reference reader)."""
    return _open(Path(path), version).to_pyarrow_table()


# --- orphans --------------------------------------------------------------------------------------


def referenced_files(path: str | os.PathLike[str]) -> set[str]:
    """Every data file any commit of the table ever added, relative to the table's folder.

    Read from the log itself (JSON commits and any checkpoint), not from one snapshot: a file a
    later commit removed is still part of an earlier readable version, so it is not an orphan.
    """
    log = Path(path) / "_delta_log"
    if not log.is_dir():
        raise WarehouseError(f"no Delta table at {path}")
    seen: set[str] = set()
    for entry in log.iterdir():
        if entry.suffix == ".json" and entry.stem.isdigit():
            for line in entry.read_text().splitlines():
                if line.strip():
                    action = json.loads(line)
                    for kind in ("add", "remove"):
                        if kind in action:
                            seen.add(urllib.parse.unquote(action[kind]["path"]))
        elif entry.name.endswith(".checkpoint.parquet"):
            cp = pq.read_table(entry, columns=["add"]).column("add").combine_chunks()
            seen.update(urllib.parse.unquote(p) for p in cp.field("path").to_pylist() if p is not None)
    return seen


def orphan_files(path: str | os.PathLike[str], *, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> list[Path]:
    """Parquet files under a Delta table that no commit names and that are older than the grace period.

    These are what a killed writer leaves: no reader sees them, they only take disk. Files younger
    than ``grace_seconds`` are left out, since a writer still running has not committed them yet.
    """
    root = Path(path)
    known = referenced_files(root)
    cutoff = time.time() - grace_seconds
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "_delta_log"]
        for name in filenames:
            if not name.endswith(".parquet"):
                continue
            full = Path(dirpath) / name
            if full.relative_to(root).as_posix() not in known and full.stat().st_mtime < cutoff:
                out.append(full)
    return sorted(out)


def remove_orphans(
    path: str | os.PathLike[str], *, grace_seconds: float = ORPHAN_GRACE_SECONDS
) -> list[Path]:
    """Delete :func:`orphan_files` and return them; committed versions are never touched."""
    files = orphan_files(path, grace_seconds=grace_seconds)
    for f in files:
        f.unlink(missing_ok=True)
    return files


def delta_tables(root: str | os.PathLike[str]) -> list[Path]:
    """Every Delta table under a lake root (for cleaning a whole lake)."""
    out = []
    for dirpath, dirnames, _ in os.walk(check_root(root)):
        if "_delta_log" in dirnames:
            out.append(Path(dirpath))
            dirnames[:] = []
    return sorted(out)
