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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from warehouse import __version__
from warehouse.connection import fetch_one
from warehouse.errors import IngestInterrupted, RetryableSourceError, SourceError, WarehouseError
from warehouse.tables import TableLayout

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


def _now() -> datetime:
    return datetime.now(UTC)


def find_snapshot(con: duckdb.DuckDBPyConnection, req: SnapshotRequest) -> tuple[int, str] | None:
    row = fetch_one(
        con,
        "SELECT snapshot_id, status FROM meta.snapshots WHERE role = ? AND version = ? AND query_key = ? "
        "AND status IN ('complete', 'incomplete') ORDER BY snapshot_id DESC LIMIT 1",
        [req.layout.role, req.version, req.key],
    )
    return (row[0], row[1]) if row else None


def _existing(
    con: duckdb.DuckDBPyConnection, req: SnapshotRequest, force: bool
) -> tuple[tuple[int, str] | None, int | None, SnapshotOutcome | None]:
    """What a run starts from: an incomplete snapshot to resume, a complete one to replace (with
    force), or the outcome 'unchanged' when a complete one exists and nothing is forced."""
    found = find_snapshot(con, req)
    if not found or found[1] != "complete":
        return found, None, None
    if force:
        return None, found[0], None
    rows = fetch_one(con, "SELECT row_count FROM meta.snapshots WHERE snapshot_id = ?", [found[0]])[0]
    return None, None, SnapshotOutcome(found[0], req.layout.name, req.version, rows, "unchanged")


