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

from collections.abc import Callable
from pathlib import Path

from warehouse.api import Warehouse
from warehouse.matrix import refresh_matrix

from .job import SnapshotOutcome, run_whole_file_snapshot
from .sources.delta_export import ExportTable, find_export, plan_columns, read_batches
from .whole_file import FileSource, FileStats, append_batches, capped_memory, file_request

QUERY_KIND = "delta_export"


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
    stats: dict[str, FileStats] | None = None,
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
    with capped_memory(wh):
        for table in tables:
            st = FileStats()
            if stats is not None:
                stats[table.copy.table] = st
            outcomes.append(_snapshot(wh, table, version, force, rows_per_batch, st, on_batch))
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
    st: FileStats,
    on_batch: Callable[[str, int], None] | None,
) -> SnapshotOutcome:
    c = table.copy
    query = _query(table)
    # The log counts a plain table's rows; a reference table's inner join may drop some.
    expected = c.rows if table.reference is None else None
    req = file_request(wh.store.layout(table.role), version, query, c.label, expected)
    source = FileSource(
        wh.datastack, f"delta export {c.path} (Delta version {c.delta_version}, {len(c.files)} files)"
    )

    def write(sid: int) -> int:
        return append_batches(
            wh,
            table.role,
            sid,
            version,
            lambda cols: read_batches(table, rows_per_batch, cols),
            label=c.label,
            name=c.table,
            st=st,
            on_batch=on_batch,
        )

    return run_whole_file_snapshot(wh, source, req, write, force=force, after_commit=refresh_matrix)
