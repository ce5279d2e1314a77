"""What happened to the proofread cells since the previous version? Cells by kind of change per cell
type, and each kept cell's synapses with proofread partners before and after."""

from __future__ import annotations

import altair as alt
import polars as pl

from warehouse import snapshots
from warehouse.diff import compare
from warehouse.errors import WarehouseError

VIEWS = ("proofread_changes",)  # the macro it reads; the roles it needs come from sql/

NAME = "changes"
TITLE = "Proofread cells between versions"
_COLORS = {"same root": "#9ecae9", "root changed": "#f58518", "added": "#54a24b", "lost": "#e45756"}


def previous_version(wh, version: int) -> int:
    """The newest fully snapshotted version before `version`: what 'since the last one' means."""
    complete = set(snapshots.versions_held(wh.con))
    for role in wh.roles_for(*VIEWS):
        complete &= set(snapshots.versions_held(wh.con, role))
    earlier = sorted(v for v in complete if v < version)
    if not earlier:
        raise WarehouseError(
            f"no fully snapshotted version before {version} to compare with; the changes report needs two"
        )
    return earlier[-1]


def description(version: int, since: int | None = None, **_: object) -> str:
    before = f"version {since}" if since else "the previous snapshotted version"
    return (
        f"Proofread cells of {before} and version {version}, matched by root id then nucleus id: by kind of change "
        "and cell type (left); synapses with proofread partners (inputs + outputs) of cells proofread at both "
        "versions, before against after (right; macro proofread_changes)."
    )


def _nothing_to_compare(version: int) -> alt.Chart:
    """What `mwh report` shows when the file holds one version: the reason, not a failed run."""
    text = f"Version {version} is the earliest complete version here: snapshot another one to compare."
    return (
        alt.Chart(pl.DataFrame({"text": [text]}))
        .mark_text(fontSize=14)
        .encode(text="text:N")
        .properties(
            width=560, height=60, title=f"Proofread cells between versions (nothing before {version})"
        )
    )


def chart(wh, version: int, since: int | None = None, **_: object) -> alt.TopLevelMixin:
    """Changes from `since` (default: the previous complete version) to `version`."""
    if since is None:
        try:
            since = previous_version(wh, version)
        except WarehouseError:
            return _nothing_to_compare(version)
    v1 = since
    diff = compare(wh, v1, version)
    cells = diff.cells.with_columns(pl.col("cell_type").fill_null("no type"))
    by_type = cells.group_by("cell_type", "change").len("cells")
    kinds = list(_COLORS)
    color = alt.Color(
        "change:N", title="change", scale=alt.Scale(domain=kinds, range=list(_COLORS.values())), sort=kinds
    )
    bars = (
        alt.Chart(by_type)
        .mark_bar()
        .encode(
            x=alt.X("cells:Q", title="proofread cells", stack=True),
            y=alt.Y("cell_type:N", sort="-x", title="cell type"),
            color=color,
            order=alt.Order("change_order:Q"),
            tooltip=[
                alt.Tooltip("cell_type:N", title="cell type"),
                alt.Tooltip("change:N", title="change"),
                alt.Tooltip("cells:Q", title="proofread cells"),
            ],
        )
        .transform_calculate(change_order=f"indexof({kinds!r}, datum.change)")
        .properties(
            width=300, height=320, title=f"{diff.proofread[0]:,} -> {diff.proofread[1]:,} proofread cells"
        )
    )
    kept = cells.filter(pl.col("change").is_in(["same root", "root changed"])).select(
        pl.col("root_id_v2").cast(pl.Utf8).alias("root_id"),
        "cell_type",
        "change",
        (pl.col("syn_in_proofread_v1") + pl.col("syn_out_proofread_v1")).alias("before"),
        (pl.col("syn_in_proofread_v2") + pl.col("syn_out_proofread_v2")).alias("after"),
        (pl.col("syn_in_v2") + pl.col("syn_out_v2") - pl.col("syn_in_v1") - pl.col("syn_out_v1")).alias(
            "all_synapses_change"
        ),
    )
    before_title = f"synapses with proofread cells, v{v1}"
    after_title = f"synapses with proofread cells, v{version}"
    top = max(1, int(kept.select(pl.max_horizontal("before", "after").max()).item() or 1))
    diagonal = (
        alt.Chart(pl.DataFrame({"v": [0, top]}))
        .mark_line(color="#bbbbbb", strokeDash=[4, 3])
        .encode(x=alt.X("v:Q", title=before_title), y=alt.Y("v:Q", title=after_title))
    )
    scatter = (
        alt.Chart(kept)
        .mark_circle(size=16, opacity=0.6)
        .encode(
            x=alt.X("before:Q", title=before_title),
            y=alt.Y("after:Q", title=after_title),
            color=color,
            tooltip=[
                alt.Tooltip("root_id:N", title=f"root id (v{version})"),
                alt.Tooltip("cell_type:N", title="cell type"),
                alt.Tooltip("change:N", title="change"),
                alt.Tooltip("before:Q", title=before_title),
                alt.Tooltip("after:Q", title=after_title),
                alt.Tooltip("all_synapses_change:Q", title="change in all synapses"),
            ],
        )
        .properties(width=320, height=320, title=f"{kept.height:,} cells proofread at both versions")
    )
    return alt.hconcat(bars, diagonal + scatter).properties(
        title=alt.TitleParams(f"Proofread cells from version {v1} to {version}", subtitle=diff.summary())
    )
