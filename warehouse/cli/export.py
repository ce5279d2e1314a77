"""`mwh export`: copy a warehouse into a new one with another store (a file to a lake, and back)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import cli, db_option, db_path


@cli.command()
@db_option
@click.option(
    "--to",
    "dst",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The new warehouse file.",
)
@click.option(
    "--lake",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the new warehouse's raw layer as Delta tables in this folder; without it, in the file.",
)
def export(db, dst, lake) -> None:
    """Copy a warehouse into a new one: a single file into a lake for the lab, or a lake into one file.

    Versions, complete snapshots (their ids, queries and counts) and views come along unchanged; the
    rows go through the new warehouse's own store. The source is only read.

    \b
    Example:
        mwh export --db warehouse.duckdb --to lab.duckdb --lake /lab/lake
        mwh export --db lab.duckdb --to laptop.duckdb
    """
    from ..transfer import copy_warehouse

    src = db_path(db)
    done = copy_warehouse(
        src, dst, lake=lake, on_snapshot=lambda t, v, n: click.echo(f"{t} v{v}: {n:,} rows", err=True)
    )
    where = f"raw layer in the lake {lake}" if lake else "raw layer in the file"
    click.echo(f"{dst}: {done.snapshots} snapshots, {done.rows:,} rows copied from {src} ({where})", err=True)
