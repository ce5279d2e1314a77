"""`mwh ingest --delta`: snapshots of one version of a CAVE Delta Lake export, no server contacted.

The same shape as ingest/dump_ingest.py, because an export copy is, like a dump file, one complete
table that cannot be fetched in resumable chunks: each table becomes one whole-file snapshot
(ingest/job.py `run_whole_file_snapshot`) whose batches the store's appender writes straight into
the raw tables inside one transaction, marked complete in the same commit. A kill rolls it all
back (DuckDB's WAL never replays an uncommitted transaction), the snapshot row stays 'incomplete',
and the same call starts the table again. Every table's columns are checked before any data is
read, so a bad export fails before an hour of appends.

The query recorded is kind "delta_export" with the copy's spec and Delta table version: the
snapshot holds the whole table (like a dump), but it is not a dump, and the version of the Delta
log read says exactly which files it came from. A synapse snapshot of this kind covers every root,
as a 'dump' or 'whole_table' one does (sql/macros/require_synapses_of.sql must accept it).
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
from .sources.delta_export import ExportTable, find_export, plan_columns, read_batches

QUERY_KIND = "delta_export"


@dataclass
class DeltaExportSource:
    """What meta.snapshots records as the source of a Delta export snapshot."""

    datastack: str
    label: str
    client_version: str | None = None


@dataclass
class DeltaStats(AppendStats):
    """Where an export ingest's time went (seconds), for the benchmark."""

    read_wait: float = 0.0  # waiting for the reader (Parquet decode, EWKB, casts) to hand over a batch
    append: float = 0.0  # DuckDB appends and dedup probes
    extra: dict = field(default_factory=dict)


def ingest_delta_export(
    wh: Warehouse,
    path: str | Path,
    version: int,
    *,
    roles: list[str] | None = None,
    force: bool = False,
    rows_per_batch: int = 1_000_000,
    specs: dict[str, str] | None = None,
    on_batch: Callable[[str, int], None] | None = None,
    stats: dict[str, DeltaStats] | None = None,
) -> list[SnapshotOutcome]:
    """Snapshot every table of the export of `version` at `path` (the version folder, or the
    bucket root holding `{datastack}/v{version}`), one all-or-nothing snapshot per table.

    `specs` picks a copy per role (default 'id', else the first present); `on_batch(table, rows)`
    is called after each appended batch (progress, and the tests' interruptions).
    """
    tables = find_export(path, wh.config, version, roles, specs)
    for t in tables:  # every copy's columns checked before any data is read
        plan_columns(t.copy)
        if t.reference is not None:
            plan_columns(t.reference)
    outcomes = []
    old_limit = fetch_one(wh.con, "SELECT current_setting('memory_limit')")[0]
    wh.con.execute(f"SET memory_limit = '{settings.DUMP_MEMORY_LIMIT}'")
    try:
        for table in tables:
            st = DeltaStats()
            if stats is not None:
                stats[table.copy.table] = st
            outcomes.append(_snapshot(wh, table, version, force, rows_per_batch, st, on_batch))
    finally:
        wh.con.execute(f"SET memory_limit = '{old_limit}'")
    return outcomes


def _query(table: ExportTable) -> dict:
    """What meta.snapshots records: the copy read, at which Delta version (and the target's)."""
    c = table.copy
    q = {"kind": QUERY_KIND, "table": c.table, "spec": c.spec, "delta_version": c.delta_version}
    if table.reference is not None:
        r = table.reference
        q["reference"] = {"table": r.table, "spec": r.spec, "delta_version": r.delta_version}
    return q


def _snapshot(
    wh: Warehouse,
    table: ExportTable,
    version: int,
    force: bool,
    rows_per_batch: int,
    st: DeltaStats,
    on_batch: Callable[[str, int], None] | None,
) -> SnapshotOutcome:
    c = table.copy
    query = _query(table)
    req = SnapshotRequest(
        layout=wh.store.layout(table.role),
        version=version,
        query=query,
        root_chunks=[{"in": {}, "split": None, "id_range": [None, None], "family": "all", "file": c.label}],
        # The log counts a plain table's rows; a reference table's inner join may drop some.
        expected_rows=c.rows if table.reference is None else None,
    )
    source = DeltaExportSource(
        wh.datastack, f"delta export {c.path} (Delta version {c.delta_version}, {len(c.files)} files)"
    )

    def write(sid: int) -> int:
        appender = wh.store.appender(table.role, sid, version, st)
        t_wait = time.monotonic()
        for batch in read_batches(table, rows_per_batch):
            t0 = time.monotonic()
            st.read_wait += t0 - t_wait
            appender.append(batch)
            t_wait = time.monotonic()
            st.append += t_wait - t0
            if on_batch:
                on_batch(c.table, batch.num_rows)
        t0 = time.monotonic()
        appender.finish(c.label)
        st.append += time.monotonic() - t0
        return st.rows

    return run_whole_file_snapshot(wh, source, req, write, force=force, after_commit=refresh_matrix)