def _start(con: duckdb.DuckDBPyConnection, req: SnapshotRequest, source: Source, datastack: str) -> int:
    con.execute("BEGIN TRANSACTION")
    try:
        sid = fetch_one(con, "SELECT nextval('meta.snapshot_ids')")[0]
        con.execute(
            "INSERT INTO meta.snapshots (snapshot_id, datastack, table_name, role, version, query, query_key, "
            "status, row_count, expected_rows, source, caveclient_version, warehouse_version, started_at, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'incomplete', 0, ?, ?, ?, ?, ?, ?)",
            [
                sid,
                datastack,
                req.layout.name,
                req.layout.role,
                req.version,
                json.dumps(req.recorded_query, sort_keys=True),
                req.key,
                req.expected_rows,
                source.label,
                source.client_version,
                __version__,
                _now(),
                req.timestamp,
            ],
        )
        con.executemany(
            "INSERT INTO meta.chunks VALUES (?, ?, NULL, ?, 'pending', NULL, 0, NULL)",
            [(sid, i, json.dumps(spec)) for i, spec in enumerate(req.root_chunks)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return sid


def run_snapshot(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    req: SnapshotRequest,
    *,
    datastack: str,
    workers: int = 4,
    force: bool = False,
    retry: RetryPolicy | None = None,
    progress: Progress | None = None,
    after_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None,
) -> SnapshotOutcome:
    retry = retry or RetryPolicy()
    t0 = time.monotonic()
    found, replaces, unchanged = _existing(con, req, force)
    if unchanged:
        return unchanged
    if found:
        sid, action = found[0], "resumed"
    else:
        sid, action = _start(con, req, source, datastack), "created"
    outcome = SnapshotOutcome(sid, req.layout.name, req.version, 0, action)
    _fetch_all(con, source, req, sid, req.sets, workers, retry, progress, outcome)
    _await_expected(con, req, sid)
    try:
        rows = _verify(con, req, sid)
    except WarehouseError as exc:
        _discard(con, req, sid, exc)
        raise
    _commit(con, req, sid, rows, replaces)
    if after_commit:
        after_commit(con, req.version)
    outcome.rows = rows
    outcome.chunks_total = fetch_one(
        con, "SELECT count(*) FROM meta.chunks WHERE snapshot_id = ? AND status = 'done'", [sid]
    )[0]
    outcome.seconds = time.monotonic() - t0
    return outcome


def _fetch_all(con, source, req, sid, sets, workers, retry, progress, outcome) -> None:
    pending = deque(
        (cid, json.loads(spec))
        for cid, spec in con.execute(
            "SELECT chunk_id, spec FROM meta.chunks WHERE snapshot_id = ? AND status = 'pending' ORDER BY chunk_id",
            [sid],
        ).fetchall()
    )
    done_before, rows_before = fetch_one(
        con,
        "SELECT count(*), coalesce(sum(row_count), 0) FROM meta.chunks WHERE snapshot_id = ? AND status = 'done'",
        [sid],
    )
    next_id = fetch_one(
        con, "SELECT coalesce(max(chunk_id), -1) + 1 FROM meta.chunks WHERE snapshot_id = ?", [sid]
    )[0]
    if progress:
        progress.start(req.layout.name, req.version, done_before + len(pending), done_before, rows_before)
    stop = threading.Event()
    table, role, version = req.layout.name, req.layout.role, req.version

    # `at` only for a live snapshot, so a source that knows nothing of live snapshots still serves versions
    live = {"at": req.timestamp} if req.timestamp is not None else {}

    def fetch(spec: dict) -> tuple[Answer, int]:
        resolved = chunks.resolve(spec, sets)
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
                    _record_split(con, sid, cid, children, next_id, retries)
                    pending.extend((next_id + i, c) for i, c in enumerate(children))
                    next_id += len(children)
                    outcome.splits += 1
                    if progress:
                        progress.add_chunks(len(children) - 1)
                else:
                    _record_rows(con, req.layout, sid, cid, answer.table, retries)
                    if progress:
                        progress.chunk_done(answer.table.num_rows)
            if failure is not None:
                raise failure
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        _note(con, sid, exc)
        done = fetch_one(
            con,
            "SELECT count(*) FILTER (status = 'done'), count(*) FILTER (status <> 'split') FROM meta.chunks "
            "WHERE snapshot_id = ?",
            [sid],
        )
        if progress:
            progress.close()
        if isinstance(exc, WarehouseError) and not isinstance(exc, RetryableSourceError):
            if done[0] == 0:
                _forget(con, req.layout, sid)  # nothing was fetched: leave no trace of the attempt
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


def _note(con, sid: int, exc: BaseException) -> None:
    # The file may be the thing that failed (a full disk); the chunks already say what is kept.
    with contextlib.suppress(duckdb.Error):
        con.execute("UPDATE meta.snapshots SET message = ? WHERE snapshot_id = ?", [_one_line(exc), sid])


def _record_split(con, sid: int, cid: int, children: list[dict], first_id: int, retries: int) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "UPDATE meta.chunks SET status = 'split', attempts = attempts + ?, fetched_at = ? "
            "WHERE snapshot_id = ? AND chunk_id = ?",
            [retries + 1, _now(), sid, cid],
        )
        con.executemany(
            "INSERT INTO meta.chunks VALUES (?, ?, ?, ?, 'pending', NULL, 0, NULL)",
            [(sid, first_id + i, cid, json.dumps(c)) for i, c in enumerate(children)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _record_rows(con, layout: TableLayout, sid: int, cid: int, table: pa.Table, retries: int) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        if table.num_rows:
            con.register("mwh_chunk", table)
            try:
                con.execute(f"INSERT INTO {layout.stage_table} SELECT ?, ?, * FROM mwh_chunk", [sid, cid])
            finally:
                con.unregister("mwh_chunk")
        con.execute(
            "UPDATE meta.chunks SET status = 'done', row_count = ?, attempts = attempts + ?, fetched_at = ? "
            "WHERE snapshot_id = ? AND chunk_id = ?",
            [table.num_rows, retries + 1, _now(), sid, cid],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _await_expected(con, req: SnapshotRequest, sid: int) -> None:
    """The server's count, asked while the chunks were fetched, recorded before it is checked. If
    counting fails the chunks stay kept and the snapshot incomplete: a re-run counts again."""
    if req.expected is None:
        return
    try:
        req.expected_rows = req.expected()
    except BaseException as exc:
        _note(con, sid, exc)
        raise
    con.execute("UPDATE meta.snapshots SET expected_rows = ? WHERE snapshot_id = ?", [req.expected_rows, sid])


def _verify(con, req: SnapshotRequest, sid: int) -> int:
    """Counts must add up before anything becomes visible; returns the snapshot's row count."""
    stage = req.layout.stage_table
    chunk_rows = fetch_one(
        con,
        "SELECT coalesce(sum(row_count), 0) FROM meta.chunks WHERE snapshot_id = ? AND status = 'done'",
        [sid],
    )[0]
    staged, distinct = fetch_one(
        con, f"SELECT count(*), count(DISTINCT id) FROM {stage} WHERE snapshot_id = ?", [sid]
    )
    what = f"{req.layout.name} v{req.version}"
    if distinct == 0:
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


def _discard(con, req: SnapshotRequest, sid: int, exc: BaseException) -> None:
    """Drop a snapshot that failed verification, so the next run fetches it afresh: resuming it
    would only verify the same rows again and fail the same way."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {req.layout.stage_table} WHERE snapshot_id = ?", [sid])
        con.execute(
            "UPDATE meta.snapshots SET status = 'failed', finished_at = ?, message = ? WHERE snapshot_id = ?",
            [_now(), _one_line(exc), sid],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _forget(con, layout: TableLayout, sid: int) -> None:
    """Remove every trace of a snapshot attempt that stored no chunk (a bad table, token or answer)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {layout.stage_table} WHERE snapshot_id = ?", [sid])
        con.execute("DELETE FROM meta.chunks WHERE snapshot_id = ?", [sid])
        con.execute("DELETE FROM meta.snapshots WHERE snapshot_id = ?", [sid])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _commit(con, req: SnapshotRequest, sid: int, rows: int, replaces: int | None) -> None:
    layout = req.layout
    stage = layout.stage_table
    dedupe = len(req.families) > 1
    source = (
        f"(SELECT DISTINCT ON (id) * FROM {stage} WHERE snapshot_id = {sid:d})"
        if dedupe
        else (f"(SELECT * FROM {stage} WHERE snapshot_id = {sid:d})")
    )
    names = layout.schema.names
    con.execute("BEGIN TRANSACTION")
    try:
        if replaces is not None:
            con.execute(f"DELETE FROM {layout.rows_table} WHERE snapshot_id = ?", [replaces])
            con.execute("UPDATE meta.snapshots SET status = 'replaced' WHERE snapshot_id = ?", [replaces])
        if layout.split:
            fixed = ", ".join(f's."{c}"' for c in layout.fixed_columns)
            con.execute(
                f"INSERT INTO {layout.fixed_table} SELECT {fixed} FROM {source} s "
                f"ANTI JOIN {layout.fixed_table} f ON f.id = s.id"
            )
            cols = ", ".join(f'"{c}"' for c in layout.varying_columns)
        else:
            cols = ", ".join(f'"{c}"' for c in names)
        con.execute(f"INSERT INTO {layout.rows_table} SELECT {sid:d}, {req.version:d}, {cols} FROM {source}")
        con.execute(f"DELETE FROM {stage} WHERE snapshot_id = ?", [sid])
        con.execute(
            "UPDATE meta.snapshots SET status = 'complete', row_count = ?, finished_at = ?, message = NULL "
            "WHERE snapshot_id = ?",
            [rows, _now(), sid],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def run_whole_file_snapshot(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    req: SnapshotRequest,
    write: Callable[[duckdb.DuckDBPyConnection, int], int],
    *,
    datastack: str,
    force: bool = False,
    after_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None,
) -> SnapshotOutcome:
    """A snapshot taken from one file in one transaction: stage it all, verify, commit - or nothing.

    A file cannot be fetched in resumable chunks, and copying hundreds of millions of rows from a
    stage table into raw would write them twice, so `write(con, snapshot_id)` appends the rows
    straight into the raw tables inside the transaction (views ignore a snapshot until it is
    complete) and returns how many it wrote. Any failure rolls all of it back; the snapshot row
    stays 'incomplete' with the reason, and the same command starts the file again.
    """
    t0 = time.monotonic()
    found, replaces, unchanged = _existing(con, req, force)
    if unchanged:
        return unchanged
    sid, action = (found[0], "resumed") if found else (_start(con, req, source, datastack), "created")
    con.execute("BEGIN TRANSACTION")
    try:
        if replaces is not None:
            con.execute(f"DELETE FROM {req.layout.rows_table} WHERE snapshot_id = ?", [replaces])
            con.execute("UPDATE meta.snapshots SET status = 'replaced' WHERE snapshot_id = ?", [replaces])
        rows = write(con, sid)
        if req.expected_rows is not None and rows != req.expected_rows:
            raise WarehouseError(
                f"{req.layout.name} v{req.version}: expected {req.expected_rows} rows but {rows} arrived; "
                "nothing was committed"
            )
        con.execute(
            "UPDATE meta.chunks SET status = 'done', row_count = ?, attempts = attempts + 1, fetched_at = ? "
            "WHERE snapshot_id = ?",
            [rows, _now(), sid],
        )
        con.execute(
            "UPDATE meta.snapshots SET status = 'complete', row_count = ?, finished_at = ?, message = NULL "
            "WHERE snapshot_id = ?",
            [rows, _now(), sid],
        )
        con.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(duckdb.Error):  # the failure may already have aborted the transaction
            con.execute("ROLLBACK")
        _note(con, sid, exc)
        if isinstance(exc, WarehouseError):
            raise
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {_one_line(exc)}"
        raise IngestInterrupted(
            f"{req.layout.name} v{req.version} {reason}; nothing of it was kept - run the same command again"
        ) from None
    if after_commit:
        after_commit(con, req.version)
    return SnapshotOutcome(
        sid, req.layout.name, req.version, rows, action, 1, 1, seconds=time.monotonic() - t0
    )


def assert_answer_columns(answer: Answer, layout: TableLayout) -> None:
    if answer.table.schema.names != layout.schema.names:
        raise SourceError(f"answer for {layout.name} has columns {answer.table.schema.names}")
