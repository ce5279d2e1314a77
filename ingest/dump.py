"""`mwh ingest --dump`: snapshots of a version's materialization dump files, no server contacted.

Each table's file becomes one all-or-nothing snapshot (ingest/job.py `run_whole_file_snapshot`):
its batches are appended straight into the raw tables inside one transaction and the snapshot is
marked complete in the same commit. For the split synapse storage each batch's fixed columns go to
`raw.<t>__fixed` only for ids not stored yet (a second version of the table adds almost nothing
there) and its root ids to `raw.<t>__rows`. The dedup probe asks only for the batch's id range, so
when the file is in id order (CAVE's dumps are) DuckDB's zone maps keep it proportional to the
batch, not to the table.

Memory stays flat as the file grows: a few ~1 M-row batches are alive at once, and DuckDB's
buffer pool is capped for the duration of the ingest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from warehouse.api import Warehouse
from warehouse.connection import fetch_one
from warehouse.errors import WarehouseError
from warehouse.matrix import refresh_matrix
from warehouse.schema import layouts
from warehouse.tables import TableLayout

from .job import SnapshotOutcome, SnapshotRequest, run_whole_file_snapshot
from .sources.dump import DumpTable, find_dumps, plan_columns, read_batches, read_header

DUMP_MEMORY_LIMIT = "512MB"  # DuckDB's buffer pool during a dump ingest; the reader adds a few batches


@dataclass
class DumpFileSource:
    """What meta.snapshots records as the source of a dump snapshot."""

    datastack: str
    label: str
    client_version: str | None = None


@dataclass
class DumpStats:
    """Where a dump ingest's time went (seconds), for the benchmarks and the progress line."""

    rows: int = 0
    fixed_added: int = 0
    read_wait: float = 0.0  # waiting for the reader (inflate + parse) to hand over a batch
    append: float = 0.0  # DuckDB appends and dedup probes
    sorted_ids: bool = True
    extra: dict = field(default_factory=dict)


def ingest_dump(
    wh: Warehouse,
    path: Path,
    version: int,
    *,
    roles: list[str] | None = None,
    force: bool = False,
    rows_per_batch: int = 1_000_000,
    on_batch: Callable[[str, int], None] | None = None,
    stats: dict[str, DumpStats] | None = None,
) -> list[SnapshotOutcome]:
    """Snapshot every dump table found at `path` (a folder or one file) as `version`."""
    tables = find_dumps(path, wh.config, roles)
    plans = {t.name: plan_columns(t, read_header(t)) for t in tables}  # every header checked before any data
    lay = layouts(wh.config)
    outcomes = []
    old_limit = fetch_one(wh.con, "SELECT current_setting('memory_limit')")[0]
    wh.con.execute(f"SET memory_limit = '{DUMP_MEMORY_LIMIT}'")
    try:
        for dump in tables:
            layout = lay[dump.role]
            st = DumpStats()
            if stats is not None:
                stats[dump.name] = st
            req = SnapshotRequest(
                layout=layout,
                version=version,
                query={"kind": "dump", "file": dump.data.name},
                root_chunks=[
                    {
                        "in": {},
                        "split": None,
                        "id_range": [None, None],
                        "family": "all",
                        "file": dump.data.name,
                    }
                ],
            )
            source = DumpFileSource(
                wh.datastack, f"dump {dump.data.name} ({dump.data.stat().st_size:,} bytes)"
            )

            def write(con: duckdb.DuckDBPyConnection, sid: int, dump=dump, layout=layout, st=st) -> int:
                return _write_dump(
                    con, dump, plans[dump.name], layout, sid, version, rows_per_batch, st, on_batch
                )

            outcomes.append(
                run_whole_file_snapshot(
                    wh.con,
                    source,
                    req,
                    write,
                    datastack=wh.datastack,
                    force=force,
                    after_commit=refresh_matrix,
                )
            )
    finally:
        wh.con.execute(f"SET memory_limit = '{old_limit}'")
    return outcomes


def _write_dump(
    con: duckdb.DuckDBPyConnection,
    dump: DumpTable,
    plan,
    layout: TableLayout,
    sid: int,
    version: int,
    rows_per_batch: int,
    st: DumpStats,
    on_batch: Callable[[str, int], None] | None,
) -> int:
    appender = (
        _SplitAppender(con, layout, sid, version, st)
        if layout.split
        else _PlainAppender(con, layout, sid, version)
    )
    t_wait = time.monotonic()
    for table in read_batches(dump, plan, rows_per_batch):
        t0 = time.monotonic()
        st.read_wait += t0 - t_wait
        appender.append(table)
        st.rows += table.num_rows
        t_wait = time.monotonic()
        st.append += t_wait - t0
        if on_batch:
            on_batch(dump.name, table.num_rows)
    t0 = time.monotonic()
    appender.finish(dump)
    st.append += time.monotonic() - t0
    return st.rows


