"""`mwh sql`: any query over the views, to the terminal or a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .common import check_output, cli, db_option, db_path


@cli.command()
@db_option
@click.argument("query")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="Output format; parquet needs --output.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file instead of stdout.",
)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    help="A value for a $1, $2 ... placeholder, bound as a parameter (repeat in order).",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Rows shown by --format table.",
)
@click.option("--write", is_flag=True, help="Open the file for writing (default: read-only).")
def sql(db, query, fmt, output, params, max_rows, write) -> None:
    """Run SQL against the warehouse (read-only unless --write).

    Views: proofread_neurons, proofread_synapses, connections, connectivity_pairs, cell_types,
    proofread_cell_types, cell_type_connectivity, neuron_degrees, reciprocal_pairs, reciprocity,
    synapse_positions, nucleus_roots, proofread_nuclei; macros: partners(root_id, version),
    cell_types_of(version, [root_id, ...]), neuron_summary(root_id, version), root_history(root_id),
    proofread_changes(v1, v2), neuroglancer_url(root_id, x, y, z), connectivity_matrix_<version>()
    (wide 0/1 matrix).

    \b
    Example:
        mwh sql "SELECT strategy_axon, count(*) FROM proofread_neurons WHERE version = 1181 GROUP BY ALL"
        mwh sql "FROM partners(\\$1, 1181)" -p 864691135808473885
        mwh sql "FROM proofread_synapses WHERE version = 1181" -f parquet -o synapses_1181.parquet
    """
    from ..api import open as open_warehouse

    db = db_path(db)
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    if output is not None:
        check_output(output, db)
    with open_warehouse(db, read_only=not write) as wh:
        rel = wh.con.sql(query, params=_coerce(params) or None)
        if rel is None:  # a statement without a result (only with --write)
            click.echo("OK", err=True)
            return
        written = 0  # rows in the output file, said when there is one
        if fmt == "parquet":
            import pyarrow.parquet as pq

            rel.write_parquet(str(output))
            written = pq.read_metadata(str(output)).num_rows
        elif fmt == "csv":
            if output:
                rel.write_csv(str(output))
                written = wh.con.execute(
                    "SELECT count(*) FROM read_csv(?, header = true)", [str(output)]
                ).fetchall()[0][0]
            else:
                import pyarrow.csv as pacsv

                pacsv.write_csv(rel.to_arrow_table(), sys.stdout.buffer)
        elif fmt == "json":
            records = rel.pl().to_dicts()
            written = len(records)
            text = json.dumps(records, default=str, indent=1)
            (output.write_text(text + "\n") if output else click.echo(text))
        else:
            text = rel.limit(max_rows).pl()
            written = text.height
            import polars as pl

            with pl.Config(
                tbl_rows=max_rows,
                tbl_cols=30,
                fmt_str_lengths=40,
                tbl_width_chars=200,
                fmt_table_cell_list_len=5,
            ):
                (output.write_text(str(text) + "\n") if output else click.echo(str(text)))
        if output:
            click.echo(f"wrote {written:,} row{'s' if written != 1 else ''} to {output}", err=True)


def _coerce(params: tuple[str, ...]) -> list:
    """Parameters arrive as text; integers stay integers so root ids compare as BIGINT."""
    out: list = []
    for p in params:
        try:
            out.append(int(p))
        except ValueError:
            out.append(p)
    return out
