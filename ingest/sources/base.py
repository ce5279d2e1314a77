"""What the ingest job needs from a source of CAVE tables.

A source lists a datastack's versions, answers one chunk of a table query at a version with Arrow
data and says whether the answer may have been cut by its row cap, and counts rows where it can.
The job does everything else (planning, retries, staging, verification), so every source gets the
same guarantees.

A source that sets `supports_live = True` also answers at a timestamp (`at=`, an aware UTC
datetime): the table as it was then, which can be newer than any materialization. The job passes
`at` only for live snapshots, so a source without it keeps working for versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pyarrow as pa

from warehouse.timestamps import as_utc

from ..chunks import Spec


@dataclass(frozen=True)
class VersionInfo:
    """A materialization version as CAVE describes it; times are aware UTC (warehouse/timestamps.py),
    whatever the source gave."""

    version: int
    time_stamp: datetime
    expires_on: datetime
    expired: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_stamp", as_utc(self.time_stamp))
        object.__setattr__(self, "expires_on", as_utc(self.expires_on))

    def as_json(self) -> dict:
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
        return {
            "version": self.version,
            "time_stamp": self.time_stamp.strftime(fmt),
            "expires_on": self.expires_on.strftime(fmt),
            "valid": not self.expired,
            "status": "EXPIRED" if self.expired else "AVAILABLE",
            "id": self.version,
            "datastack": None,
        }


@dataclass(frozen=True)
class Answer:
    table: pa.Table
    truncated: bool  # True when the answer reached the effective row cap: it may be incomplete


class Source(Protocol):
    datastack: str
    label: str  # recorded in meta.snapshots.source
    client_version: str | None
    supports_live: bool  # answers fetch/count with at= (optional: absent means versions only)

    def versions(self, include_expired: bool = True) -> list[VersionInfo]: ...

    def fetch(self, table: str, role: str, version: int, spec: Spec, *, at: datetime | None = None) -> Answer:
        """One chunk of a table at `version`; with `at`, the table as it was at that time instead (then
        `version` is only the warehouse's local number for the snapshot, for messages)."""
        ...

    def count(
        self, table: str, version: int, spec: Spec | None = None, *, at: datetime | None = None
    ) -> int | None:
        """Rows a query would return (the whole table, or a resolved chunk spec), when the source can tell."""
        ...
