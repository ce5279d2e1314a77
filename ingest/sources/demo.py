"""The embedded demo datastack as a source: the synthetic generator answering like a CAVE server.

It applies the same row cap as the real service (truncate, then report it), so the demo exercises
the job's splitting just as the real service does.

At a timestamp (a live snapshot) it answers with the state of the newest available version at or
before that time: the generator has no edits between versions, so that is the datastack as it
was then. A time before its oldest available version has no state to give and is refused.
"""

from __future__ import annotations

import threading
from datetime import datetime

import pyarrow as pa

from warehouse import extra_tables
from warehouse.tables import conform
from warehouse.timestamps import as_utc

from ..chunks import Spec, matches
from ..synthetic import SyntheticDatastack, merged_table, schema_definitions
from .base import Answer


class DemoSource:
    label = "demo"
    client_version = None
    supports_live = True

    def __init__(self, datastack: SyntheticDatastack, row_cap: int = 500_000):
        self.ds = datastack
        self.datastack = datastack.name
        self.row_cap = row_cap
        self._cache: dict[tuple[str, int], pa.Table] = {}
        self._lock = threading.Lock()

    def versions(self, include_expired: bool = True) -> list:
        return [v for v in self.ds.versions if include_expired or not v.expired]

    def _table(self, table: str, version: int) -> pa.Table:
        from warehouse.errors import SourceError

        if table not in self.ds.table_names():
            raise SourceError(f"table '{table}' does not exist in datastack {self.datastack}")
        vi = next((v for v in self.ds.versions if v.version == version), None)
        if vi is None or vi.expired:
            state = "has expired" if vi else "does not exist"
            raise SourceError(
                f"version {version} of {self.datastack} {state}; run 'mwh versions' to list versions"
            )
        with self._lock:
            if (table, version) not in self._cache:
                self._cache[(table, version)] = merged_table(self.ds, table, version)
            return self._cache[(table, version)]

    def version_at(self, at: datetime) -> int:
        """The version whose state the datastack had at `at` (see the module docstring)."""
        from warehouse.errors import SourceError
        from warehouse.timestamps import format_timestamp

        at = as_utc(at)
        available = sorted((v for v in self.ds.versions if not v.expired), key=lambda v: v.time_stamp)
        before = [v for v in available if v.time_stamp <= at]
        if not before:
            oldest = available[0]
            raise SourceError(
                f"the demo datastack has no state before its oldest available version {oldest.version} "
                f"({format_timestamp(oldest.time_stamp)}); give a later --timestamp"
            )
        return before[-1].version

    def list_tables(self, version: int) -> list[dict]:
        """Every table's metadata at a version, with its row count, as the CAVE server lists them."""
        self._table(self.ds.table_names()[0], version)  # refuses an unknown or expired version
        return [
            {
                **self.ds.table_metadata(t, version),
                "version": version,
                "row_count": self._table(t, version).num_rows,
            }
            for t in self.ds.table_names()
        ]

    def describe(self, table: str, version: int) -> extra_tables.TableSchema:
        """A table's stored columns from its metadata and schema definition, as from a CAVE server."""
        from warehouse.errors import SourceError

        if table not in self.ds.table_names():
            raise SourceError(f"table '{table}' does not exist in datastack {self.datastack}")
        md = {**self.ds.table_metadata(table, version), "row_count": self._table(table, version).num_rows}
        defs = schema_definitions(self.ds)
        ref = md.get("reference_table")
        ref_md = self.ds.table_metadata(ref, version) if ref else None
        return extra_tables.describe(
            md, defs.get(md["schema_type"]), ref_md, defs.get(ref_md["schema_type"]) if ref_md else None
        )

    def fetch(self, table: str, role: str, version: int, spec: Spec, *, at: datetime | None = None) -> Answer:
        data = self._table(table, version if at is None else self.version_at(at))
        rows = data.filter(matches(data, spec))
        truncated = rows.num_rows >= self.row_cap
        rows = rows.slice(0, self.row_cap)
        if extra_tables.is_extra_role(role):
            return Answer(
                extra_tables.conform(rows, self.describe(table, version), "the demo datastack"), truncated
            )
        return Answer(conform(rows, role, "the demo datastack"), truncated)

    def count(
        self, table: str, version: int, spec: Spec | None = None, *, at: datetime | None = None
    ) -> int | None:
        data = self._table(table, version if at is None else self.version_at(at))
        if spec is None:
            return data.num_rows
        return data.filter(matches(data, spec)).num_rows
