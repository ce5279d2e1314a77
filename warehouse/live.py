"""Live snapshots: CAVE's data as it was at a timestamp, under a version number of the file's own.

Every view keys its rows on an integer `version`. A materialization has one from CAVE; data newer
than the last materialization does not, so a live snapshot gets a local number: 1,000,001,
1,000,002, ... in the order timestamps are first snapshotted. The number is recorded in
`meta.versions` with `kind = 'live'` and the snapshot's UTC timestamp in `time_stamp`, so:

- the same timestamp always gets the same number back, which makes a re-run a no-op and lets an
  interrupted run resume (its snapshots keep their version and query key);
- numbers never change once given, so SQL written against `version = 1000001` keeps working;
- they sit far above CAVE's own numbers (minnie65_public is in the low thousands), and a server
  that ever reports a version in this range is refused rather than mixed up with a live one.

Numbers follow the order snapshots were taken, not time: when order in time matters, compare
`meta.versions.time_stamp`, which holds the time of materializations and live snapshots alike.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import duckdb

from . import snapshots
from .connection import fetch_one
from .timestamps import as_utc

LIVE_BASE = 1_000_000  # live snapshots are LIVE_BASE + 1, + 2, ...


def is_live(version: int) -> bool:
    return version > LIVE_BASE


def find_live_version(con: duckdb.DuckDBPyConnection, at: datetime) -> int | None:
    row = fetch_one(
        con, "SELECT version FROM meta.versions WHERE kind = 'live' AND time_stamp = ?", [as_utc(at)]
    )
    return row[0] if row else None


def live_version(con: duckdb.DuckDBPyConnection, datastack: str, at: datetime) -> int:
    """The file's version number for a live snapshot at `at`: the one it already has, or the next."""
    found = find_live_version(con, at)
    if found is not None:
        return found
    con.execute("BEGIN TRANSACTION")
    try:
        version = fetch_one(
            con,
            "SELECT greatest(coalesce(max(version), ?), ?) + 1 FROM meta.versions",
            [LIVE_BASE, LIVE_BASE],
        )[0]
        con.execute(
            "INSERT INTO meta.versions (datastack, version, time_stamp, expires_on, expired, seen_at, kind) "
            "VALUES (?, ?, ?, NULL, NULL, ?, 'live')",
            [datastack, version, as_utc(at), datetime.now(UTC)],
        )
        snapshots.refresh_current(con)  # meta.version_facts holds the number's timestamp
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return version


def forget_if_unused(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Drop a live number that no snapshot attempt refers to (the first request failed outright),
    so `mwh versions --local` does not list a snapshot that was never taken."""
    with contextlib.suppress(duckdb.Error):  # the file itself may be what failed; the row is harmless
        con.execute(
            "DELETE FROM meta.versions WHERE version = ? AND kind = 'live' "
            "AND NOT EXISTS (SELECT 1 FROM meta.snapshots WHERE version = ?)",
            [version, version],
        )
        snapshots.refresh_current(con)


def live_versions(con: duckdb.DuckDBPyConnection) -> dict[int, datetime]:
    """Every live snapshot number in the file and its UTC timestamp."""
    rows = con.execute(
        "SELECT version, time_stamp FROM meta.versions WHERE kind = 'live' ORDER BY version"
    ).fetchall()
    return {v: as_utc(ts) for v, ts in rows}
