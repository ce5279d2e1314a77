"""What a whole-file snapshot (a dump file, a Delta export copy) does besides reading its format.

Both take one complete table that cannot be fetched in resumable chunks: its batches go through
the store's appender inside one transaction (ingest/job.py `run_whole_file_snapshot`), with
DuckDB's buffer pool capped while they stream. The readers differ; this is the part they share.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from warehouse import settings
from warehouse.api import Warehouse
from warehouse.connection import fetch_one
from warehouse.store import AppendStats, TableLayout

from .job import SnapshotRequest


@dataclass
class FileSource:
    """What meta.snapshots records as the source of a snapshot taken from files."""

    datastack: str
    label: str
    client_version: str | None = None


@dataclass
class FileStats(AppendStats):
    """Where a file ingest's time went (seconds), for the benchmarks and the progress line."""

    read_wait: float = 0.0  # waiting for the reader (inflate and parse, or decode) to hand over a batch
    append: float = 0.0  # DuckDB appends and dedup probes
    extra: dict = field(default_factory=dict)


@contextlib.contextmanager
def capped_memory(wh: Warehouse) -> Iterator[None]:
    """DuckDB's buffer pool at settings.DUMP_MEMORY_LIMIT while files stream in, then as it was."""
    old_limit = fetch_one(wh.con, "SELECT current_setting('memory_limit')")[0]
    wh.con.execute(f"SET memory_limit = '{settings.DUMP_MEMORY_LIMIT}'")
    try:
        yield
    finally:
        wh.con.execute(f"SET memory_limit = '{old_limit}'")


def append_batches(
    wh: Warehouse,
    role: str,
    sid: int,
    version: int,
    read: Callable[[tuple[str, ...] | None], Iterable[pa.Table]],
    *,
    label: str,
    name: str,
    st: FileStats,
    on_batch: Callable[[str, int], None] | None,
) -> int:
    """Every batch of `read(columns)` through the store's appender, timing the wait for the reader
    apart from the appends; `on_batch(name, rows)` after each. Returns the rows written.

    `columns` is the store's `narrow_columns` (a later version of the split synapse table: id and
    root ids only), or None for whole rows. After a narrow pass `read(None)` reads the file again,
    whole, only if the appender found ids whose fixed columns it lacks."""
    narrow = wh.store.narrow_columns(role)
    st.extra["narrow"] = narrow is not None
    appender = wh.store.appender(role, sid, version, st)
    _timed(read(narrow), appender.append, st, lambda rows: on_batch(name, rows) if on_batch else None)
    missing = appender.missing_fixed() if narrow is not None else 0
    if missing:
        st.extra["second_pass_ids"] = missing
        _timed(read(None), appender.append_fixed, st, lambda rows: None)
    t0 = time.monotonic()
    appender.finish(label)
    st.append += time.monotonic() - t0
    return st.rows


def _timed(
    batches: Iterable[pa.Table], take: Callable[[pa.Table], None], st: FileStats, after: Callable[[int], None]
) -> None:
    t_wait = time.monotonic()
    for batch in batches:
        t0 = time.monotonic()
        st.read_wait += t0 - t_wait
        take(batch)
        t_wait = time.monotonic()
        st.append += t_wait - t0
        after(batch.num_rows)


def file_request(
    layout: TableLayout, version: int, query: dict, file: str, expected_rows: int | None = None
) -> SnapshotRequest:
    """The snapshot request of a table taken from one file: one chunk, the whole file."""
    chunk = {"in": {}, "split": None, "id_range": [None, None], "family": "all", "file": file}
    return SnapshotRequest(
        layout=layout, version=version, query=query, root_chunks=[chunk], expected_rows=expected_rows
    )
