"""Whom does one neuron talk to, both ways? Its top input and output partners side by side, coloured
by the partner's cell type, faded where the partner is not proofread."""

from __future__ import annotations

import altair as alt
import polars as pl

from warehouse.neuron import neuron_card

from .partners import default_root

NAME = "neuron"
TITLE = "One neuron: inputs and outputs"
VIEWS = (
    "neuron_summary",
    "partners",
    "root_history",
)  # the views it reads; the roles they need come from sql/


def description(version: int, root_id: int | None = None, top: int = 15, **_: object) -> str:
    who = f"neuron {root_id}" if root_id else "the proofread neuron with most output synapses"
    return (
        f"The top {top} input (left) and output (right) partners of {who} at version {version} by synapse "
        "count, coloured by partner cell type, faded when the partner is not proofread (macros neuron_summary, "
        "partners)."
    )


def _bars(data: pl.DataFrame, direction: str, types: list[str]) -> alt.Chart:
    data = data.select(
        pl.col("partner_root_id").cast(pl.Utf8).alias("partner"),
        "syn_count",
        pl.col("partner_cell_type").fill_null("no type").alias("cell_type"),
        "partner_proofread",
    )
    label = "input partners (pre-synaptic)" if direction == "input" else "output partners (post-synaptic)"
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("syn_count:Q", title="synapses"),
            y=alt.Y("partner:N", sort="-x", title=label),
            color=alt.Color(
                "cell_type:N", title="partner type", scale=alt.Scale(domain=types, scheme="tableau20")
            ),
            opacity=alt.condition("datum.partner_proofread", alt.value(1.0), alt.value(0.45)),
            tooltip=["partner", "syn_count", "cell_type", "partner_proofread"],
        )
        .properties(width=300, height=max(120, 16 * data.height))
    )


def chart(wh, version: int, root_id: int | None = None, top: int = 15, **_: object) -> alt.HConcatChart:
    root = root_id if root_id is not None else default_root(wh, version)
    card = neuron_card(wh, root, version, top=top)
    s = card.summary
    types = sorted(
        set(card.inputs["partner_cell_type"].fill_null("no type").to_list())
        | set(card.outputs["partner_cell_type"].fill_null("no type").to_list())
    )
    what = f"{s['cell_type'] or 'no type'}, {'proofread' if s['proofread'] else 'not proofread'}"
    depth = f", depth {s['depth_um']:.0f} um" if s["depth_um"] is not None else ""
    return alt.hconcat(_bars(card.inputs, "input", types), _bars(card.outputs, "output", types)).properties(
        title=alt.TitleParams(
            f"Neuron {card.root_id} ({what}{depth}), version {version}",
            subtitle=(
                f"{s['syn_in']:,} input synapses from {s['input_partners']:,} partners; "
                f"{s['syn_out']:,} output synapses onto {s['output_partners']:,} partners"
            ),
        )
    )
