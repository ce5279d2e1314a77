"""How connected are proofread neurons, and are reciprocal pairs more common than chance? In and out
degree of every proofread neuron, and the observed reciprocity beside two expectations for
independent connections."""

from __future__ import annotations

import altair as alt

from .palette import cell_type_scale

NAME = "degrees"
TITLE = "Degrees and reciprocity of proofread neurons"
VIEWS = ("neuron_degrees", "reciprocity")  # the views it reads; the roles they need come from sql/
_KINDS = ["observed", "expected: independent (p^2)", "expected: by cell type"]


def description(version: int, **_: object) -> str:
    return (
        f"Left: in- and out-degree (distinct proofread partners) of each proofread neuron at version {version}, "
        "by cell type (view neuron_degrees). Right: the share of neuron pairs connected both ways, against "
        "p^2 (independent connections with the overall density p) and against the cell-type connection "
        "probabilities (view reciprocity)."
    )


def chart(wh, version: int, **_: object) -> alt.HConcatChart:
    neurons = wh.con.sql(
        "SELECT pt_root_id::VARCHAR AS root_id, cell_type, out_degree, in_degree, syn_out, syn_in, "
        "reciprocal_partners FROM neuron_degrees WHERE version = ?",
        params=[version],
    ).pl()
    recip = wh.con.sql(
        """
        SELECT k.what, k.i, r.reciprocal_pairs,
               100000 * CASE k.i WHEN 1 THEN r.reciprocity
                                 WHEN 2 THEN r.expected_reciprocity_independent
                                 ELSE r.expected_reciprocity_by_type END AS per_100k
        FROM (SELECT unnest($kinds) AS what, generate_subscripts($kinds, 1) AS i) k
        JOIN (FROM reciprocity WHERE version = $v) r ON true
        ORDER BY k.i
        """,
        params={"v": version, "kinds": _KINDS},
    ).pl()
    scatter = (
        alt.Chart(neurons)
        .mark_circle(size=18, opacity=0.6)
        .encode(
            x=alt.X("out_degree:Q", title="out-degree (proofread partners)"),
            y=alt.Y("in_degree:Q", title="in-degree (proofread partners)"),
            color=alt.Color("cell_type:N", title="cell type", scale=cell_type_scale(neurons["cell_type"])),
            tooltip=[
                alt.Tooltip("root_id:N", title="root id"),
                alt.Tooltip("cell_type:N", title="cell type"),
                alt.Tooltip("out_degree:Q", title="out-degree"),
                alt.Tooltip("in_degree:Q", title="in-degree"),
                alt.Tooltip("syn_out:Q", title="output synapses (proofread partners)"),
                alt.Tooltip("syn_in:Q", title="input synapses (proofread partners)"),
                alt.Tooltip("reciprocal_partners:Q", title="reciprocal partners"),
            ],
        )
        .properties(width=380, height=380, title=f"{neurons.height:,} proofread neurons")
    )
    pairs = int(recip["reciprocal_pairs"][0]) if recip.height else 0
    bars = (
        alt.Chart(recip)
        .mark_bar()
        .encode(
            y=alt.Y("what:N", sort=_KINDS, title=None),
            x=alt.X("per_100k:Q", title="reciprocal pairs per 100,000 neuron pairs"),
            color=alt.Color(
                "what:N", legend=None, scale=alt.Scale(domain=_KINDS, range=["#e45756", "#9d9d9d", "#bab0ac"])
            ),
            tooltip=[
                alt.Tooltip("what:N", title="reciprocity"),
                alt.Tooltip("per_100k:Q", format=".1f", title="per 100,000 neuron pairs"),
            ],
        )
        .properties(width=300, height=120, title=f"{pairs:,} reciprocal pairs")
    )
    labels = bars.mark_text(align="left", dx=3).encode(
        text=alt.Text("per_100k:Q", format=".1f"), color=alt.value("#222")
    )
    return (
        alt.hconcat(scatter, bars + labels)
        .resolve_scale(color="independent")
        .properties(title=f"Degrees and reciprocity of proofread neurons, version {version}")
    )
