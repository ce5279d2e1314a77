"""Whom does one neuron talk to? Its partners by synapse count (the notebook's last step)."""

from __future__ import annotations

import altair as alt

from warehouse.connection import fetch_one
from warehouse.errors import WarehouseError

NAME = "partners"
TITLE = "Synaptic partners of one neuron"
VIEWS = (
    "partners",
    "stg_synapses",
    "proofread_neurons",
)  # the views it reads; the roles they need come from sql/


def default_root(wh, version: int) -> int:
    """The proofread cell with the most output synapses: a neuron worth looking at in a demo."""
    row = fetch_one(
        wh.con,
        "SELECT pre_pt_root_id FROM stg_synapses s SEMI JOIN proofread_neurons p "
        "ON p.version = s.version AND p.pt_root_id = s.pre_pt_root_id WHERE s.version = ? "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        [version],
    )
    if row is None:
        raise WarehouseError(f"version {version} has no synapses of proofread cells")
    return int(row[0])


def description(
    version: int, root_id: int | None = None, direction: str = "output", top: int = 20, **_: object
) -> str:
    who = f"neuron {root_id}" if root_id else "the proofread neuron with most output synapses"
    return (
        f"The top {top} {direction} partners of {who} at version {version} by synapse count, coloured by the "
        "partner's cell type (macro partners)."
    )


def chart(
    wh, version: int, root_id: int | None = None, direction: str = "output", top: int = 20, **_: object
) -> alt.Chart:
    root = int(root_id) if root_id is not None else default_root(wh, version)
    data = wh.con.sql(
        "SELECT CAST(partner_root_id AS VARCHAR) AS partner, syn_count, coalesce(partner_cell_type, 'no type') AS cell_type, "
        "partner_proofread FROM partners(?, ?, direction := ?) LIMIT ?",
        params=[root, version, direction, top],
    ).pl()
    total = fetch_one(
        wh.con,
        "SELECT count(*), coalesce(sum(syn_count), 0) FROM partners(?, ?, direction := ?)",
        [root, version, direction],
    )
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("syn_count:Q", title="synapses"),
            y=alt.Y("partner:N", sort="-x", title=f"{direction} partner root id"),
            color=alt.Color("cell_type:N", title="partner type"),
            opacity=alt.Opacity(
                "partner_proofread:N",
                title="partner proofread",
                scale=alt.Scale(domain=[True, False], range=[1.0, 0.45]),
            ),
            tooltip=["partner", "syn_count", "cell_type", "partner_proofread"],
        )
        .properties(
            width=480,
            height=max(120, 18 * data.height),
            title=f"{direction.capitalize()} partners of {root}: {total[0]:,} partners, {total[1]:,} synapses (v{version})",
        )
    )
