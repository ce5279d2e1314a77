"""How likely is each cell type to connect to each other type? A pre type x post type heatmap of
connection probability among proofread cells, with synapses per connection in the tooltip."""

from __future__ import annotations

import altair as alt

NAME = "cell_type_connectivity"
TITLE = "Connection probability between cell types"
VIEWS = ("cell_type_connectivity",)  # the views it reads; the roles they need come from sql/


def description(version: int, **_: object) -> str:
    return (
        f"For each pair of cell types among proofread cells at version {version}: connected pairs / possible "
        "pairs (self-pairs excluded), in percent; axis labels give the cells per type, the tooltip the mean "
        "synapses per connection (view cell_type_connectivity)."
    )


def chart(wh, version: int, **_: object) -> alt.Chart:
    data = wh.con.sql(
        """
        SELECT pre_cell_type || ' (' || pre_cells || ')' AS pre, post_cell_type || ' (' || post_cells || ')' AS post,
               pre_cell_type, post_cell_type, possible_pairs, connected_pairs, synapses,
               100 * connection_probability AS percent, mean_synapses_per_connection
        FROM cell_type_connectivity WHERE version = ? ORDER BY pre_cell_type, post_cell_type
        """,
        params=[version],
    ).pl()
    order = data.sort("pre_cell_type")["pre"].unique(maintain_order=True).to_list()
    post_order = data.sort("post_cell_type")["post"].unique(maintain_order=True).to_list()
    base = alt.Chart(data).encode(
        x=alt.X("post:N", sort=post_order, title="post-synaptic type (cells)", axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("pre:N", sort=order, title="pre-synaptic type (cells)"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("percent:Q", scale=alt.Scale(scheme="viridis"), title="connected %"),
        tooltip=[
            alt.Tooltip("pre_cell_type:N", title="pre type"),
            alt.Tooltip("post_cell_type:N", title="post type"),
            alt.Tooltip("connected_pairs:Q", format=",", title="connected pairs"),
            alt.Tooltip("possible_pairs:Q", format=",", title="possible pairs"),
            alt.Tooltip("percent:Q", format=".2f", title="connected %"),
            alt.Tooltip("synapses:Q", format=",", title="synapses"),
            alt.Tooltip("mean_synapses_per_connection:Q", format=".2f", title="synapses per connection"),
        ],
    )
    labels = base.mark_text(fontSize=8).encode(
        text=alt.Text("percent:Q", format=".1f"),
        color=alt.condition("datum.percent > 4", alt.value("black"), alt.value("white")),
    )
    return (cells + labels).properties(
        width=520, height=520, title=f"Connection probability between cell types (%), version {version}"
    )
