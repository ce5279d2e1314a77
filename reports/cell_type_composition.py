"""What are the proofread cells? Their merged cell types, and which table the type came from."""

from __future__ import annotations

import altair as alt

from .palette import cell_type_scale

NAME = "cell_types"
TITLE = "Cell types of proofread cells"
VIEWS = ("proofread_cell_types",)  # the views it reads; the roles they need come from sql/
_SOURCES = ["manual", "automatic", "none"]


def description(version: int, **_: object) -> str:
    return (
        f"Proofread cells at version {version} by merged cell type (manual over automatic; 'unsure' "
        "where a table has no type, 'no type' where neither table has the cell) (view proofread_cell_types)."
    )


def chart(wh, version: int, **_: object) -> alt.Chart:
    data = wh.con.sql(
        """
        SELECT coalesce(cell_type, 'no type') AS cell_type,
               CASE WHEN nucleus_id_manual IS NOT NULL THEN 'manual'
                    WHEN nucleus_id_auto IS NOT NULL THEN 'automatic' ELSE 'none' END AS type_source,
               count(*) AS cells
        FROM proofread_cell_types WHERE version = ? GROUP BY ALL
        """,
        params=[version],
    ).pl()
    # Bars in the type's own colour (reports/palette.py), as in every other chart; where the type came
    # from is how solid the bar is, so no second set of hues competes with the type colours.
    types = cell_type_scale(data["cell_type"])
    return (
        alt.Chart(data)
        .mark_bar(strokeWidth=1)
        .encode(
            x=alt.X("cells:Q", title="proofread cells"),
            y=alt.Y("cell_type:N", sort="-x", title="cell type"),
            color=alt.Color("cell_type:N", scale=types, legend=None),
            stroke=alt.Stroke("cell_type:N", scale=types, legend=None),
            opacity=alt.Opacity(
                "type_source:N",
                title="type from",
                scale=alt.Scale(type="ordinal", domain=_SOURCES, range=[1.0, 0.45, 0.25]),
                sort=_SOURCES,
            ),
            order=alt.Order("source_order:Q"),
            tooltip=[
                alt.Tooltip("cell_type:N", title="cell type"),
                alt.Tooltip("type_source:N", title="type from"),
                alt.Tooltip("cells:Q", title="proofread cells"),
            ],
        )
        .transform_calculate(source_order=f"indexof({_SOURCES!r}, datum.type_source)")
        .properties(width=480, height=320, title=f"Cell types of proofread cells, version {version}")
    )
