"""Snapshots of tables that play no role (`mwh ingest --tables coregistration_manual_v4`).

Such a table is taken whole (optionally filtered on its own columns) through the same job as the
roles: the same chunks, splits at the row cap, retries, resume after a kill, the server's count
checked before commit. What differs is only where its schema comes from: the source describes the
table (metadata plus the schema service's definition, see warehouse/extra_tables.py) before any
row is asked for, the store creates a raw table for that schema, and the job stages and commits
into it under the role `extra:<table>`. The schema's digest is part of the snapshot's query, so a
table whose schema changed gets a snapshot (and a raw table) of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from warehouse import extra_tables
from warehouse.connection import transaction
from warehouse.errors import WarehouseError
from warehouse.sqlfiles import sql_files
from warehouse.store import ExtraLayout

from . import chunks
from .ahead import AheadSource
from .job import SnapshotOutcome, SnapshotRequest, find_snapshot, run_snapshot
from .progress import Progress
from .retry import RetryPolicy


@dataclass
class ExtraOptions:
    """Which rows of each table: `filters` maps a column to the values it may take (--filter,
    --filter-in), given as text and read as the column's type."""

    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    workers: int = 4
    force: bool = False
    retry: RetryPolicy | None = None
    progress: Progress | None = None


def _typed(values: Sequence[str], col: extra_tables.Column, table: str) -> list:
    if col.fallback:
        raise WarehouseError(f"{table}.{col.name} is kept as JSON text; the server cannot filter on it")
    out = []
    for v in values:
        try:
            if pa.types.is_integer(col.type):
                out.append(int(v))
            elif pa.types.is_floating(col.type):
                out.append(float(v))
            elif pa.types.is_boolean(col.type):
                if str(v).lower() not in ("true", "false", "t", "f", "1", "0"):
                    raise ValueError(v)
                out.append(str(v).lower() in ("true", "t", "1"))
            elif pa.types.is_string(col.type):
                out.append(str(v))
            else:
                raise WarehouseError(
                    f"{table}.{col.name} ({col.duck_type}) cannot be filtered on from the command line"
                )
        except ValueError:
            raise WarehouseError(
                f"--filter value '{v}' is not a {col.duck_type} for {table}.{col.name}"
            ) from None
    return sorted(set(out))


def extra_request(
    wh, source: AheadSource, table: str, version: int, filters: Mapping[str, Sequence[str]]
) -> SnapshotRequest:
    """The request for one table at a version, with its raw table created for the schema the
    server describes and that schema recorded in meta.extra_tables."""
    objects = {f.name for f in sql_files()}
    if table in objects:
        raise WarehouseError(
            f"table '{table}' has the name of one of the warehouse's own views or macros; it cannot be a view too"
        )
    schema = source.describe(table, version)
    if not schema.columns or "id" not in {c.name for c in schema.columns}:
        raise WarehouseError(f"{table}: the server's description has no id column; it cannot be chunked")
    sets: dict[str, list] = {}
    spec = chunks.whole_table()
    for col, values in sorted(filters.items()):
        typed = _typed(values, schema.column(col), table)
        if not typed:
            raise WarehouseError(f"--filter-in {col}: no values given")
        sets[f"filter_{col}"] = typed
        spec["in"][col] = f"$filter_{col}"
    if len(filters) == 1 and len(next(iter(sets.values()))) > 1:
        spec["split"] = next(iter(filters))  # a chunk over the cap halves the value list first
    layout = ExtraLayout(table, schema.arrow, schema.key)
    with transaction(wh.con):
        wh.store.add_extra(layout)
        extra_tables.record(wh.con, schema, version, layout.raw)
    query = {
        "kind": "filtered_table" if filters else "whole_table",
        "schema": schema.key,
        "schema_type": schema.schema_type,
        **({"filters": sorted(filters)} if filters else {}),
    }
    return SnapshotRequest(
        layout=layout,  # type: ignore[arg-type] - the store's interface for a table of no role
        version=version,
        query=query,
        root_chunks=[spec],
        sets=sets,
        allow_empty=True,
    )


def ingest_extra_tables(
    wh, source: AheadSource, version: int, tables: Sequence[str], options: ExtraOptions
) -> list[SnapshotOutcome]:
    """Snapshot each table at `version`, one after another; its view is (re-)created at commit."""
    outcomes = []
    for table in tables:
        req = extra_request(wh, source, table, version, options.filters)
        found = find_snapshot(wh, req)
        if options.force or not found or found[1] != "complete":
            spec = chunks.resolve(req.root_chunks[0], req.sets) if req.sets else None
            req.expected = source.count_early(table, version, spec).result

        def views(con, _v, table=table) -> None:
            extra_tables.apply_views(con, only=table)

        outcomes.append(
            run_snapshot(
                wh,
                source,
                req,
                workers=options.workers,
                force=options.force,
                retry=options.retry,
                progress=options.progress,
                after_commit=views,
            )
        )
        extra_tables.apply_views(wh.con, only=table)  # also when unchanged: a view dropped since comes back
    return outcomes
