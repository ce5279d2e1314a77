"""Turns one source query into one committed snapshot, all or nothing, resumable.

The life of a snapshot of (table, version, query):
1. A row in `meta.snapshots` (status 'incomplete') and its root chunks in `meta.chunks` (pending),
   written in one transaction.
2. Chunks are fetched in parallel worker threads; only the main thread writes to DuckDB. Each
   finished chunk's rows go to `stage.<table>` in the same transaction that marks it done, so a
   kill at any moment leaves either the whole chunk or none of it. A chunk whose answer may have
   been cut by the row cap is never stored: it is marked split and its two halves are queued.
3. When no chunk is pending the staged rows are verified (counts add up, no duplicate ids, the
   server's count where it gives one) and moved to `raw.*` in one transaction that marks the
   snapshot complete. Views read only complete snapshots, so they never see half a download.

Re-running the same query after an interruption resumes from the pending chunks; re-running a
complete one is a no-op unless forced, and a forced one replaces the old rows in the commit.

The job only schedules: plan, fetch, retry, split, verify. What the catalog says is written by
warehouse/snapshots.py and the rows by the store (warehouse/store.py), each step in one
transaction (warehouse.connection.transaction). `wh` is an open, writable `warehouse.Warehouse`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from warehouse import snapshots
from warehouse.connection import transaction
from warehouse.errors import IngestInterrupted, RetryableSourceError, WarehouseError
from warehouse.store import TableLayout

from . import chunks
from .progress import Progress
from .retry import RetryPolicy
from .sources.base import Answer, Source


@dataclass
class SnapshotRequest:
    """What to snapshot: a table role at a version, and the query that selects its rows."""

    layout: TableLayout
    version: int
    query: dict  # JSON-able description of the rows wanted, recorded in meta.snapshots
    root_chunks: list[dict]
    sets: dict[str, list[int]] = field(default_factory=dict)  # id sets chunks refer to as "$name"
    expected_rows: int | None = None  # from the source, checked before commit
    # Or the count still on its way (asked while the chunks are fetched): called before the check.
    expected: Callable[[], int | None] | None = None
    # Set for a live snapshot: the rows as they were at this UTC time, asked of the source with
    # `at=`; `version` is then the warehouse's own number for it (warehouse/live.py).
    timestamp: datetime | None = None
    # Root ids whose every synapse the snapshot holds (recorded in meta.snapshot_roots).
    covers: list[int] = field(default_factory=list)
    # A table that may truly have no rows (one that plays no role): an empty answer, counted 0 by
    # the server, is then a snapshot of no rows rather than a failure.
    allow_empty: bool = False

    @property
    def recorded_query(self) -> dict:
        """The query with each id set summarised by its size and digest (the sets can be long)."""
        digests = {
            name: {
                "count": len(ids),
                "sha256": hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()[:16],
            }
            for name, ids in self.sets.items()
        }
        return {**self.query, "sets": digests} if digests else dict(self.query)

    @property
    def key(self) -> str:
        blob = json.dumps(
            {"table": self.layout.name, "version": self.version, "query": self.recorded_query}, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    @property
    def families(self) -> set[str]:
        return {c["family"] for c in self.root_chunks}


@dataclass
class SnapshotOutcome:
    snapshot_id: int
    table: str
    version: int
    rows: int
    action: str  # 'created', 'resumed', 'unchanged'
    chunks_total: int = 0
    chunks_fetched: int = 0  # chunks fetched by this run (a resume fetches only what was missing)
    splits: int = 0
    retries: int = 0
    seconds: float = 0.0
    stats: dict = field(default_factory=dict)


def find_snapshot(wh: Any, req: SnapshotRequest) -> tuple[int, str] | None:
    return snapshots.find(wh.con, req.layout.role, req.version, req.key)


def _existing(
    wh: Any, req: SnapshotRequest, force: bool
) -> tuple[tuple[int, str] | None, int | None, SnapshotOutcome | None]:
    """What a run starts from: an incomplete snapshot to resume, a complete one to replace (with
    force), or the outcome 'unchanged' when a complete one exists and nothing is forced."""
    found = find_snapshot(wh, req)
    if found and found[1] == "incomplete":
        # An unfinished run of a query that is also complete can only be a --force run (else it
        # would have been 'unchanged'): resuming it must still replace the complete one.
        return found, snapshots.find_complete(wh.con, req.layout.role, req.version, req.key), None
    if not found:
        return found, None, None
    if force:
        return None, found[0], None
    rows = snapshots.row_count(wh.con, found[0])
    return None, None, SnapshotOutcome(found[0], req.layout.name, req.version, rows, "unchanged")


def _start(wh: Any, req: SnapshotRequest, source: Source) -> int:
    new = snapshots.NewSnapshot(
        datastack=wh.datastack,
        table=req.layout.name,
        role=req.layout.role,
        version=req.version,
        query=req.recorded_query,
        key=req.key,
        source=source.label,
        client_version=source.client_version,
        expected_rows=req.expected_rows,
        timestamp=req.timestamp,
        covers=req.covers,
    )
    return snapshots.start(wh.con, new, req.root_chunks)


def run_snapshot(
    wh: Any,
    source: Source,
    req: SnapshotRequest,
    *,
    workers: int = 4,
    force: bool = False,
    retry: RetryPolicy | None = None,
    progress: Progress | None = None,
    after_commit: Callable[[Any, int], None] | None = None,
) -> SnapshotOutcome:
    retry = retry or RetryPolicy()
    t0 = time.monotonic()
    found, replaces, unchanged = _existing(wh, req, force)
    if unchanged:
        return unchanged
    if found:
        sid, action = found[0], "resumed"
    else:
        sid, action = _start(wh, req, source), "created"
    outcome = SnapshotOutcome(sid, req.layout.name, req.version, 0, action)
    _fetch_all(wh, source, req, sid, workers, retry, progress, outcome)
    _await_expected(wh, req, sid)
    try:
        rows = _verify(wh, req, sid)
    except WarehouseError as exc:
        _discard(wh, req, sid, exc)
        raise
    _commit(wh, req, sid, rows, replaces)
    if after_commit:
        after_commit(wh.con, req.version)
    outcome.rows = rows
    outcome.chunks_total = snapshots.done_so_far(wh.con, sid)[0]
    outcome.seconds = time.monotonic() - t0
    return outcome


def _fetch_all(wh, source, req, sid, workers, retry, progress, outcome) -> None:
    con = wh.con
    pending = deque(snapshots.pending_chunks(con, sid))
    done_before, rows_before = snapshots.done_so_far(con, sid)
    next_id = snapshots.next_chunk_id(con, sid)
    if progress:
        progress.start(req.layout.name, req.version, done_before + len(pending), done_before, rows_before)
    stop = threading.Event()
    table, role, version = req.layout.name, req.layout.role, req.version

    # `at` only for a live snapshot, so a source that knows nothing of live snapshots still serves versions
    live = {"at": req.timestamp} if req.timestamp is not None else {}

    def fetch(spec: dict) -> tuple[Answer, int]:
        resolved = chunks.resolve(spec, req.sets)
        attempt = 1
        while True:
            try:
                return source.fetch(table, role, version, resolved, **live), attempt - 1
            except RetryableSourceError:
                if attempt >= retry.attempts or stop.is_set():
                    raise
                if stop.wait(retry.delay(attempt)):  # the run stopped meanwhile: send nothing more
                    raise
                attempt += 1

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mwh-fetch")
    inflight: dict[Future, tuple[int, dict]] = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < max(1, workers):
                cid, spec = pending.popleft()
                inflight[pool.submit(fetch, spec)] = (cid, spec)
            finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            failure: BaseException | None = None
            for fut in finished:
                cid, spec = inflight.pop(fut)
                try:
                    answer, retries = fut.result()
                except Exception as exc:  # noqa: BLE001 - store the batch's good answers first, then raise
                    failure = failure or exc
                    continue
                outcome.retries += retries
                outcome.chunks_fetched += 1
                if answer.truncated:
                    children = chunks.split(spec, answer.table.column("id").to_numpy())
                    with transaction(con):
                        snapshots.mark_split(con, sid, cid, children, next_id, retries + 1)
                    pending.extend((next_id + i, c) for i, c in enumerate(children))
                    next_id += len(children)
                    outcome.splits += 1
                    if progress:
                        progress.add_chunks(len(children) - 1)
                else:
                    _record_rows(wh, req.layout, sid, cid, answer.table, retries)
                    if progress:
                        progress.chunk_done(answer.table.num_rows)
            if failure is not None:
                raise failure
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        snapshots.note(con, sid, _one_line(exc))
        done = snapshots.chunk_tally(con, sid)
        if progress:
            progress.close()
        if isinstance(exc, WarehouseError) and not isinstance(exc, RetryableSourceError):
            if done[0] == 0:
                _forget(wh, req.layout, sid)  # nothing was fetched: leave no trace of the attempt
            raise
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {_one_line(exc)}"
        raise IngestInterrupted(
            f"{table} v{version} {reason}; {done[0]} of {done[1]} chunks are kept - run the same command again to resume"
        ) from None
    pool.shutdown(wait=True)
    if progress:
        progress.close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _record_rows(wh, layout: TableLayout, sid: int, cid: int, table: pa.Table, retries: int) -> None:
    """A chunk's rows and its 'done' mark in one transaction: a kill keeps both or neither."""
    with transaction(wh.con):
        wh.store.stage(layout.role, sid, cid, table)
        snapshots.mark_chunk_done(wh.con, sid, cid, table.num_rows, retries + 1)


