"""Snapshots a whole version of a datastack: the four tables of the notebook, in dependency order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from warehouse import catalog
from warehouse.api import Warehouse
from warehouse.config import ROLES
from warehouse.errors import WarehouseError
from warehouse.matrix import refresh_matrix
from warehouse.schema import layouts

from .job import RetryPolicy, SnapshotOutcome, find_snapshot, run_snapshot
from .plan import PlanOptions, expected_synapses, synapse_request, whole_table_request
from .progress import Progress
from .sources.base import Source


@dataclass
class IngestOptions:
    roles: Sequence[str] = ROLES
    workers: int = 4
    force: bool = False
    plan: PlanOptions = PlanOptions()
    retry: RetryPolicy | None = None
    progress: Progress | None = None


def resolve_roles(cfg, tables: Sequence[str]) -> list[str]:
    """Accept table names or role names; keep the dependency order (proofreading before synapses)."""
    if not tables:
        return list(ROLES)
    wanted = set()
    for t in tables:
        wanted.add(t if t in ROLES else cfg.role_of(t))
    return [r for r in ROLES if r in wanted]


def check_version(source: Source, version: int) -> list:
    """The source's versions, once `version` is known to exist there and not to have expired."""
    versions = source.versions(include_expired=True)
    known = {v.version: v for v in versions}
    if version not in known:
        avail = ", ".join(str(v) for v in sorted(known) if not known[v].expired)
        raise WarehouseError(f"version {version} does not exist for {source.datastack}; available: {avail}")
    if known[version].expired:
        raise WarehouseError(
            f"version {version} of {source.datastack} has expired on the server; it can no longer be snapshotted"
        )
    return versions


def ingest_version(
    wh: Warehouse, source: Source, version: int, options: IngestOptions
) -> list[SnapshotOutcome]:
    catalog.record_versions(wh.con, wh.datastack, check_version(source, version))
    lay = layouts(wh.config)
    outcomes = []
    for role in options.roles:
        if role == "synapses":
            if "proofreading" not in options.roles:
                wh.require(version, ["proofreading"])
            req = synapse_request(wh.con, wh.config, lay, version, options.plan)
            found = find_snapshot(wh.con, req)
            if options.force or not found or found[1] != "complete":
                req.expected_rows = expected_synapses(source, req)
        else:
            req = whole_table_request(lay[role], version, None)
            found = find_snapshot(wh.con, req)
            if options.force or not found or found[1] != "complete":  # a no-op re-run asks the server nothing
                req.expected_rows = source.count(lay[role].name, version)
        outcomes.append(
            run_snapshot(
                wh.con,
                source,
                req,
                datastack=wh.datastack,
                workers=options.workers,
                force=options.force,
                retry=options.retry,
                progress=options.progress,
                after_commit=refresh_matrix,
            )
        )
    return outcomes
