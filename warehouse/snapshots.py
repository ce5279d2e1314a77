"""The snapshot bookkeeping: every statement on `meta.snapshots` and `meta.chunks`, in one module.

A snapshot is one (table role, version, query) taken all or nothing. Its row in `meta.snapshots`
goes `incomplete` -> `complete` (or `failed`, or later `replaced` by `--force`), and its chunks in
`meta.chunks` are the resumable work queue: `pending`, `done` (rows staged) or `split` (answered at
the row cap, replaced by two halves). The job decides *when* each change happens; this module is
*how* it is written, so the catalog has one writer and the store (warehouse/store.py) one for rows.

`meta.current_snapshots`, the snapshots the views read, is a table this module rewrites after every
change to `meta.snapshots`, in the same transaction (`refresh_current`). It was a view with a
window over `meta.snapshots`; every staging view and check names it, so a one-neuron lookup planned
that window a dozen times: 25 % of `partners`' time (docs/benchmarks.md, section 9).
`meta.version_facts`, rewritten with it, is one row per version of what the checks in sql/macros
ask (the roles held, the synapse snapshots' kinds, a live snapshot's timestamp for the command to
run), so that each check is one lookup to plan instead of two or three subqueries (section 10).

Functions that change a row take no transaction of their own unless they say so: the job wraps a
chunk's rows and its `done` mark in one transaction (warehouse.connection.transaction).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from . import __version__, registry
from .connection import fetch_one, transaction


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewSnapshot:
    """What `start` records about a snapshot before its first chunk is fetched."""

    datastack: str
    table: str
    role: str
    version: int
    query: dict  # JSON-able, as shown by mwh status and read back by diff
    key: str  # digest of (table, version, query): the same query again finds this snapshot
    source: str
    client_version: str | None
    expected_rows: int | None = None
    timestamp: datetime | None = None  # a live snapshot's time (aware, UTC)
    # Root ids whose every synapse, in both directions, the snapshot holds (meta.snapshot_roots):
    # what lets partners() answer for a neuron, or say that it cannot.
    covers: Sequence[int] = ()


# ----------------------------------------------------------------------------- a snapshot's life
def find(con: duckdb.DuckDBPyConnection, role: str, version: int, key: str) -> tuple[int, str] | None:
    """The newest complete or incomplete snapshot of exactly this query: (snapshot_id, status)."""
    row = fetch_one(
        con,
        "SELECT snapshot_id, status FROM meta.snapshots WHERE role = ? AND version = ? AND query_key = ? "
        "AND status IN ('complete', 'incomplete') ORDER BY snapshot_id DESC LIMIT 1",
        [role, version, key],
    )
    return (row[0], row[1]) if row else None


def find_complete(con: duckdb.DuckDBPyConnection, role: str, version: int, key: str) -> int | None:
    """The complete snapshot of exactly this query, if any (a --force run replaces it)."""
    row = fetch_one(
        con,
        "SELECT snapshot_id FROM meta.snapshots WHERE role = ? AND version = ? AND query_key = ? "
        "AND status = 'complete' ORDER BY snapshot_id DESC LIMIT 1",
        [role, version, key],
    )
    return row[0] if row else None


def row_count(con: duckdb.DuckDBPyConnection, sid: int) -> int:
    return fetch_one(con, "SELECT row_count FROM meta.snapshots WHERE snapshot_id = ?", [sid])[0]


def start(con: duckdb.DuckDBPyConnection, new: NewSnapshot, chunks: Sequence[dict]) -> int:
    """Record a new incomplete snapshot and its root chunks, in one transaction; its id."""
    with transaction(con):
        sid = fetch_one(con, "SELECT nextval('meta.snapshot_ids')")[0]
        con.execute(
            "INSERT INTO meta.snapshots (snapshot_id, datastack, table_name, role, version, query, query_key, "
            "status, row_count, expected_rows, source, caveclient_version, warehouse_version, started_at, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'incomplete', 0, ?, ?, ?, ?, ?, ?)",
            [
                sid,
                new.datastack,
                new.table,
                new.role,
                new.version,
                json.dumps(new.query, sort_keys=True),
                new.key,
                new.expected_rows,
                new.source,
                new.client_version,
                __version__,
                _now(),
                new.timestamp,
            ],
        )
        con.executemany(
            "INSERT INTO meta.chunks VALUES (?, ?, NULL, ?, 'pending', NULL, 0, NULL)",
            [(sid, i, json.dumps(spec)) for i, spec in enumerate(chunks)],
        )
        if new.covers:
            con.execute(
                "INSERT INTO meta.snapshot_roots SELECT ?, unnest(?::BIGINT[])",
                [sid, sorted(set(new.covers))],
            )
        refresh_current(con)
    return sid


def note(con: duckdb.DuckDBPyConnection, sid: int, message: str) -> None:
    """Why a run stopped, for mwh status; the file itself may be what failed, so errors are dropped."""
    with contextlib.suppress(duckdb.Error):
        con.execute("UPDATE meta.snapshots SET message = ? WHERE snapshot_id = ?", [message, sid])
        refresh_current(con)


def set_expected(con: duckdb.DuckDBPyConnection, sid: int, rows: int | None) -> None:
    con.execute("UPDATE meta.snapshots SET expected_rows = ? WHERE snapshot_id = ?", [rows, sid])
    refresh_current(con)


def mark_complete(con: duckdb.DuckDBPyConnection, sid: int, rows: int) -> None:
    con.execute(
        "UPDATE meta.snapshots SET status = 'complete', row_count = ?, finished_at = ?, message = NULL "
        "WHERE snapshot_id = ?",
        [rows, _now(), sid],
    )
    refresh_current(con)


def mark_replaced(con: duckdb.DuckDBPyConnection, sid: int) -> None:
    con.execute("UPDATE meta.snapshots SET status = 'replaced' WHERE snapshot_id = ?", [sid])
    refresh_current(con)


def mark_failed(con: duckdb.DuckDBPyConnection, sid: int, message: str) -> None:
    con.execute(
        "UPDATE meta.snapshots SET status = 'failed', finished_at = ?, message = ? WHERE snapshot_id = ?",
        [_now(), message, sid],
    )
    refresh_current(con)


def forget(con: duckdb.DuckDBPyConnection, sid: int) -> None:
    """Remove the snapshot's catalog rows (the caller removes its staged rows in the same transaction)."""
    con.execute("DELETE FROM meta.chunks WHERE snapshot_id = ?", [sid])
    con.execute("DELETE FROM meta.snapshot_roots WHERE snapshot_id = ?", [sid])
    con.execute("DELETE FROM meta.snapshots WHERE snapshot_id = ?", [sid])
    refresh_current(con)


