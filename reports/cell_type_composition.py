"""What are the proofread cells? Their merged cell types, and which table the type came from."""

from __future__ import annotations

import altair as alt

NAME = "cell_types"
TITLE = "Cell types of proofread cells"
ROLES = ("proofreading", "cell_types_manual", "cell_types_auto")


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
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("cells:Q", title="proofread cells"),
            y=alt.Y("cell_type:N", sort="-x", title="cell type"),
            # Greys, not hues: in the other charts blue is 23P and orange 4P (reports/palette.py), and a
            # bar of this chart must not read as a cell type.
            color=alt.Color(
                "type_source:N",
                title="type from",
                scale=alt.Scale(
                    domain=["manual", "automatic", "none"], range=["#4d4d4d", "#a6a6a6", "#dcdcdc"]
                ),
            ),
            tooltip=[
                alt.Tooltip("cell_type:N", title="cell type"),
                alt.Tooltip("type_source:N", title="type from"),
                alt.Tooltip("cells:Q", title="proofread cells"),
            ],
        )
        .properties(width=480, height=320, title=f"Cell types of proofread cells, version {version}")
    )