def _scan(con: duckdb.DuckDBPyConnection, sql: str, mwh_dump_batch: pa.Table) -> list[tuple]:
    """Run `sql` over the batch, found by DuckDB's replacement scan as the local `mwh_dump_batch`.

    Not `con.register`: a registered Arrow table stays referenced until the transaction ends, so a
    whole-file transaction would keep every batch of the file in memory.
    """
    return con.execute(sql).fetchall()


class _PlainAppender:
    """Whole rows into `raw.<table>` (tables that are not split)."""

    def __init__(self, con, layout: TableLayout, sid: int, version: int) -> None:
        self.con, self.layout, self.sid, self.version = con, layout, sid, version
        self.cols = ", ".join(f'"{c}"' for c in layout.schema.names)

    def append(self, table: pa.Table) -> None:
        _scan(
            self.con,
            f"INSERT INTO {self.layout.raw} SELECT {self.sid:d}, {self.version:d}, {self.cols} FROM mwh_dump_batch",
            table,
        )

    def finish(self, dump: DumpTable) -> None:
        dupes = fetch_one(
            self.con,
            f"SELECT count(*) - count(DISTINCT id) FROM {self.layout.raw} WHERE snapshot_id = ?",
            [self.sid],
        )[0]
        if dupes:
            raise WarehouseError(f"{dump.label}: {dupes} duplicate row ids; nothing was committed")


class _SplitAppender:
    """Fixed columns once per id into `__fixed`, root ids per snapshot into `__rows`."""

    def __init__(self, con, layout: TableLayout, sid: int, version: int, st: DumpStats) -> None:
        self.con, self.layout, self.sid, self.version, self.st = con, layout, sid, version, st
        self.fixed_cols = ", ".join(f'b."{c}"' for c in layout.fixed_columns)
        self.rows_cols = ", ".join(f'"{c}"' for c in layout.varying_columns)
        self.last_id: int | None = None
        # Ids above this were in no earlier snapshot; in an id-ordered file every batch past it is
        # new, and probing __fixed for it (including this transaction's own appends) is skipped.
        self.max_stored = fetch_one(con, f"SELECT max(id) FROM {layout.fixed_table}")[0]

    def append(self, table: pa.Table) -> None:
        ids = table.column("id")
        if ids.null_count:
            raise WarehouseError("the dump has rows without an id; nothing was committed")
        lo, hi = (int(v.as_py()) for v in pc.min_max(ids).values())
        if self.st.sorted_ids:
            arr = ids.to_numpy()
            increasing = bool(np.all(arr[1:] > arr[:-1])) and (
                self.last_id is None or bool(arr[0] > self.last_id)
            )
            self.st.sorted_ids = increasing
            self.last_id = int(arr[-1])
        fixed = self.layout.fixed_table
        in_range = f"(SELECT id FROM {fixed} WHERE id BETWEEN {lo:d} AND {hi:d}) f"
        beyond = self.st.sorted_ids and (self.max_stored is None or lo > self.max_stored)
        known = (
            0
            if beyond
            else fetch_one(self.con, f"SELECT count(*) FROM {fixed} WHERE id BETWEEN {lo:d} AND {hi:d}")[0]
        )
        if known == 0:
            _scan(self.con, f"INSERT INTO {fixed} SELECT {self.fixed_cols} FROM mwh_dump_batch b", table)
            self.st.fixed_added += table.num_rows
        else:
            present = _scan(
                self.con, f"SELECT count(*) FROM mwh_dump_batch b SEMI JOIN {in_range} ON f.id = b.id", table
            )
            if present[0][0] < table.num_rows:  # a later version: usually every id is known already
                added = _scan(
                    self.con,
                    f"INSERT INTO {fixed} SELECT {self.fixed_cols} FROM mwh_dump_batch b ANTI JOIN {in_range} ON f.id = b.id",
                    table,
                )
                self.st.fixed_added += added[0][0] if added else 0
        _scan(
            self.con,
            f"INSERT INTO {self.layout.rows_table} SELECT {self.sid:d}, {self.version:d}, {self.rows_cols} "
            "FROM mwh_dump_batch",
            table,
        )

    def finish(self, dump: DumpTable) -> None:
        if self.st.sorted_ids:
            return  # strictly increasing ids cannot repeat
        dupes = fetch_one(
            self.con,
            f"SELECT count(*) - count(DISTINCT id) FROM {self.layout.rows_table} WHERE snapshot_id = ?",
            [self.sid],
        )[0]
        if dupes:
            raise WarehouseError(f"{dump.label}: {dupes} duplicate synapse ids; nothing was committed")