def _await_expected(wh, req: SnapshotRequest, sid: int) -> None:
    """The server's count, asked while the chunks were fetched, recorded before it is checked. If
    counting fails the chunks stay kept and the snapshot incomplete: a re-run counts again."""
    if req.expected is None:
        return
    try:
        req.expected_rows = req.expected()
    except BaseException as exc:
        snapshots.note(wh.con, sid, _one_line(exc))
        raise
    snapshots.set_expected(wh.con, sid, req.expected_rows)


def _verify(wh, req: SnapshotRequest, sid: int) -> int:
    """Counts must add up before anything becomes visible; returns the snapshot's row count."""
    chunk_rows = snapshots.done_so_far(wh.con, sid)[1]
    staged, distinct = wh.store.staged_counts(req.layout.role, sid)
    what = f"{req.layout.name} v{req.version}"
    if distinct == 0 and not (req.allow_empty and req.expected_rows == 0):
        raise WarehouseError(f"{what}: the source returned no rows; nothing was stored")
    if staged != chunk_rows:
        raise WarehouseError(
            f"{what}: staged {staged} rows but chunks reported {chunk_rows}; nothing was committed"
        )
    if staged != distinct and len(req.families) == 1:
        raise WarehouseError(
            f"{what}: {staged - distinct} duplicate row ids across chunks; nothing was committed"
        )
    if req.expected_rows is not None and distinct != req.expected_rows:
        raise WarehouseError(
            f"{what}: the server counts {req.expected_rows} rows but {distinct} arrived; nothing was committed"
        )
    return distinct


