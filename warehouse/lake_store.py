"""The lake store: the raw layer as Delta tables in CAVE's export layout, the catalog in DuckDB.

A warehouse made with a lake (`mwh ingest --lake DIR`, `open_for_datastack(..., lake=DIR)`) keeps
each table role's rows at each version in ``{lake}/{datastack}/v{version}/{table}``, a Delta table
that Spark, polars and delta-rs read as it is (see warehouse/lake.py). The DuckDB file keeps what
it always held, the catalog (``meta``), the staging tables and the views, so `mwh sql`, the
reports, the Python API and the stock duckdb shell work unchanged: a role's raw relation is a view
over ``read_parquet`` of the exact files of each table's committed Delta version, no extension.

The same snapshot rules hold as in the single file:
- A snapshot's rows go in with one Delta commit, tagged with the snapshot id (a Delta
  transaction id, ``snapshot-<id>``), made inside the catalog transaction that marks it complete.
  A reader lists only committed files, so it never sees half a snapshot; if the process dies
  between the Delta commit and the catalog commit, the rows are there but no view shows them
  (views read complete snapshots only), and the re-run finds the tag and does not write them twice.
- Files of a killed writer that no commit names are orphans; they are removed when the next ingest
  starts (`clean`), which holds the writer lock, so no other writer's files can be taken for them.
- A replaced snapshot's rows stay in the lake, unread (its status is 'replaced'): deleting them
  would need a Delta commit that a crash could separate from the catalog's.

Readers never block a writer: the catalog is written in a working copy and renamed over the file
when the writer closes (warehouse/catalog_copy.py), so a notebook or shell that holds the file
open keeps the version it opened, consistent, and sees the new one when it reopens.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from . import lake
from .config import DatastackConfig
from .connection import fetch_one
from .errors import WarehouseError
from .store import Appender, AppendStats, DuckStore, TableLayout
from .tables import DUCK_TYPES

SNAPSHOT_TAG = "snapshot-{sid}"  # the Delta transaction id that marks a snapshot's one commit


def _columns(layout: TableLayout) -> list[tuple[str, str]]:
    cols = [("snapshot_id", "INTEGER"), ("version", "INTEGER")]
    return cols + [(f.name, DUCK_TYPES[f.type]) for f in layout.schema]


class LakeLayout(TableLayout):
    """A role's relations in a lake: the one raw view for each kind but `fixed`, which has no
    counterpart (one row per id across versions) and which no sql/ file may read in a lake."""

    def relation(self, kind: str) -> str:
        if kind == "fixed" and self.split:
            raise WarehouseError(f"SQL reads {{{{fixed.{self.role}}}}}, which a lake warehouse does not have")
        return self.raw


class LakeStore(DuckStore):
    """Raw rows in Delta tables under `root`; staging, catalog and views in the DuckDB file."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, cfg: DatastackConfig, root: str | os.PathLike[str]
    ) -> None:
        super().__init__(con, cfg)
        self.root = lake.check_root(root)
        self.datastack = cfg.name

    # ----------------------------------------------------------------------------- the tables
    def create_tables(self) -> None:
        from .tables import column_ddl

        for layout in self.layouts.values():
            schema = layout.schema
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS {layout.stage_table} (snapshot_id INTEGER, chunk_id INTEGER, "
                + column_ddl(schema, schema.names)
                + ")"
            )
            self.refresh(layout.role)

    def relations(self) -> dict[str, TableLayout]:
        """Each role is one raw view here, with every column: what sql/ files read as a split
        role's `{{rows.x}}` or `{{by_post.x}}` is that view (unsorted, so a lookup scans)."""
        return {name: LakeLayout(layout.role, layout.name) for name, layout in self.layouts.items()}

    def table_path(self, role_name: str, version: int) -> Path:
        return lake.table_path(self.root, self.datastack, int(version), self.layout(role_name).name)

    def delta_tables(self, role_name: str) -> list[tuple[int, Path]]:
        """(version, path) of every committed Delta table of a role in the lake, by version."""
        base = self.root / self.datastack
        name = self.layout(role_name).name
        found = []
        if base.is_dir():
            for d in base.iterdir():
                if d.name.startswith("v") and d.name[1:].isdigit() and lake.is_delta_table(d / name):
                    found.append((int(d.name[1:]), d / name))
        return sorted(found)

    def refresh(self, role_name: str) -> None:
        """Point the role's raw view at the committed files of its Delta tables, typed as the
        single-file store types them (so every view over it binds the same way)."""
        layout = self.layout(role_name)
        files = [f for _, path in self.delta_tables(role_name) for f in lake.data_files(path)]
        cols = _columns(layout)
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            select = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in cols)
            body = f"SELECT {select} FROM read_parquet([{listed}])"
        else:
            body = "SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in cols) + " WHERE false"
        self.con.execute(f"CREATE OR REPLACE VIEW {layout.raw} AS {body}")
        self.con.execute(
            f"COMMENT ON VIEW {layout.raw} IS 'Rows of {layout.name} as CAVE returns them, one per snapshot: "
            f"Delta tables under {str(self.root).replace(chr(39), chr(39) * 2)}/{self.datastack}/v*/{layout.name}.'"
        )

    # ------------------------------------------------------------------------------ writing
    def _write(self, role_name: str, version: int, sid: int, batches: pa.RecordBatchReader) -> int:
        """One Delta commit of a snapshot's rows, tagged with its id; nothing if already committed."""
        from deltalake import DeltaTable

        path = self.table_path(role_name, version)
        tag = SNAPSHOT_TAG.format(sid=sid)
        if lake.is_delta_table(path) and DeltaTable(str(path)).transaction_version(tag) is not None:
            return -1  # a run that died after this commit: the rows are in, and written once
        lake.commit_stream(
            path, batches, batches.schema, app_id=tag, description=f"{self.layout(role_name).name} v{version}"
        )
        return 0

    def _arrow_schema(self, layout: TableLayout) -> pa.Schema:
        return pa.schema(
            [pa.field("snapshot_id", pa.int32()), pa.field("version", pa.int32()), *layout.schema]
        )

    def commit(self, role_name: str, sid: int, version: int, *, dedupe: bool) -> None:
        if role_name in self.extras:  # tables beyond the roles stay in the catalog file (docs/lake.md)
            return super().commit(role_name, sid, version, dedupe=dedupe)
        layout = self.layout(role_name)
        source = self.new_rows(layout, sid, version, dedupe=dedupe)
        cols = ", ".join(f'"{c}"' for c in layout.schema.names)
        sort = ", ".join(f'"{c}"' for c in (lake.SYNAPSE_SORT if layout.split else lake.DEFAULT_SORT))
        query = f"SELECT {sid:d}::INTEGER AS snapshot_id, {int(version):d}::INTEGER AS version, {cols} FROM {source} ORDER BY {sort}"
        reader = self.con.sql(query).to_arrow_reader(256 * 1024)
        self._write(role_name, version, sid, _cast_reader(reader, self._arrow_schema(layout)))
        self.discard(role_name, sid)
        self.refresh(role_name)

    def narrow_columns(self, role_name: str) -> tuple[str, ...] | None:
        """Every version is a whole Delta table of its own here: a file is always read whole."""
        return None

    def held_ids(self, layout: TableLayout, version: int) -> str:
        """A replaced snapshot's rows stay in the lake, so only the current snapshots' count."""
        return (
            f"SELECT id FROM {layout.raw} WHERE version = {int(version):d} AND snapshot_id IN "
            f"(SELECT snapshot_id FROM meta.current_snapshots WHERE role = '{layout.role}')"
        )

    def drop(self, role_name: str, sid: int) -> None:
        """A replaced snapshot's rows stay in the lake (see the module docstring); views skip them."""

    def appender(self, role_name: str, sid: int, version: int, stats: AppendStats | None = None) -> Appender:
        if role_name in self.extras:
            return super().appender(role_name, sid, version, stats)
        return LakeAppender(
            self, self.layout(role_name), sid, version, stats if stats is not None else AppendStats()
        )

    # ---------------------------------------------------------------------------- housekeeping
    def clean(self) -> list[Path]:
        """Remove files no Delta commit names (a killed writer's), in every table of the lake. The
        caller holds the writer lock: no other writer can be midway."""
        removed: list[Path] = []
        for path in lake.delta_tables(self.root):
            removed += lake.remove_orphans(path, grace_seconds=0)
        # A writer killed during a table's first commit leaves data files and no log at all.
        base = self.root / self.datastack
        for folder in base.glob("v*/*") if base.is_dir() else []:
            if folder.is_dir() and not lake.is_delta_table(folder):
                for f in folder.glob("*.parquet"):
                    f.unlink()
                    removed.append(f)
        return removed


