"""The one timestamp convention: inside the warehouse every time is an aware datetime in UTC.

CAVE answers with naive UTC strings, DuckDB hands TIMESTAMPTZ values back in the machine's zone,
and users type times with or without an offset; each is turned into aware UTC at that edge, here,
so nothing downstream has to guess which kind of time it holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .errors import WarehouseError

EXAMPLE = "2025-06-12T10:00:00Z"


def as_utc(value: Any) -> datetime | None:
    """A datetime, ISO text or None as aware UTC; a naive time is taken to be UTC already (CAVE's)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise WarehouseError(f"cannot read {value!r} as a time")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_timestamp(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time as an aware UTC datetime; no offset means UTC. The future is refused:
    a live snapshot of it would record a time whose data does not exist yet."""
    raw = str(text).strip()
    try:
        ts = as_utc(datetime.fromisoformat(raw))
    except ValueError:
        raise WarehouseError(
            f"'{text}' is not an ISO 8601 time; give e.g. {EXAMPLE} (UTC when no offset is given)"
        ) from None
    now = now or datetime.now(UTC)
    if ts > now:
        raise WarehouseError(
            f"{format_timestamp(ts)} is in the future (it is now {format_timestamp(now.replace(microsecond=0))}); "
            "a live snapshot can only show data that exists"
        )
    return ts


def format_timestamp(ts: datetime) -> str:
    """ISO 8601 in UTC with a Z, microseconds only when there are some: what --timestamp accepts."""
    ts = as_utc(ts)
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{ts.microsecond:06d}" if ts.microsecond else "") + "Z"
