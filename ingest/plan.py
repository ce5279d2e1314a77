"""Which snapshots make a version of the notebook's data, and the order they must be taken in.

The registry (warehouse/registry.py) says how each role is taken: most whole (the proofread filter
is applied in SQL, so `status_axon` can be changed later), the synapse table filtered on the
proofread cells. That query needs the proofread root ids of the same version, so it is planned
after the proofreading snapshot is committed and reads them from the view `proofread_neurons`,
the one place the datastack's proofread filter is applied, never from a second request.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

import duckdb

from warehouse.config import DatastackConfig
from warehouse.errors import WarehouseError
from warehouse.store import TableLayout
from warehouse.timestamps import format_timestamp

from . import chunks
from .ahead import AheadSource
from .job import SnapshotRequest

SYNAPSE_MODES = ("proofread", "partners", "roots")


@dataclass(frozen=True)
class PlanOptions:
    # 'proofread': pre and post proofread (the notebook); 'partners': either; 'roots': every input
    # and output of `root_ids` (the notebook's synapse_query(pre_ids=...), both directions)
    synapses: str = "proofread"
    ids_per_chunk: int = 100
    root_ids: tuple[int, ...] = ()


def expected_synapses(source: AheadSource, req: SnapshotRequest) -> Callable[[], int | None]:
    """The server's own count of the synapse query, so a cut answer cannot pass for a complete one.
    The counts are asked now, side by side with the chunks; the job waits for them before its check.

    'proofread' is one count of (pre in P and post in P); 'partners' (P the proofread cells) and
    'roots' (P the given root ids) are |pre in P| + |post in P| - |both|, the rows of the union
    after duplicates are dropped.
    """
    ((_, ids),) = req.sets.items()
    table, version = req.layout.name, req.version
    live = {"at": req.timestamp} if req.timestamp is not None else {}

    def count(cols: tuple[str, ...]) -> Future:
        spec = {"in": {c: ids for c in cols}, "split": None, "id_range": [None, None]}
        return source.count_early(table, version, spec, **live)

    both = count(("pre_pt_root_id", "post_pt_root_id"))
    if req.query["kind"] == "synapses_proofread":
        return both.result
    outputs, inputs = count(("pre_pt_root_id",)), count(("post_pt_root_id",))

    def union() -> int | None:
        b, o, i = both.result(), outputs.result(), inputs.result()
        return None if b is None or o is None or i is None else o + i - b

    return union


def whole_table_request(
    layout: TableLayout, version: int, expected: int | None, at: datetime | None = None
) -> SnapshotRequest:
    """The whole table at a version, or, with `at`, as it was at that time (a live snapshot numbered
    `version` by the warehouse)."""
    return SnapshotRequest(
        layout=layout,
        version=version,
        query=_live({"kind": "whole_table"}, at),
        root_chunks=[chunks.whole_table()],
        expected_rows=expected,
        timestamp=at,
    )


def _live(query: dict, at: datetime | None) -> dict:
    """A live snapshot's query says so, with its time; a version's query is unchanged (its key too)."""
    return {**query, "live_at": format_timestamp(at)} if at is not None else query


def proofread_root_ids(con: duckdb.DuckDBPyConnection, version: int) -> list[int]:
    rows = con.execute(
        "SELECT DISTINCT pt_root_id FROM proofread_neurons WHERE version = ? AND pt_root_id <> 0 ORDER BY 1",
        [version],
    ).fetchall()
    return [r[0] for r in rows]


def synapse_request(
    con: duckdb.DuckDBPyConnection,
    cfg: DatastackConfig,
    layouts: dict[str, TableLayout],
    version: int,
    options: PlanOptions,
    at: datetime | None = None,
) -> SnapshotRequest:
    """The synapses of the proofread cells of the proofreading snapshot at `version` (for a live
    snapshot that is the live proofreading snapshot, so the root ids are those at its time), or
    every synapse of the given root ids."""
    if options.synapses not in SYNAPSE_MODES:
        raise WarehouseError(
            f"--synapses must be one of {', '.join(SYNAPSE_MODES)}, not '{options.synapses}'"
        )
    if options.synapses == "roots":
        return _roots_request(layouts, version, options, at)
    ids = proofread_root_ids(con, version)
    if not ids:
        raise WarehouseError(
            f"version {version} has no proofread cells in the warehouse; snapshot the proofreading table first"
        )
    per = options.ids_per_chunk
    if options.synapses == "proofread":
        root = chunks.by_id_lists("pre_pt_root_id", ids, per, "both", {"post_pt_root_id": "$proofread"})
    else:
        root = chunks.by_id_lists("pre_pt_root_id", ids, per, "outputs") + chunks.by_id_lists(
            "post_pt_root_id", ids, per, "inputs"
        )
    filt = cfg.proofread_filter
    return SnapshotRequest(
        layout=layouts["synapses"],
        version=version,
        query=_live(
            {
                "kind": f"synapses_{options.synapses}",
                "description": (
                    "pre and post root ids both proofread"
                    if options.synapses == "proofread"
                    else "pre or post root id proofread (all inputs and outputs of proofread cells)"
                ),
                "proofread_filter": filt,
            },
            at,
        ),
        root_chunks=root,
        sets={"proofread": ids},
        timestamp=at,
        # 'partners' holds every synapse of each proofread cell; 'proofread' of none.
        covers=ids if options.synapses == "partners" else [],
    )


def _roots_request(
    layouts: dict[str, TableLayout], version: int, options: PlanOptions, at: datetime | None
) -> SnapshotRequest:
    ids = sorted(set(options.root_ids))
    if not ids:
        raise WarehouseError("give the root ids whose synapses to take (--root-ids or --root-ids-file)")
    per = options.ids_per_chunk
    root = chunks.by_id_lists("pre_pt_root_id", ids, per, "outputs") + chunks.by_id_lists(
        "post_pt_root_id", ids, per, "inputs"
    )
    return SnapshotRequest(
        layout=layouts["synapses"],
        version=version,
        query=_live(
            {
                "kind": "synapses_roots",
                "description": f"every input and output of {len(ids):,} root id(s)",
                "root_ids": ids if len(ids) <= 20 else f"{len(ids):,} ids (see meta.snapshot_roots)",
            },
            at,
        ),
        root_chunks=root,
        sets={"roots": ids},
        timestamp=at,
        covers=ids,
    )
