"""Who connects to whom among proofread cells? The notebook's binary pre x post heatmap, ordered by
cell type so that type blocks show, with a weighted option (synapse count per pair)."""

from __future__ import annotations

import altair as alt

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


def chart(wh, version: int, weighted: bool = False, **_: object) -> alt.Chart:
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
    scale = alt.Scale(domain=[0, max(n, 1)], nice=False)
    color = (
        alt.Color("syn_count:Q", scale=alt.Scale(scheme="viridis", type="log"), title="synapses")
        if weighted
        else alt.value("#222222")
    )
    marks = (
        alt.Chart(pairs)
        .mark_square(size=2, opacity=0.9)
        .encode(
            x=alt.X(
                "post:Q",
                scale=scale,
                title="post-synaptic cell (ordered by type)",
                axis=alt.Axis(labels=False, ticks=False, grid=False),
            ),
            y=alt.Y(
                "pre:Q",
                scale=alt.Scale(domain=[max(n, 1), 0], nice=False),
                title="pre-synaptic cell (ordered by type)",
                axis=alt.Axis(labels=False, ticks=False, grid=False, titlePadding=52),
            ),
            color=color,
            tooltip=["pre_type", "post_type", "syn_count"],
        )
    )
    rules_x = (
        alt.Chart(blocks).mark_rule(color="#d62728", strokeWidth=0.6).encode(x=alt.X("start:Q", scale=scale))
    )
    rules_y = (
        alt.Chart(blocks)
        .mark_rule(color="#d62728", strokeWidth=0.6)
        .encode(y=alt.Y("start:Q", scale=alt.Scale(domain=[max(n, 1), 0], nice=False)))
    )
    labels = (
        alt.Chart(blocks)
        .transform_calculate(mid="(datum.start + datum.stop) / 2")
        .mark_text(align="right", dx=-4, fontSize=9, color="#d62728")
        .encode(
            y=alt.Y("mid:Q", scale=alt.Scale(domain=[max(n, 1), 0], nice=False)),
            x=alt.value(0),
            text="cell_type:N",
        )
    )
    kind = "weighted" if weighted else "binary"
    return (marks + rules_x + rules_y + labels).properties(
        width=620,
        height=620,
        title=f"{kind} connectivity of {n:,} proofread cells ({pairs.height:,} connected pairs), version {version}",
    )
