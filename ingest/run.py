"""Snapshots a whole version of a datastack: every table role of the registry, in dependency order.

`ingest_version` takes a materialization version; `ingest_at` takes the data as it was at a
timestamp (a live snapshot, for edits newer than the last materialization) under a version number
of the file's own (warehouse/live.py). Both go through the same plan and job: proofreading and cell
types whole, then the synapses of the proofread cells of that same snapshot, so a live snapshot's
synapses are filtered on the root ids at its timestamp, not on those of any version.

Snapshots are committed one after another in that order, but the server is asked early
(ingest/ahead.py): the whole tables' answers and counts at the start, the synapse counts as soon
as the proofread ids are known, all within the --workers bound on requests in flight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from warehouse import catalog, live
from warehouse.api import Warehouse
from warehouse.errors import WarehouseError
from warehouse.matrix import refresh_matrix
from warehouse.registry import PROOFREAD_SYNAPSES, ROLE_NAMES, WHOLE, in_order, role
from warehouse.timestamps import format_timestamp

from . import chunks
from .ahead import AheadSource
from .job import SnapshotOutcome, SnapshotRequest, find_snapshot, run_snapshot
from .plan import PlanOptions, expected_synapses, synapse_request, whole_table_request
from .progress import Progress
from .retry import RetryPolicy
from .sources.base import Source


@dataclass
class IngestOptions:
    roles: Sequence[str] = ROLE_NAMES
    workers: int = 4
    force: bool = False
    plan: PlanOptions = PlanOptions()
    retry: RetryPolicy | None = None
    progress: Progress | None = None
    # Tables that play no role, taken whole (or filtered: column -> values) after the roles.
    extra_tables: Sequence[str] = ()
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)


def resolve_roles(cfg, tables: Sequence[str]) -> list[str]:
    """Accept table names or role names; keep the dependency order (proofreading before synapses)."""
    if not tables:
        return list(ROLE_NAMES)
    return in_order(t if t in ROLE_NAMES else cfg.role_of(t) for t in tables)


def split_tables(cfg, tables: Sequence[str]) -> tuple[list[str], list[str]]:
    """`--tables` as (roles, other tables): a role name or a role's table is a role; any other
    name is a table of the datastack taken whole (ingest/extra.py). No tables: every role."""
    if not tables:
        return list(ROLE_NAMES), []
    named = set(cfg.tables.values())
    roles = [t for t in tables if t in ROLE_NAMES or t in named]
    extras = list(dict.fromkeys(t for t in tables if t not in roles))
    return (resolve_roles(cfg, roles) if roles else []), extras


def check_source_version(source: Source, version: int, versions: list | None = None) -> list:
    """The source's versions, once `version` is known to exist there and not to have expired."""
    versions = source.versions(include_expired=True) if versions is None else versions
    known = {v.version: v for v in versions}
    if version not in known:
        avail = ", ".join(str(v) for v in sorted(known) if not known[v].expired)
        raise WarehouseError(f"version {version} does not exist for {source.datastack}; available: {avail}")
    if known[version].expired:
        raise WarehouseError(
            f"version {version} of {source.datastack} has expired on the server; it can no longer be snapshotted"
        )
    return versions


def check_timestamp(source: Source, at: datetime) -> list:
    """The source's versions, once it can answer a live snapshot at `at` (an aware UTC time)."""
    if not getattr(source, "supports_live", False):
        raise WarehouseError(f"the {source.label} source cannot take live snapshots; use --version")
    versions = source.versions(include_expired=True)
    for v in versions:
        if not v.expired and v.time_stamp is not None and v.time_stamp == at:
            # CAVE refuses a live query at a materialization's own time; the version is the same data.
            raise WarehouseError(
                f"{format_timestamp(at)} is the time stamp of version {v.version}; snapshot the version: "
                f"mwh ingest --datastack {source.datastack} --version {v.version}"
            )
    return versions


@dataclass
class LiveIngest:
    """A live snapshot: the file's version number for it, its time, and what each table did."""

    version: int
    timestamp: datetime
    outcomes: list[SnapshotOutcome]


