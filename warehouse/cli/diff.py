"""`mwh diff`: the proofread cells of two versions, keyed on nucleus id."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import check_output, cli, db_option, db_path

DIFF_ONLY = {
    "changed": ("root changed", "added", "lost"),
    "all": ("same root", "root changed", "added", "lost"),
    "root-changed": ("root changed",),
    "added": ("added",),
    "lost": ("lost",),
    "same-root": ("same root",),
}


@cli.command()
@db_option
@click.argument("v1", type=click.IntRange(min=1))
@click.argument("v2", type=click.IntRange(min=1))
@click.option(
    "--only",
    type=click.Choice(list(DIFF_ONLY)),
    default="changed",
    show_default=True,
    help="Which cells to list: 'changed' is every cell whose root id changed, added or lost.",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format of the cell list.",
)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), default=None, help="Write the cell list to this file."
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Rows shown by --format table.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also render the changes report (HTML + PNG) into this folder.",
)
def diff(db, v1, v2, only, fmt, output, max_rows, out) -> None:
    """Compare the proofread cells of two versions, keyed on nucleus id.

    Cells are matched by an unchanged root id, then by nucleus id; each is 'same root', 'root
    changed' (edited), 'added' or 'lost', with its input and output synapse counts at both
    versions. A summary line goes to stderr, the cell list to stdout (macro proofread_changes).

    \b
    Example:
        mwh diff 1078 1181
        mwh diff 1078 1181 --only added -f csv -o added.csv
        mwh diff 1181 1300 --out reports
    """
    import polars as pl

    from ..api import open as open_warehouse
    from ..diff import compare

    db = db_path(db)
    if output is not None:
        check_output(output, db)
    with open_warehouse(db) as wh:
        result = compare(wh, v1, v2)
        cells = result.cells.filter(pl.col("change").is_in(DIFF_ONLY[only]))
        click.echo(result.summary(), err=True)
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
        if fmt == "csv":
            text = cells.write_csv()
        elif fmt == "json":
            text = json.dumps(cells.to_dicts(), default=str, indent=1) + "\n"
        else:
            shown = cells.select(
                "nucleus_id",
                "change",
                "root_id_v1",
                "root_id_v2",
                "cell_type",
                "syn_in_v1",
                "syn_in_v2",
                "syn_out_v1",
                "syn_out_v2",
            ).head(max_rows)
            with pl.Config(tbl_rows=max_rows, tbl_cols=12, tbl_width_chars=200, fmt_str_lengths=20):
                text = str(shown) + "\n"
            if cells.height > max_rows:
                text += f"({cells.height:,} cells; --max-rows or -f csv for all)\n"
        if output:
            output.write_text(text)
            click.echo(f"wrote {output}", err=True)
        else:
            click.echo(text, nl=False)
        if out is not None:
            from reports.publish import publish

            rendered, _ = publish(wh, v2, out, ["changes"], since=v1)
            click.echo(f"report: {rendered[0].html} {rendered[0].png}", err=True)
