"""The one place that opens a DuckDB file, so every command gets the same checks and messages.

DuckDB lets one process write a file and refuses others with an IOException naming the holder;
that becomes a one-line `WarehouseLocked`. Readers open read-only so that several of them (shells,
notebooks, `mwh sql`) can share a file that no ingest is writing.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from . import settings
from .errors import NotAWarehouse, WarehouseLocked

# Files must open in the stock duckdb shell from the 1.4 LTS on.
STORAGE_COMPATIBILITY = "v1.4.0"
_LOCK_RE = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


JOIN_KEYS_PUSHED = 2048


def connect(path: Path | str, *, read_only: bool = True, create: bool = False) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if path.is_dir():
        raise NotAWarehouse(
            f"{path} is a directory; give a warehouse file with --db (e.g. {path}/warehouse.duckdb)"
        )
    if not path.exists():
        if not create:
            raise NotAWarehouse(
                f"no warehouse at {path}; create one with 'mwh demo' or 'mwh ingest', or point --db/MWH_DB at one"
            )
        if not path.parent.exists():
            raise NotAWarehouse(f"folder {path.parent} does not exist; create it or choose another --db path")
    elif not os.access(path, os.R_OK) or (not read_only and not os.access(path, os.W_OK)):
        mode = "read" if read_only else "write"
        raise NotAWarehouse(f"cannot {mode} {path}: permission denied")
    config = {} if read_only else {"storage_compatibility_version": STORAGE_COMPATIBILITY}
    limit = settings.memory_limit()
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        raise _explain_io_error(path, exc) from None
    except (duckdb.SerializationException, duckdb.InvalidInputException, duckdb.InternalException) as exc:
        raise NotAWarehouse(f"{path} is not a readable DuckDB file ({_first_line(exc)})") from None
    if limit is not None:
        # SET, not the connect config: DuckDB refuses a second connection to a file in the same
        # process whose config differs, so a notebook's own duckdb.connect(path) next to
        # warehouse.open(path) would fail. The setting is the file's database instance's, shared.
        con.execute(f"SET memory_limit = '{limit}'")
    # A hash join whose build side has at most this many keys hands its probe-side scan the keys
    # themselves (DuckDB's default: 50), which the zone maps of the root-ordered synapse rows and
    # the id-ordered __fixed then skip on: the semi joins on the proofread cells (1,436 on
    # minnie65_public) and the fixed columns of the synapses between them. proofread_synapses at
    # 100 M rows: 3.6 -> 2.5 s (docs/benchmarks.md, section 8). A GLOBAL setting, like the limit.
    con.execute(f"SET dynamic_or_filter_threshold = {JOIN_KEYS_PUSHED}")
    return con


def _explain_io_error(path: Path, exc: Exception) -> Exception:
    msg = str(exc)
    m = _LOCK_RE.search(msg)
    if m or "lock" in msg.lower():
        pid = int(m.group(2)) if m else None
        holder = f"process {pid} ({_command_of(pid) or Path(m.group(1)).name})" if m else "another process"
        if pid is not None and _lock_kind(path, pid) == "READ":
            return WarehouseLocked(
                f"{path} is open read-only by {holder} (a notebook, a duckdb shell or mwh sql); a reader keeps "
                "an ingest out: close it there (wh.close() in Python, .quit in the shell) and run the command again"
            )
        return WarehouseLocked(
            f"{path} is open for writing by {holder}; wait for it to finish (an ingest can take a while) "
            "or work on a copy of the file"
        )
    if "not a valid DuckDB database" in msg or "database file" in msg.lower():
        return NotAWarehouse(f"{path} is not a DuckDB warehouse file (corrupt or another format)")
    return NotAWarehouse(f"cannot open {path}: {_first_line(exc)}")


def _lock_kind(path: Path, pid: int) -> str | None:
    """'READ' or 'WRITE': the kind of lock `pid` holds on the file, from Linux's /proc/locks.

    DuckDB's message names the holder but not whether it reads or writes: a read-only connection
    takes a shared (READ) lock, a writer an exclusive (WRITE) one. None where /proc says nothing.
    """
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        # "1: POSIX  ADVISORY  READ 1234 08:01:5678 0 EOF" (a blocked waiter has "->" first)
        if (
            len(parts) >= 6
            and parts[1] != "->"
            and parts[4] == str(pid)
            and parts[5].rsplit(":", 1)[-1] == str(inode)
        ):
            return parts[3]
    return None


def _command_of(pid: int) -> str | None:
    """What the holding process runs, e.g. 'python3 -m ipykernel' or 'duckdb warehouse.duckdb'."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    text = " ".join(
        Path(w.decode(errors="replace")).name if i == 0 else w.decode(errors="replace")
        for i, w in enumerate(words)
        if w
    )
    return text[:80] or None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> tuple | None:
    """The first row of a query, with the result fully consumed.

    DuckDB 2 keeps a partly fetched result open on the connection and refuses the next statement,
    so a lone `fetchone()` is not safe; this works the same on DuckDB 1.x and 2.x.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One all-or-nothing unit of work: committed when the block ends, rolled back on any error.

    The rollback itself may fail when the error already aborted DuckDB's transaction (a full disk,
    a constraint); the first error is the one worth raising, so that failure is swallowed.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
