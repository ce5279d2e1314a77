"""`mwh ingest --dump`: snapshots of a version's materialization dump files, no server contacted.

Each table's file becomes one all-or-nothing snapshot (ingest/job.py `run_whole_file_snapshot`):
its batches are appended straight into the raw tables inside one transaction and the snapshot is
marked complete in the same commit. The store's appender (warehouse/store.py) writes each batch: for the split
synapse storage the fixed columns only for ids not stored yet (a second version of the table adds
almost nothing there) and the root ids per snapshot. So a later version's file is parsed for only
its id and root-id columns (`DuckStore.narrow_columns`); a second, full pass runs only when that
file brought ids the warehouse has no fixed columns for, and takes only theirs.

Memory stays flat as the file grows: a few ~1 M-row batches are alive at once, and DuckDB's
buffer pool is capped for the duration of the ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from warehouse.api import Warehouse
from warehouse.matrix import refresh_matrix

from .job import SnapshotOutcome, run_whole_file_snapshot
from .sources.dump_files import find_dumps, narrow_plan, plan_columns, read_batches, read_header
from .whole_file import FileSource, FileStats, append_batches, capped_memory, file_request


def ingest_dump(
    wh: Warehouse,
    path: Path,
    version: int,
    *,
    roles: list[str] | None = None,
    force: bool = False,
    rows_per_batch: int = 1_000_000,
    on_batch: Callable[[str, int], None] | None = None,
    stats: dict[str, FileStats] | None = None,
) -> list[SnapshotOutcome]:
    """Snapshot every dump table found at `path` (a folder or one file) as `version`."""
    tables = find_dumps(path, wh.config, roles)
    plans = {t.name: plan_columns(t, read_header(t)) for t in tables}  # every header checked before any data
    outcomes = []
    with capped_memory(wh):
        for dump in tables:
            layout = wh.store.layout(dump.role)
            st = FileStats()
            if stats is not None:
                stats[dump.name] = st
            req = file_request(layout, version, {"kind": "dump", "file": dump.data.name}, dump.data.name)
            source = FileSource(wh.datastack, f"dump {dump.data.name} ({dump.data.stat().st_size:,} bytes)")

            def write(sid: int, dump=dump, st=st) -> int:
                plan = plans[dump.name]
                return append_batches(
                    wh,
                    dump.role,
                    sid,
                    version,
                    lambda cols: read_batches(
                        dump, narrow_plan(plan, cols) if cols else plan, rows_per_batch
                    ),
                    label=dump.label,
                    name=dump.name,
                    st=st,
                    on_batch=on_batch,
                )

            outcomes.append(
                run_whole_file_snapshot(wh, source, req, write, force=force, after_commit=refresh_matrix)
            )
    return outcomes