def ingest_at(wh: Warehouse, source: Source, at: datetime, options: IngestOptions) -> LiveIngest:
    """Snapshot the data as it was at `at` (aware, UTC). The same time again is a no-op, or resumes
    an interrupted run: it maps to the same version number and so to the same snapshot keys."""
    catalog.record_versions(wh.con, wh.datastack, check_timestamp(source, at))
    version = live.live_version(wh.con, wh.datastack, at)
    try:
        outcomes = _take(wh, source, version, options, at)
    except BaseException:
        live.forget_if_unused(wh.con, version)
        raise
    return LiveIngest(version, at, outcomes)


def ingest_version(
    wh: Warehouse, source: Source, version: int, options: IngestOptions
) -> list[SnapshotOutcome]:
    # Recorded before the check: a version that expired since an interrupted run is then marked so
    # in the file, and `mwh status` stops asking for a re-run that cannot succeed.
    versions = source.versions(include_expired=True)
    catalog.record_versions(wh.con, wh.datastack, versions)
    check_source_version(source, version, versions)
    return _take(wh, source, version, options, None)


def _take(
    wh: Warehouse, source: Source, version: int, options: IngestOptions, at: datetime | None
) -> list[SnapshotOutcome]:
    lay = wh.store.layouts
    if options.extra_tables and at is not None:
        raise WarehouseError(
            f"tables beyond the notebook's ({', '.join(options.extra_tables)}) are taken at a version, not a timestamp"
        )
    ahead = AheadSource(source, options.workers)
    try:
        requests = _ask_whole_tables_early(wh, ahead, version, options, at)
        outcomes = []
        for name in options.roles:
            entry = role(name)
            if entry.taken == PROOFREAD_SYNAPSES:
                if entry.selected_by not in options.roles:
                    wh.require(version, [entry.selected_by])
                req = synapse_request(wh.con, wh.config, lay, version, options.plan, at)
                if _asks_the_server(find_snapshot(wh, req), options.force):
                    req.expected = expected_synapses(ahead, req)
            else:
                req = requests[name]
            outcomes.append(
                run_snapshot(
                    wh,
                    ahead,
                    req,
                    workers=options.workers,
                    force=options.force,
                    retry=options.retry,
                    progress=options.progress,
                    after_commit=refresh_matrix,
                )
            )
        if options.extra_tables:
            from .extra import ExtraOptions, ingest_extra_tables

            extra = ExtraOptions(
                options.filters, options.workers, options.force, options.retry, options.progress
            )
            outcomes += ingest_extra_tables(wh, ahead, version, options.extra_tables, extra)
        return outcomes
    finally:
        ahead.close()


def _ask_whole_tables_early(
    wh: Warehouse, ahead: AheadSource, version: int, options: IngestOptions, at: datetime | None
) -> dict[str, SnapshotRequest]:
    """The whole-table snapshots' requests, with their counts and (for a new snapshot) their one
    chunk already asked of the server; a no-op re-run asks the server nothing."""
    lay = wh.store.layouts
    live_at = {"at": at} if at is not None else {}
    requests = {}
    for name in options.roles:
        if role(name).taken != WHOLE:
            continue
        req = whole_table_request(lay[name], version, None, at)
        found = find_snapshot(wh, req)
        if _asks_the_server(found, options.force):
            req.expected = ahead.count_early(lay[name].name, version, **live_at).result
            if not found or found[1] == "complete":  # new; a resumed one may have split its chunk already
                for spec in req.root_chunks:
                    ahead.fetch_early(
                        lay[name].name, name, version, chunks.resolve(spec, req.sets), **live_at
                    )
        requests[name] = req
    return requests


def _asks_the_server(found: tuple[int, str] | None, force: bool) -> bool:
    """Whether the snapshot's run will query the server (job._existing decides the same): no complete
    snapshot of the query yet, or --force. A no-op re-run asks the server nothing."""
    return force or not found or found[1] != "complete"
