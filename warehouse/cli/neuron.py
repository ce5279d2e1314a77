"""`mwh neuron`: one neuron at a version, printed and drawn."""

from __future__ import annotations

from pathlib import Path

import click

from .common import DEFAULT_REPORTS, ROOT_ID, cli, db_option, db_path


def _partner_lines(frame, total: int, direction: str) -> list[str]:
    """Plain aligned columns: easier to read and to paste than a boxed table (`frame`: arrow)."""
    head = "inputs (pre-synaptic partners)" if direction == "input" else "outputs (post-synaptic partners)"
    lines = [f"top {frame.num_rows} {head} of {total:,}:"]
    lines.append(f"  {'partner_root_id':>20}  {'synapses':>8}  {'cell type':<14} proofread")
    for row in frame.to_pylist():
        kind = row["partner_cell_type"] or "-"
        lines.append(
            f"  {row['partner_root_id']:>20}  {row['syn_count']:>8,}  {kind:<14} {'yes' if row['partner_proofread'] else 'no'}"
        )
    return lines


@cli.command()
@db_option
@click.argument("root_id", type=ROOT_ID)
@click.option(
    "--version",
    "-v",
    "version",
    type=click.IntRange(min=1),
    required=True,
    help="Version to look at, e.g. 1181.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Partners listed in each direction.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_REPORTS,
    show_default=True,
    help="Folder for the neuron's report (HTML + PNG).",
)
@click.option("--no-report", is_flag=True, help="Only print; do not render the report.")
def neuron(db, root_id, version, top, out, no_report) -> None:
    """Show one neuron at a version: what it is, where it is, and its top partners both ways.

    Prints whether the root id is proofread, its cell type, nucleus and soma volume, position (µm, depth below
    the pia), synapse and partner counts, its root ids at other versions (same nucleus) and a
    neuroglancer link, then its top input and output partners; renders the neuron report.

    \b
    Example:
        mwh neuron 864691135808473885 --version 1181
        mwh neuron 864691135808473885 -v 1181 --top 50 --no-report
    """
    from ..api import open as open_warehouse

    with open_warehouse(db_path(db)) as wh:
        card = wh.neuron(root_id, version, top=top, kind="arrow")  # arrow: printing needs no polars
        s = card.summary
        lines = [f"neuron {card.root_id} at version {version} ({wh.datastack})"]
        lines.append(f"  proofread:    {'yes (' + str(s['strategy_axon']) + ')' if s['proofread'] else 'no'}")
        nucleus = "none" if s["nucleus_id"] is None else str(s["nucleus_id"])
        if (s["n_nuclei"] or 0) > 1:
            nucleus += f" (and {s['n_nuclei'] - 1} more nuclei on this root)"
        soma = f", soma volume {s['nucleus_volume']:,.1f} µm³" if s["nucleus_volume"] is not None else ""
        lines.append(f"  cell type:    {s['cell_type'] or 'no type'}; nucleus {nucleus}{soma}")
        if s["x_um"] is not None:
            lines.append(
                f"  position:     x {s['x_um']:,.1f} µm, y {s['y_um']:,.1f} µm, z {s['z_um']:,.1f} µm; "
                f"depth {s['depth_um']:,.1f} µm below the pia"
            )
        lines.append(
            f"  synapses:     {s['syn_in']:,} in from {s['input_partners']:,} partners, "
            f"{s['syn_out']:,} out onto {s['output_partners']:,} partners"
            + (f", {s['autapses']:,} autapses" if s["autapses"] else "")
        )
        others = sorted(
            {(r["version"], r["pt_root_id"]) for r in card.history.to_pylist() if r["version"] != version}
        )
        if others:
            lines.append(f"  same nucleus: {', '.join(f'v{v} {r}' for v, r in others)}")
        if s["neuroglancer_url"]:
            lines.append(f"  neuroglancer: {s['neuroglancer_url']}")
        lines.append("")
        lines += _partner_lines(card.inputs, s["input_partners"], "input")
        lines.append("")
        lines += _partner_lines(card.outputs, s["output_partners"], "output")
        click.echo("\n".join(lines))
        if not no_report:
            import reports as reports_pkg
            from reports.publish import check_out_dir, update_index
            from reports.render import render

            module = reports_pkg.get("neuron")
            chart = reports_pkg.build(wh, "neuron", version, root_id=card.root_id, top=min(top, 40))
            done = render(
                chart,
                check_out_dir(out),
                f"neuron_{card.root_id}_v{version}",
                module.TITLE,
                module.description(version, root_id=card.root_id, top=min(top, 40)),
            )
            update_index(Path(out), wh.datastack, wh.path.name)  # the folder's index lists it too
            click.echo(f"report: {done.html} {done.png}", err=True)
