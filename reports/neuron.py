"""Whom does one neuron talk to, both ways? Its top input and output partners side by side, coloured
by the partner's cell type, faded where the partner is not proofread."""

from __future__ import annotations

import altair as alt
import polars as pl

from warehouse.neuron import neuron_card

from .palette import NO_TYPE
from .partners import FADED_NOTE, default_root, partner_bars, proofread_status

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


def _bars(data: pl.DataFrame, direction: str, types: list[str | None]) -> alt.LayerChart:
    data = data.select(
        pl.col("partner_root_id").cast(pl.Utf8).alias("partner"),
        "syn_count",
        pl.col("partner_cell_type").fill_null(NO_TYPE).alias("cell_type"),
        proofread_status(pl.col("partner_proofread")),
    )
    label = "input partners (pre-synaptic)" if direction == "input" else "output partners (post-synaptic)"
    # Both sides share one legend, so each side's scale lists every type either side draws.
    return partner_bars(data, label, width=300, height=max(120, 16 * data.height), types=types)


def chart(wh, version: int, root_id: int | None = None, top: int = 15, **_: object) -> alt.HConcatChart:
    root = root_id if root_id is not None else default_root(wh, version)
    card = neuron_card(wh, root, version, top=top)
    s = card.summary
    types = card.inputs["partner_cell_type"].to_list() + card.outputs["partner_cell_type"].to_list()
    what = f"{s['cell_type'] or 'no type'}, {'proofread' if s['proofread'] else 'not proofread'}"
    depth = f", depth {s['depth_um']:.0f} µm" if s["depth_um"] is not None else ""
    return alt.hconcat(_bars(card.inputs, "input", types), _bars(card.outputs, "output", types)).properties(
        title=alt.TitleParams(
            f"Neuron {card.root_id} ({what}{depth}), version {version}",
            subtitle=(
                f"{s['syn_in']:,} input synapses from {s['input_partners']:,} partners; "
                f"{s['syn_out']:,} output synapses onto {s['output_partners']:,} partners; "
                f"{FADED_NOTE}"
            ),
        )
    )