_CURRENT_COMMENT = (
    "The snapshots each view reads for a (table role, version): the newest complete one, or for the "
    "synapse table every complete one (their rows add up, each synapse once). Rewritten from "
    "meta.snapshots with every change to it, in the same transaction."
)
_FACTS_COMMENT = (
    "What the checks (require_snapshot, require_synapses_of, ingest_args) need to know of each version, "
    "one row a version: the roles it holds, its synapse snapshots'' kinds, and for a live snapshot''s "
    "number the mwh ingest arguments that take it again. Rewritten from meta.current_snapshots and "
    "meta.versions with every change to either."
)
# A live snapshot's number is the file's own, so the command that takes it again names its time, in
# UTC, to the microsecond when it has one (ingest_args in sql/macros reads the result).
_LIVE_ARGS = (
    "' --timestamp ' || strftime(make_timestamp(epoch_us(time_stamp)), '%Y-%m-%dT%H:%M:%S') "
    "|| CASE WHEN epoch_us(time_stamp) % 1000000 = 0 THEN '' "
    "ELSE '.' || lpad(CAST(epoch_us(time_stamp) % 1000000 AS VARCHAR), 6, '0') END || 'Z'"
)


def refresh_current(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite `meta.current_snapshots` from `meta.snapshots` (a few rows per version), then
    `meta.version_facts` from it and `meta.versions`' live rows.

    The newest complete snapshot of each (role, version), or for a role whose snapshots add up
    (registry `accumulates`: the synapse table's partial snapshots) every complete one."""
    roles = ", ".join(f"'{r}'" for r in registry.accumulating()) or "''"
    # One statement each, so each is atomic even outside a transaction (note() runs in none, and
    # changes no fact): a DELETE and an INSERT would let a view see the table empty in between.
    con.execute(
        "CREATE OR REPLACE TABLE meta.current_snapshots AS SELECT * FROM meta.snapshots WHERE status = 'complete' "
        f"QUALIFY role IN ({roles}) "
        "OR row_number() OVER (PARTITION BY role, version ORDER BY finished_at DESC, snapshot_id DESC) = 1"
    )
    con.execute(f"COMMENT ON TABLE meta.current_snapshots IS '{_CURRENT_COMMENT}'")
    con.execute(
        "CREATE OR REPLACE TABLE meta.version_facts AS SELECT version, "
        "coalesce(list(DISTINCT role ORDER BY role) FILTER (WHERE role IS NOT NULL), []) AS roles, "
        "string_agg(DISTINCT kind, ', ' ORDER BY kind) FILTER (WHERE role = 'synapses') AS synapse_kinds, "
        "any_value(live_args) AS live_args FROM ("
        "SELECT version, role, json_extract_string(query, '$.kind') AS kind, NULL AS live_args "
        "FROM meta.current_snapshots "
        f"UNION ALL SELECT version, NULL, NULL, {_LIVE_ARGS} FROM meta.versions WHERE kind = 'live'"
        ") GROUP BY version ORDER BY version"
    )
    con.execute(f"COMMENT ON TABLE meta.version_facts IS '{_FACTS_COMMENT}'")


def create_current(con: duckdb.DuckDBPyConnection) -> None:
    """`meta.current_snapshots` and `meta.version_facts` as tables, filled: in a new file, in schema
    4 -> 5, where the first replaces the view of that name, and in 5 -> 6, which adds the second."""
    was_view = fetch_one(
        con,
        "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'meta' AND view_name = 'current_snapshots'",
    )[0]
    if was_view:
        con.execute("DROP VIEW meta.current_snapshots")
    refresh_current(con)


# ------------------------------------------------------------------------------------- chunks
def pending_chunks(con: duckdb.DuckDBPyConnection, sid: int) -> list[tuple[int, dict]]:
    rows = con.execute(
        "SELECT chunk_id, spec FROM meta.chunks WHERE snapshot_id = ? AND status = 'pending' ORDER BY chunk_id",
        [sid],
    ).fetchall()
    return [(cid, json.loads(spec)) for cid, spec in rows]


def done_so_far(con: duckdb.DuckDBPyConnection, sid: int) -> tuple[int, int]:
    """Chunks done and the rows they hold."""
    return fetch_one(
        con,
        "SELECT count(*), coalesce(sum(row_count), 0) FROM meta.chunks WHERE snapshot_id = ? AND status = 'done'",
        [sid],
    )


def next_chunk_id(con: duckdb.DuckDBPyConnection, sid: int) -> int:
    return fetch_one(
        con, "SELECT coalesce(max(chunk_id), -1) + 1 FROM meta.chunks WHERE snapshot_id = ?", [sid]
    )[0]


def chunk_tally(con: duckdb.DuckDBPyConnection, sid: int) -> tuple[int, int]:
    """(chunks done, chunks that are not split): what a stopped run says it keeps."""
    return fetch_one(
        con,
        "SELECT count(*) FILTER (status = 'done'), count(*) FILTER (status <> 'split') FROM meta.chunks "
        "WHERE snapshot_id = ?",
        [sid],
    )


def mark_split(
    con: duckdb.DuckDBPyConnection, sid: int, cid: int, children: Sequence[dict], first_id: int, attempts: int
) -> None:
    con.execute(
        "UPDATE meta.chunks SET status = 'split', attempts = attempts + ?, fetched_at = ? "
        "WHERE snapshot_id = ? AND chunk_id = ?",
        [attempts, _now(), sid, cid],
    )
    con.executemany(
        "INSERT INTO meta.chunks VALUES (?, ?, ?, ?, 'pending', NULL, 0, NULL)",
        [(sid, first_id + i, cid, json.dumps(c)) for i, c in enumerate(children)],
    )


def mark_chunk_done(
    con: duckdb.DuckDBPyConnection, sid: int, cid: int | None, rows: int, attempts: int
) -> None:
    """One chunk done with `rows` rows; `cid` None marks every chunk of the snapshot (a whole file)."""
    where = "snapshot_id = ?" + ("" if cid is None else " AND chunk_id = ?")
    con.execute(
        f"UPDATE meta.chunks SET status = 'done', row_count = ?, attempts = attempts + ?, fetched_at = ? WHERE {where}",
        [rows, attempts, _now(), sid, *([] if cid is None else [cid])],
    )


# ------------------------------------------------------------------------------ what readers see
def current_roles(con: duckdb.DuckDBPyConnection, version: int) -> set[str]:
    """The table roles a version has a complete snapshot of."""
    return {
        r[0]
        for r in con.execute(
            "SELECT role FROM meta.current_snapshots WHERE version = ?", [version]
        ).fetchall()
    }


def current_snapshot_id(con: duckdb.DuckDBPyConnection, role: str, version: int) -> int | None:
    row = fetch_one(
        con, "SELECT snapshot_id FROM meta.current_snapshots WHERE role = ? AND version = ?", [role, version]
    )
    return row[0] if row else None


def versions_held(con: duckdb.DuckDBPyConnection, role: str | None = None) -> list[int]:
    """Versions with a complete snapshot (of `role`, or of any role), ascending."""
    sql = "SELECT DISTINCT version FROM meta.current_snapshots"
    params: list = []
    if role:
        sql += " WHERE role = ?"
        params.append(role)
    return [r[0] for r in con.execute(sql + " ORDER BY version", params).fetchall()]


def roles_by_version(con: duckdb.DuckDBPyConnection) -> dict[int, list[str]]:
    held: dict[int, list[str]] = {}
    for role, v in con.execute(
        "SELECT DISTINCT role, version FROM meta.current_snapshots ORDER BY role"
    ).fetchall():
        held.setdefault(v, []).append(role)
    return held


def latest_complete_version(con: duckdb.DuckDBPyConnection, roles: Sequence[str]) -> int | None:
    """The newest version at which every role is snapshotted."""
    row = fetch_one(
        con,
        "SELECT version FROM meta.current_snapshots WHERE role IN (SELECT unnest(?)) "
        "GROUP BY version HAVING count(DISTINCT role) = ? ORDER BY version DESC LIMIT 1",
        [list(roles), len(set(roles))],
    )
    return row[0] if row else None


def query_kind(con: duckdb.DuckDBPyConnection, role: str, version: int) -> str | None:
    """The `kind` of the queries behind a version's current snapshots of a role (e.g.
    synapses_partners; several, for the synapse table, joined with ' + ')."""
    row = fetch_one(
        con,
        "SELECT string_agg(DISTINCT json_extract_string(query, '$.kind'), ' + ' ORDER BY json_extract_string(query, '$.kind')) "
        "FROM meta.current_snapshots WHERE role = ? AND version = ?",
        [role, version],
    )
    return row[0] if row else None


# Query kinds of a snapshot that holds the whole table, so every root's synapses (a dump file, a
# Delta export, a whole-table query). sql/macros/require_synapses_of.sql lists the same; a test
# in tests/test_sql_files.py keeps the two alike.
WHOLE_TABLE_KINDS = ("dump", "whole_table", "delta_export")


def covered_roots(con: duckdb.DuckDBPyConnection, role: str, version: int) -> list[int] | None:
    """The root ids whose every synapse the file holds at a version; None when it holds the whole
    table (a dump), so every root is."""
    whole = fetch_one(
        con,
        "SELECT count(*) FROM meta.current_snapshots WHERE role = ? AND version = ? "
        "AND json_extract_string(query, '$.kind') IN (SELECT unnest(?))",
        [role, version, list(WHOLE_TABLE_KINDS)],
    )[0]
    if whole:
        return None
    rows = con.execute(
        "SELECT DISTINCT r.covered_root_id FROM meta.snapshot_roots r JOIN meta.current_snapshots s USING (snapshot_id) "
        "WHERE s.role = ? AND s.version = ? ORDER BY 1",
        [role, version],
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Scope:
    """What one synapse snapshot of a version holds, for mwh status."""

    kind: str  # synapses_proofread, synapses_partners, synapses_roots, dump
    rows: int
    roots: int  # root ids it holds every synapse of


def synapse_scopes(con: duckdb.DuckDBPyConnection, role: str, version: int) -> list[Scope]:
    rows = con.execute(
        "SELECT json_extract_string(s.query, '$.kind'), s.row_count, "
        "(SELECT count(*) FROM meta.snapshot_roots r WHERE r.snapshot_id = s.snapshot_id) "
        "FROM meta.current_snapshots s WHERE role = ? AND version = ? ORDER BY snapshot_id",
        [role, version],
    ).fetchall()
    return [Scope(*r) for r in rows]


@dataclass(frozen=True)
class HeldSnapshot:
    version: int
    role: str
    table: str
    rows: int
    finished_at: datetime
    query: dict


def current(con: duckdb.DuckDBPyConnection) -> list[HeldSnapshot]:
    rows = con.execute(
        "SELECT version, role, table_name, row_count, finished_at, query FROM meta.current_snapshots "
        "ORDER BY version, role"
    ).fetchall()
    return [HeldSnapshot(v, r, t, n, f, json.loads(q) if q else {}) for v, r, t, n, f, q in rows]


@dataclass(frozen=True)
class Unfinished:
    snapshot_id: int
    table: str
    version: int
    chunks_done: int
    chunks_total: int
    message: str | None
    version_expired: bool


def unfinished(con: duckdb.DuckDBPyConnection) -> list[Unfinished]:
    """Incomplete snapshots with their progress, and whether the server has since expired the version."""
    rows = con.execute(
        "SELECT s.snapshot_id, s.table_name, s.version, count(*) FILTER (c.status = 'done'), "
        "count(*) FILTER (c.status <> 'split'), s.message, coalesce(any_value(mv.expired), false) "
        "FROM meta.snapshots s JOIN meta.chunks c USING (snapshot_id) "
        "LEFT JOIN meta.versions mv ON mv.datastack = s.datastack AND mv.version = s.version "
        "WHERE s.status = 'incomplete' GROUP BY s.snapshot_id, s.table_name, s.version, s.message ORDER BY 1"
    ).fetchall()
    return [Unfinished(*r) for r in rows]


def any_for_version(con: duckdb.DuckDBPyConnection, version: int) -> bool:
    """Does any snapshot, in any state, name this version?"""
    return fetch_one(con, "SELECT count(*) FROM meta.snapshots WHERE version = ?", [version])[0] > 0