def _discard(wh, req: SnapshotRequest, sid: int, exc: BaseException) -> None:
    """Drop a snapshot that failed verification, so the next run fetches it afresh: resuming it
    would only verify the same rows again and fail the same way."""
    with transaction(wh.con):
        wh.store.discard(req.layout.role, sid)
        snapshots.mark_failed(wh.con, sid, _one_line(exc))


def _forget(wh, layout: TableLayout, sid: int) -> None:
    """Remove every trace of a snapshot attempt that stored no chunk (a bad table, token or answer)."""
    with transaction(wh.con):
        wh.store.discard(layout.role, sid)
        snapshots.forget(wh.con, sid)


def _replace(wh, role: str, replaces: int | None) -> None:
    if replaces is not None:
        wh.store.drop(role, replaces)
        snapshots.mark_replaced(wh.con, replaces)


def _commit(wh, req: SnapshotRequest, sid: int, rows: int, replaces: int | None) -> None:
    with transaction(wh.con):
        _replace(wh, req.layout.role, replaces)
        wh.store.commit(req.layout.role, sid, req.version, dedupe=len(req.families) > 1)
        snapshots.mark_complete(wh.con, sid, rows)


def run_whole_file_snapshot(
    wh: Any,
    source: Source,
    req: SnapshotRequest,
    write: Callable[[int], int],
    *,
    force: bool = False,
    after_commit: Callable[[Any, int], None] | None = None,
) -> SnapshotOutcome:
    """A snapshot taken from one file in one transaction: stage it all, verify, commit - or nothing.

    A file cannot be fetched in resumable chunks, and copying hundreds of millions of rows from a
    stage table into raw would write them twice, so `write(snapshot_id)` appends the rows through
    the store's appender straight into the raw tables inside the transaction (views ignore a snapshot until it is
    complete) and returns how many it wrote. Any failure rolls all of it back; the snapshot row
    stays 'incomplete' with the reason, and the same command starts the file again.
    """
    t0 = time.monotonic()
    found, replaces, unchanged = _existing(wh, req, force)
    if unchanged:
        return unchanged
    sid, action = (found[0], "resumed") if found else (_start(wh, req, source), "created")
    try:
        with transaction(wh.con):
            _replace(wh, req.layout.role, replaces)
            rows = write(sid)
            if req.expected_rows is not None and rows != req.expected_rows:
                raise WarehouseError(
                    f"{req.layout.name} v{req.version}: expected {req.expected_rows} rows but {rows} arrived; "
                    "nothing was committed"
                )
            snapshots.mark_chunk_done(wh.con, sid, None, rows, 1)
            snapshots.mark_complete(wh.con, sid, rows)
    except BaseException as exc:
        snapshots.note(wh.con, sid, _one_line(exc))
        if isinstance(exc, WarehouseError):
            raise
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {_one_line(exc)}"
        raise IngestInterrupted(
            f"{req.layout.name} v{req.version} {reason}; nothing of it was kept - run the same command again"
        ) from None
    if after_commit:
        after_commit(wh.con, req.version)
    return SnapshotOutcome(
        sid, req.layout.name, req.version, rows, action, 1, 1, seconds=time.monotonic() - t0
    )
