"""`mwh ingest --dump`: snapshots of a version's materialization dump files, no server contacted.

Each table's file becomes one all-or-nothing snapshot (ingest/job.py `run_whole_file_snapshot`):
its batches are appended straight into the raw tables inside one transaction and the snapshot is
marked complete in the same commit. The store's appender (warehouse/store.py) writes each batch: for the split
synapse storage the fixed columns only for ids not stored yet (a second version of the table adds
almost nothing there) and the root ids per snapshot.

Memory stays flat as the file grows: a few ~1 M-row batches are alive at once, and DuckDB's
buffer pool is capped for the duration of the ingest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from warehouse import settings
from warehouse.api import Warehouse
from warehouse.connection import fetch_one
from warehouse.matrix import refresh_matrix
from warehouse.store import AppendStats

from .job import SnapshotOutcome, SnapshotRequest, run_whole_file_snapshot
from .sources.dump_files import DumpTable, find_dumps, plan_columns, read_batches, read_header


@dataclass
class DumpFileSource:
    """What meta.snapshots records as the source of a dump snapshot."""

    datastack: str
    label: str
    client_version: str | None = None


@dataclass
class DumpStats(AppendStats):
    """Where a dump ingest's time went (seconds), for the benchmarks and the progress line."""

    read_wait: float = 0.0  # waiting for the reader (inflate + parse) to hand over a batch
    append: float = 0.0  # DuckDB appends and dedup probes
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
    outcomes = []
    old_limit = fetch_one(wh.con, "SELECT current_setting('memory_limit')")[0]
    wh.con.execute(f"SET memory_limit = '{settings.DUMP_MEMORY_LIMIT}'")
    try:
        for dump in tables:
            layout = wh.store.layout(dump.role)
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

            def write(sid: int, dump=dump, st=st) -> int:
                return _write_dump(
                    wh, dump, plans[dump.name], dump.role, sid, version, rows_per_batch, st, on_batch
                )

            outcomes.append(
                run_whole_file_snapshot(wh, source, req, write, force=force, after_commit=refresh_matrix)
            )
    finally:
        wh.con.execute(f"SET memory_limit = '{old_limit}'")
    return outcomes


def _write_dump(
    wh: Warehouse,
    dump: DumpTable,
    plan,
    role: str,
    sid: int,
    version: int,
    rows_per_batch: int,
    st: DumpStats,
    on_batch: Callable[[str, int], None] | None,
) -> int:
    appender = wh.store.appender(role, sid, version, st)
    t_wait = time.monotonic()
    for table in read_batches(dump, plan, rows_per_batch):
        t0 = time.monotonic()
        st.read_wait += t0 - t_wait
        appender.append(table)
        t_wait = time.monotonic()
        st.append += t_wait - t0
        if on_batch:
            on_batch(dump.name, table.num_rows)
    t0 = time.monotonic()
    appender.finish(dump.label)
    st.append += time.monotonic() - t0
    return st.rows
