"""Who connects to whom among proofread cells? The notebook's binary pre x post heatmap, ordered by
cell type so that type blocks show, with a weighted option (synapse count per pair)."""

from __future__ import annotations

import altair as alt
import polars as pl

NAME = "connectivity"
TITLE = "Connectivity of proofread cells"
VIEWS = ("connections", "proofread_cell_types")  # the views it reads; the roles they need come from sql/

# Cells ordered by merged cell type, then root id; each connected pair is one mark. Only connected
# pairs are drawn (the zeros are the background), so the page stays small at 1,436 x 1,436 cells.
_ORDER = """
WITH cells AS (
    SELECT pt_root_id, coalesce(cell_type, 'no type') AS cell_type,
           row_number() OVER (ORDER BY coalesce(cell_type, 'no type'), pt_root_id) - 1 AS idx
    FROM proofread_cell_types WHERE version = $v
)
"""


def description(version: int, weighted: bool = False, **_: object) -> str:
    what = "synapse count per pair" if weighted else "1 where the pair shares a synapse"
    return (
        f"Pre (rows) x post (columns) proofread cells at version {version}, ordered by cell type "
        f"(manual over automatic); {what}, autapses removed (views connections, proofread_cell_types)."
    )


# Type labels sit outside the plot, beside the block they name. Small blocks (5 cells of 1,436 is 2 px)
# sit next to each other, so labels are pushed apart to at least this many pixels and joined to their
# block by a short leader line; an axis with labelOverlap would drop them instead, hiding small types.
_SIDE = 620
_LABEL_GAP = 12
_LEADER = 8
_RED = "#d62728"


def spread_labels(mids: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label positions near `mids` (ascending), at least `gap` apart, kept within [lo, hi] where they fit.

    One pass forward pushes crowded labels on; one pass back pulls the tail inside `hi` again. Labels
    only move where they must, so uncrowded ones stay centred on their block.
    """
    pos = list(mids)
    for i in range(1, len(pos)):
        pos[i] = max(pos[i], pos[i - 1] + gap)
    if pos and pos[-1] > hi:
        pos[-1] = hi
        for i in range(len(pos) - 2, -1, -1):
            pos[i] = min(pos[i], pos[i + 1] - gap)
    return [max(p, lo) if i == 0 else p for i, p in enumerate(pos)]


def _type_labels(blocks: pl.DataFrame, n: int, axis: str) -> alt.LayerChart:
    """Cell-type names along one axis ('x': under the plot, 'y': left of it), with leader lines."""
    mids = [(a + b) / 2 / max(n, 1) * _SIDE for a, b in zip(blocks["start"], blocks["stop"], strict=True)]
    spots = spread_labels(mids, _LABEL_GAP, 0, _SIDE)
    data = pl.DataFrame(
        {"cell_type": blocks["cell_type"], "cells": blocks["cells"], "mid": mids, "spot": spots}
    ).with_columns(edge=pl.lit(0.0), out=pl.lit(-_LEADER * 1.0))
    if axis == "x":
        data = data.with_columns(edge=pl.lit(float(_SIDE)), out=pl.lit(float(_SIDE + _LEADER)))
    base = alt.Chart(data)
    tooltip = [alt.Tooltip("cell_type:N", title="cell type"), alt.Tooltip("cells:Q", title="cells")]
    # scale=None: the values are pixels, the label layout above is in pixels too.
    along, across = ("x", "y") if axis == "x" else ("y", "x")
    leader = base.mark_rule(color=_RED, strokeWidth=0.6).encode(
        **{
            along: alt.X("mid:Q", scale=None) if along == "x" else alt.Y("mid:Q", scale=None),
            f"{along}2": alt.X2("spot:Q") if along == "x" else alt.Y2("spot:Q"),
            across: alt.Y("edge:Q", scale=None) if across == "y" else alt.X("edge:Q", scale=None),
            f"{across}2": alt.Y2("out:Q") if across == "y" else alt.X2("out:Q"),
        }
    )
    if axis == "x":
        text = base.mark_text(align="right", baseline="middle", angle=270, dx=-2, fontSize=10, color=_RED)
        text = text.encode(x=alt.X("spot:Q", scale=None), y=alt.Y("out:Q", scale=None))
    else:
        text = base.mark_text(align="right", baseline="middle", dx=-2, fontSize=10, color=_RED)
        text = text.encode(y=alt.Y("spot:Q", scale=None), x=alt.X("out:Q", scale=None))
    return alt.layer(leader, text.encode(text="cell_type:N", tooltip=tooltip))


def chart(wh, version: int, weighted: bool = False, **_: object) -> alt.LayerChart:
    pairs = wh.con.sql(
        _ORDER
        + """
        SELECT pre.idx AS pre, post.idx AS post, c.syn_count, pre.cell_type AS pre_type, post.cell_type AS post_type
        FROM connections c
        JOIN cells pre ON pre.pt_root_id = c.pre_pt_root_id
        JOIN cells post ON post.pt_root_id = c.post_pt_root_id
        WHERE c.version = $v
        """,
        params={"v": version},
    ).pl()
    blocks = wh.con.sql(
        _ORDER + "SELECT cell_type, min(idx) AS start, max(idx) + 1 AS stop, count(*) AS cells "
        "FROM cells GROUP BY cell_type ORDER BY start",
        params={"v": version},
    ).pl()
    n = int(blocks["stop"].max()) if blocks.height else 0
    x_scale = alt.Scale(domain=[0, max(n, 1)], nice=False)
    y_scale = alt.Scale(domain=[max(n, 1), 0], nice=False)
    x_title = "post-synaptic cell type (cells ordered by type)"
    y_title = "pre-synaptic cell type (cells ordered by type)"
    no_axis = {"labels": False, "ticks": False, "grid": False, "domain": True}
    color = (
        alt.Color("syn_count:Q", scale=alt.Scale(scheme="viridis", type="log"), title="synapses")
        if weighted
        else alt.value("#222222")
    )
    marks = (
        alt.Chart(pairs)
        .mark_square(size=2, opacity=0.9)
        .encode(
            x=alt.X("post:Q", scale=x_scale, title=x_title, axis=alt.Axis(titlePadding=56, **no_axis)),
            y=alt.Y("pre:Q", scale=y_scale, title=y_title, axis=alt.Axis(titlePadding=60, **no_axis)),
            color=color,
            tooltip=[
                alt.Tooltip("pre_type:N", title="pre-synaptic type"),
                alt.Tooltip("post_type:N", title="post-synaptic type"),
                alt.Tooltip("syn_count:Q", title="synapses"),
            ],
        )
    )
    rules_x = (
        alt.Chart(blocks)
        .mark_rule(color=_RED, strokeWidth=0.6)
        .encode(x=alt.X("start:Q", scale=x_scale, title=x_title))
    )
    rules_y = (
        alt.Chart(blocks)
        .mark_rule(color=_RED, strokeWidth=0.6)
        .encode(y=alt.Y("start:Q", scale=y_scale, title=y_title))
    )
    kind = "weighted" if weighted else "binary"
    return alt.layer(
        marks, rules_x, rules_y, _type_labels(blocks, n, "x"), _type_labels(blocks, n, "y")
    ).properties(
        width=_SIDE,
        height=_SIDE,
        title=f"{kind} connectivity of {n:,} proofread cells ({pairs.height:,} connected pairs), version {version}",
    )
