"""The versions a file knows (`meta.versions`), and the check that a version is held before a query."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import duckdb

from . import snapshots
from .errors import VersionNotSnapshotted, WarehouseError
from .live import LIVE_BASE, is_live, live_versions
from .timestamps import as_utc, format_timestamp


def record_versions(con: duckdb.DuckDBPyConnection, datastack: str, versions: Iterable) -> None:
    """Keep what the server said about each version: once expired there, this is the only record."""
    now = datetime.now(UTC)
    rows = [
        (datastack, v.version, as_utc(v.time_stamp), as_utc(v.expires_on), v.expired, now) for v in versions
    ]
    clash = [r[1] for r in rows if r[1] > LIVE_BASE]
    if clash:  # it would overwrite, or be read as, one of this file's live snapshots
        raise WarehouseError(
            f"the server reports version {clash[0]}, inside the numbers this warehouse gives live snapshots "
            f"(above {LIVE_BASE:,}); this release cannot keep both - please report it"
        )
    if rows:
        con.executemany(
            "INSERT OR REPLACE INTO meta.versions (datastack, version, time_stamp, expires_on, expired, seen_at, "
            "kind) VALUES (?, ?, ?, ?, ?, ?, 'materialized')",
            rows,
        )


def recorded_versions(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(version, time_stamp, expires_on, expired, is_live) of every version the file has recorded."""
    return con.execute(
        "SELECT version, time_stamp, expires_on, expired, kind = 'live' FROM meta.versions ORDER BY version"
    ).fetchall()


def require_version(
    con: duckdb.DuckDBPyConnection, version: int, roles: Sequence[str], datastack: str
) -> None:
    have = snapshots.current_roles(con, version)
    missing = [r for r in roles if r not in have]
    if missing:
        known = snapshots.versions_held(con)
        held = f"it holds {', '.join(map(str, known))}" if known else "it holds no snapshot yet"
        what = f"version {version} has no {'/'.join(missing)} snapshot in this warehouse ({held}); "
        if not is_live(version):
            raise VersionNotSnapshotted(what + f"run: mwh ingest --datastack {datastack} --version {version}")
        at = live_versions(con).get(version)
        if at is None:  # a live number is the file's own: there is no server version to fetch
            raise VersionNotSnapshotted(
                what + "versions above 1,000,000 are this file's live snapshots (mwh versions --local); "
                f"take one with: mwh ingest --datastack {datastack} --timestamp TIME"
            )
        raise VersionNotSnapshotted(
            what
            + f"it is the live snapshot at {format_timestamp(at)}; run: mwh ingest --datastack {datastack} "
            f"--timestamp {format_timestamp(at)}"
        )
