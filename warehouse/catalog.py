"""Reads and writes the `meta.*` catalog: versions the server announced and snapshots taken."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import duckdb

from .connection import fetch_one
from .errors import VersionNotSnapshotted, WarehouseError
from .live import LIVE_BASE, format_timestamp, is_live, live_versions


def _utc(value: datetime | None) -> datetime | None:
    """CAVE's timestamps are naive UTC; made aware so a TIMESTAMPTZ column does not read them as local time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def record_versions(con: duckdb.DuckDBPyConnection, datastack: str, versions: Iterable) -> None:
    """Keep what the server said about each version: once expired there, this is the only record."""
    now = datetime.now(UTC)
    rows = [(datastack, v.version, _utc(v.time_stamp), _utc(v.expires_on), v.expired, now) for v in versions]
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


def snapshotted_versions(con: duckdb.DuckDBPyConnection, role: str | None = None) -> list[int]:
    sql = "SELECT DISTINCT version FROM meta.current_snapshots"
    params: list = []
    if role:
        sql += " WHERE role = ?"
        params.append(role)
    return [r[0] for r in con.execute(sql + " ORDER BY version", params).fetchall()]


def require_version(
    con: duckdb.DuckDBPyConnection, version: int, roles: Sequence[str], datastack: str
) -> None:
    have = {
        r[0]
        for r in con.execute(
            "SELECT role FROM meta.current_snapshots WHERE version = ?", [version]
        ).fetchall()
    }
    missing = [r for r in roles if r not in have]
    if missing:
        known = snapshotted_versions(con)
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


def latest_version(con: duckdb.DuckDBPyConnection, roles: Sequence[str]) -> int | None:
    """The newest version at which every role is snapshotted."""
    rows = fetch_one(
        con,
        "SELECT version FROM meta.current_snapshots WHERE role IN (SELECT unnest(?)) "
        "GROUP BY version HAVING count(DISTINCT role) = ? ORDER BY version DESC LIMIT 1",
        [list(roles), len(set(roles))],
    )
    return rows[0] if rows else None
