"""How likely is each cell type to connect to each other type? A pre type x post type heatmap of
connection probability among proofread cells, with the number of pairs behind each value and synapses per
connection in the tooltip."""

from __future__ import annotations

import altair as alt
import polars as pl

NAME = "cell_type_connectivity"
TITLE = "Connection probability between cell types"
VIEWS = ("cell_type_connectivity",)  # the views it reads; the roles they need come from sql/


# Type pairs with fewer possible pairs than this are drawn grey, with their raw counts instead of a
# percentage. Why 100: at the typical connection probability here (p ~ 4%) the 95% interval of p from n
# pairs is about +-1.96 sqrt(p (1 - p) / n), +-3.8 points at n = 100, i.e. as wide as p itself; below it a
# single connection moves the value by a point or more (5P-ET -> 5P-ET, 3 of 20 pairs, would read 15%).
MIN_POSSIBLE_PAIRS = 100

_SMALL_FILL = "#e8e8e8"


def description(version: int, **_: object) -> str:
    return (
        f"For each pair of cell types among proofread cells at version {version}: connected pairs / possible "
        "pairs (self-pairs excluded), in percent, with the number of possible pairs (n) under it; type pairs "
        f"with fewer than {MIN_POSSIBLE_PAIRS} possible pairs are grey and show connected/possible instead. "
        "Axis labels give the cells per type, the tooltip the mean synapses per connection "
        "(view cell_type_connectivity)."
    )


def _labels(data: pl.DataFrame) -> pl.DataFrame:
    """The words in each cell, made here (not in Vega expressions) so the page and a test read the same."""
    enough = pl.col("possible_pairs") >= MIN_POSSIBLE_PAIRS
    return data.with_columns(
        enough=enough,
        value_label=pl.when(enough)
        .then(pl.col("percent").round(1).cast(pl.Utf8))
        .otherwise(pl.format("{}/{}", "connected_pairs", "possible_pairs")),
        pairs_label=pl.when(enough)
        .then(pl.lit("n=") + pl.col("possible_pairs").map_elements(lambda n: f"{n:,}", return_dtype=pl.Utf8))
        .otherwise(pl.lit("")),
    )


def chart(wh, version: int, **_: object) -> alt.LayerChart:
    data = wh.con.sql(
        """
        SELECT pre_cell_type || ' (' || pre_cells || ')' AS pre, post_cell_type || ' (' || post_cells || ')' AS post,
               pre_cell_type, post_cell_type, possible_pairs, connected_pairs, synapses,
               100 * connection_probability AS percent, mean_synapses_per_connection
        FROM cell_type_connectivity WHERE version = ? ORDER BY pre_cell_type, post_cell_type
        """,
        params=[version],
    ).pl()
    data = _labels(data)
    order = data.sort("pre_cell_type")["pre"].unique(maintain_order=True).to_list()
    post_order = data.sort("post_cell_type")["post"].unique(maintain_order=True).to_list()
    enough, small = data.filter(pl.col("enough")), data.filter(~pl.col("enough"))
    x = alt.X("post:N", sort=post_order, title="post-synaptic type (cells)", axis=alt.Axis(labelAngle=-45))
    y = alt.Y("pre:N", sort=order, title="pre-synaptic type (cells)")
    tooltip = [
        alt.Tooltip("pre_cell_type:N", title="pre type"),
        alt.Tooltip("post_cell_type:N", title="post type"),
        alt.Tooltip("connected_pairs:Q", format=",", title="connected pairs"),
        alt.Tooltip("possible_pairs:Q", format=",", title="possible pairs"),
        alt.Tooltip("percent:Q", format=".2f", title="connected %"),
        alt.Tooltip("synapses:Q", format=",", title="synapses"),
        alt.Tooltip("mean_synapses_per_connection:Q", format=".2f", title="synapses per connection"),
    ]
    top = float(enough["percent"].max() or 0.0) if enough.height else 0.0
    # White text on viridis's dark end, black on its light end: the switch sits at ~55% of the colour scale.
    ink = alt.condition(f"datum.percent > {0.55 * top:.3f}", alt.value("black"), alt.value("white"))
    cells = (
        alt.Chart(enough)
        .mark_rect()
        .encode(
            x=x,
            y=y,
            color=alt.Color("percent:Q", scale=alt.Scale(scheme="viridis"), title="connected %"),
            tooltip=tooltip,
        )
    )
    values = (
        alt.Chart(enough)
        .mark_text(fontSize=9, dy=-5)
        .encode(x=x, y=y, text=alt.Text("value_label:N"), color=ink, tooltip=tooltip)
    )
    pairs = (
        alt.Chart(enough)
        .mark_text(fontSize=7, dy=6)
        .encode(x=x, y=y, text=alt.Text("pairs_label:N"), color=ink, tooltip=tooltip)
    )
    few = alt.Chart(small).mark_rect(color=_SMALL_FILL).encode(x=x, y=y, tooltip=tooltip)
    few_text = (
        alt.Chart(small)
        .mark_text(fontSize=8, color="#555555")
        .encode(x=x, y=y, text=alt.Text("value_label:N"), tooltip=tooltip)
    )
    return alt.layer(cells, few, values, pairs, few_text).properties(
        width=620,
        height=620,
        title=alt.TitleParams(
            f"Connection probability between cell types (%), version {version}",
            subtitle=[
                "Each cell: connected % of possible pre -> post cell pairs, and n, the number of possible pairs.",
                f"Grey: fewer than {MIN_POSSIBLE_PAIRS} possible pairs, too few for a probability; "
                "shown as connected/possible pairs.",
            ],
        ),
    )
