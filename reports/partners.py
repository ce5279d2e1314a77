"""Whom does one neuron talk to? Its partners by synapse count (the notebook's last step)."""

from __future__ import annotations

import altair as alt
import polars as pl

from warehouse import snapshots
from warehouse.connection import fetch_one
from warehouse.errors import NoCompleteNeuron

from .palette import NO_TYPE, cell_type_scale

NAME = "partners"
TITLE = "Synaptic partners of one neuron"
VIEWS = (
    "partners",
    "stg_synapses",
    "proofread_neurons",
)  # the views it reads; the roles they need come from sql/

# Partner bars are faded where the partner is not proofread: its synapse count may grow (or shrink) as it
# is proofread, so it deserves less trust. Fading is only fair to the reader if the chart says so, hence
# a legend entry in words (not true/false) and the same sentence under the title.
PROOFREAD = "proofread"
NOT_PROOFREAD = "not proofread (faded)"
FADED_NOTE = "faded bars: partner not proofread"
_OPACITY = alt.Opacity(
    "partner_status:N",
    title="partner",
    scale=alt.Scale(domain=[PROOFREAD, NOT_PROOFREAD], range=[1.0, 0.3]),
)


def proofread_status(proofread: pl.Expr) -> pl.Expr:
    """The `partner_status` column PROOFREAD_OPACITY reads: a word for the legend, from a boolean."""
    return pl.when(proofread).then(pl.lit(PROOFREAD)).otherwise(pl.lit(NOT_PROOFREAD)).alias("partner_status")


def partner_bars(
    data: pl.DataFrame, y_title: str, width: int, height: int, types: list[str | None] | None = None
) -> alt.LayerChart:
    """Bars of synapses per partner, coloured by the partner's type, faded where it is not proofread.

    Columns: partner, syn_count, cell_type, partner_status; `types` (default: the data's) is the legend's
    domain, for charts that put several of these side by side with one legend. A faded light colour would pass for another
    type (faded 23P blue looks like a pale blue type), so faded bars also get an outline in the full
    colour. The outline is its own layer because Vega-Lite draws no legend for fillOpacity; `opacity`
    does get one, and it is what says in words what the fading means.
    """
    # An explicit order: sort="-x" is lost when two layers share the axis (Vega-Lite falls back to A-Z).
    order = data.sort(["syn_count", "partner"], descending=[True, False])["partner"].to_list()
    base = alt.Chart(data).encode(
        x=alt.X("syn_count:Q", title="synapses"),
        y=alt.Y("partner:N", sort=order, title=y_title),
        color=alt.Color(
            "cell_type:N",
            title="partner type",
            scale=cell_type_scale(data["cell_type"] if types is None else types),
        ),
        tooltip=[
            alt.Tooltip("partner:N", title="partner root id"),
            alt.Tooltip("syn_count:Q", title="synapses"),
            alt.Tooltip("cell_type:N", title="partner type"),
            alt.Tooltip("partner_status:N", title="partner"),
        ],
    )
    bars = base.mark_bar().encode(opacity=_OPACITY)
    outline = base.mark_bar(filled=False, strokeWidth=1).transform_filter(
        alt.datum.partner_status == NOT_PROOFREAD
    )
    return alt.layer(bars, outline).properties(width=width, height=height)


def default_root(wh, version: int) -> int:
    """The proofread cell with the most output synapses, among the neurons whose every synapse the
    file holds (a partial neuron would be drawn with part of its partners): one worth a look."""
    covered = snapshots.covered_roots(wh.con, "synapses", version)
    if covered == []:
        raise NoCompleteNeuron(
            f"version {version} holds every synapse of no neuron (only those between proofread cells); "
            f"take some with: mwh ingest --datastack {wh.datastack} --version {version} --synapses partners "
            "(or --root-ids R), or name one with --root-id"
        )
    only = "" if covered is None else " AND s.pre_pt_root_id IN (SELECT unnest($covered))"
    row = fetch_one(
        wh.con,
        "SELECT pre_pt_root_id FROM stg_synapses s SEMI JOIN proofread_neurons p "
        "ON p.version = s.version AND p.pt_root_id = s.pre_pt_root_id WHERE s.version = $v" + only + " "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        {"v": version, **({} if covered is None else {"covered": covered})},
    )
    if row is None:
        raise NoCompleteNeuron(
            f"version {version} holds every synapse of no proofread neuron; name one with --root-id"
        )
    return int(row[0])


def description(
    version: int, root_id: int | None = None, direction: str = "output", top: int = 20, **_: object
) -> str:
    who = f"neuron {root_id}" if root_id else "the proofread neuron with most output synapses"
    return (
        f"The top {top} {direction} partners of {who} at version {version} by synapse count, coloured by the "
        "partner's cell type, faded when the partner is not proofread (macro partners)."
    )


def chart(
    wh, version: int, root_id: int | None = None, direction: str = "output", top: int = 20, **_: object
) -> alt.Chart:
    root = int(root_id) if root_id is not None else default_root(wh, version)
    data = (
        wh.con.sql(
            "SELECT CAST(partner_root_id AS VARCHAR) AS partner, syn_count, "
            "coalesce(partner_cell_type, $no_type) AS cell_type, partner_proofread "
            "FROM partners($root, $v, direction := $direction) LIMIT $top",
            params={"root": root, "v": version, "direction": direction, "top": top, "no_type": NO_TYPE},
        )
        .pl()
        .with_columns(proofread_status(pl.col("partner_proofread")))
    )
    total = fetch_one(
        wh.con,
        "SELECT count(*), coalesce(sum(syn_count), 0) FROM partners(?, ?, direction := ?)",
        [root, version, direction],
    )
    title = alt.TitleParams(
        f"{direction.capitalize()} partners of {root}: {total[0]:,} partners, {total[1]:,} synapses (v{version})",
        subtitle=FADED_NOTE,
    )
    return partner_bars(
        data, f"{direction} partner root id", width=480, height=max(120, 18 * data.height)
    ).properties(title=title)
