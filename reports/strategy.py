"""How were the proofread axons proofread? Counts of strategy_axon among proofread cells."""

from __future__ import annotations

import altair as alt

NAME = "strategy"
TITLE = "Proofreading strategy of proofread axons"
VIEWS = ("proofread_neurons",)  # the views it reads; the roles they need come from sql/


def description(version: int, **_: object) -> str:
    return (
        f"Cells with status_axon = 't' at version {version}, counted by strategy_axon "
        "(view proofread_neurons)."
    )


def chart(wh, version: int, **_: object) -> alt.Chart:
    data = wh.con.sql(
        "SELECT strategy_axon, count(*) AS cells FROM proofread_neurons WHERE version = ? "
        "GROUP BY ALL ORDER BY cells DESC",
        params=[version],
    ).pl()
    bars = (
        alt.Chart(data)
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("cells:Q", title="proofread cells"),
            # CAVE's values (axon_fully_extended) in words; the tooltip keeps the value to filter on in SQL.
            y=alt.Y(
                "strategy_axon:N",
                sort="-x",
                title="Axon proofreading strategy",
                axis=alt.Axis(labelExpr="replace(replace(datum.label, /^axon_/, ''), /_/g, ' ')"),
            ),
            tooltip=[
                alt.Tooltip("strategy_axon:N", title="axon proofreading strategy"),
                alt.Tooltip("cells:Q", title="proofread cells"),
            ],
        )
    )
    labels = bars.mark_text(align="left", dx=3).encode(text=alt.Text("cells:Q", format=","))
    total = int(data["cells"].sum()) if data.height else 0
    return (bars + labels).properties(
        width=480, height=180, title=f"{total:,} proofread axons, version {version}"
    )
