"""What changed among the proofread cells between two versions, keyed on nucleus id.

The cell-level work is SQL (the proofread_changes macro, so the duckdb shell gets the same answer);
this module adds what a person needs around it: the counts per kind of change, and a warning when
the two versions' synapse snapshots were taken with different queries, because then their synapse
counts cannot be compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import snapshots

if TYPE_CHECKING:  # polars is imported where a frame is made: mwh starts without it
    import polars as pl

CHANGES = ("same root", "root changed", "added", "lost")


@dataclass(frozen=True)
class VersionDiff:
    v1: int
    v2: int
    cells: pl.DataFrame  # the proofread_changes macro's rows
    counts: dict[str, int]  # cells per kind of change, every kind present
    proofread: tuple[int, int]  # proofread cells at v1 and at v2
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        c = self.counts
        return (
            f"version {self.v1} -> {self.v2}: {self.proofread[0]:,} -> {self.proofread[1]:,} proofread cells; "
            f"{c['same root']:,} same root, {c['root changed']:,} root changed, {c['added']:,} added, "
            f"{c['lost']:,} lost"
        )


def synapse_query_kind(con: Any, version: int) -> str | None:
    """What a version's synapse snapshots hold for its proofread cells: `--root-ids` snapshots of
    other neurons add no synapse of a proofread cell the partners scope lacks, so they are left out."""
    kind = snapshots.query_kind(con, "synapses", version)
    if kind is None:
        return None
    kept = [k for k in kind.split(" + ") if k != "synapses_roots"]
    return " + ".join(kept) if kept else kind


def compare(wh: Any, v1: int, v2: int) -> VersionDiff:
    """Every cell proofread at v1 or v2 with its change, and the totals; both versions must be complete."""
    roles = wh.roles_for("proofread_changes")
    wh.require(v1, roles)
    wh.require(v2, roles)
    cells = wh.con.sql("FROM proofread_changes($v1, $v2)", params={"v1": v1, "v2": v2}).pl()
    counted = dict(cells.group_by("change").len().iter_rows()) if cells.height else {}
    counts = {c: int(counted.get(c, 0)) for c in CHANGES}
    proofread = (
        counts["same root"] + counts["root changed"] + counts["lost"],
        counts["same root"] + counts["root changed"] + counts["added"],
    )
    notes = []
    k1, k2 = synapse_query_kind(wh.con, v1), synapse_query_kind(wh.con, v2)
    if k1 != k2:
        notes.append(
            f"the synapse snapshots differ (v{v1}: {k1}, v{v2}: {k2}), so syn_in/syn_out changes mix "
            "edits with the query; re-ingest one with the other's --synapses option to compare them"
        )
    several = int(cells["several_nuclei"].sum()) if cells.height else 0
    if several:
        notes.append(
            f"{several} cell(s) sit on a root id with several nuclei; they are keyed by the smallest"
        )
    return VersionDiff(v1, v2, cells, counts, proofread, notes)