class LakeAppender(Appender):
    """A whole file's batches into one Delta commit: a writer thread drains a small queue, so the
    reader's batches stream through and memory stays flat."""

    def __init__(
        self, store: LakeStore, layout: TableLayout, sid: int, version: int, stats: AppendStats
    ) -> None:
        super().__init__(store.con, layout, sid, version, stats)
        self.store = store
        self.schema = store._arrow_schema(layout)
        self.queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.held: pa.Array | None = None  # ids other snapshots of the version hold
        if layout.entry.accumulates:
            held = store.con.sql(store.held_ids(layout, version)).to_arrow_table().column("id")
            self.held = held.combine_chunks() if len(held) else None
        self.ids_seen = 0

    def _run(self) -> None:
        self.ended = False

        def batches():
            while (b := self.queue.get()) is not None:
                yield b
            self.ended = True

        try:
            reader = pa.RecordBatchReader.from_batches(self.schema, batches())
            self.store._write(self.layout.role, self.version, self.sid, reader)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread in finish()
            self.error = exc
        # Whatever the writer took (all of it, or nothing: the snapshot was committed by a run
        # that died before its catalog commit), the rest of the queue is drained so append()
        # never blocks.
        if not getattr(self, "ended", False):
            while self.queue.get() is not None:
                pass

    def append(self, table: pa.Table) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="mwh-lake-append", daemon=True)
            self.thread.start()
        if self.held is not None:  # vectorised: a dump's batches are a million rows each
            keep = pc.invert(pc.is_in(table.column("id"), value_set=self.held))
            table = table.filter(keep)
        n = table.num_rows
        full = table.select(self.layout.schema.names)
        full = full.add_column(0, "version", pa.array([self.version] * n, pa.int32()))
        full = full.add_column(0, "snapshot_id", pa.array([self.sid] * n, pa.int32()))
        for batch in full.cast(self.schema).to_batches():
            self.queue.put(batch)
        self.stats.rows += table.num_rows

    def finish(self, label: str) -> None:
        if self.thread is None:  # an empty file: still one commit, so the snapshot has a table
            self.thread = threading.Thread(target=self._run, name="mwh-lake-append", daemon=True)
            self.thread.start()
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        path = self.store.table_path(self.layout.role, self.version)
        files = ", ".join("'" + f.replace("'", "''") + "'" for f in lake.data_files(path))
        dupes = fetch_one(
            self.con,
            f"SELECT count(*) - count(DISTINCT id) FROM read_parquet([{files}]) WHERE snapshot_id = ?",
            [self.sid],
        )[0]
        if dupes:
            raise WarehouseError(f"{label}: {dupes} duplicate row ids; nothing was committed")
        self.store.refresh(self.layout.role)


def _cast_reader(reader: pa.RecordBatchReader, schema: pa.Schema) -> pa.RecordBatchReader:
    """DuckDB's batches in the lake table's exact schema (its timestamps come in the session's time
    zone), so every commit of a table has the same types and a reader never sees them drift."""

    def batches():
        for b in reader:
            yield (
                pa.Table.from_batches([b]).cast(schema).to_batches()[0]
                if b.num_rows
                else pa.RecordBatch.from_pylist([], schema)
            )

    return pa.RecordBatchReader.from_batches(schema, batches())
