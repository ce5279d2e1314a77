"""`mwh report`: render reports of one version into a folder with an index."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import WarehouseError
from .common import DEFAULT_REPORTS, ROOT_ID, cli, db_option, db_path


@cli.command()
@db_option
@click.argument("name", required=False)
@click.option(
    "--version",
    "-v",
    "version",
    type=click.IntRange(min=1),
    default=None,
    help="Version to report on (default: the newest fully snapshotted one).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_REPORTS,
    show_default=True,
    help="Folder for the HTML and PNG files.",
)
@click.option(
    "--root-id",
    type=ROOT_ID,
    default=None,
    help="Neuron for the partners and neuron reports (default: the busiest proofread one).",
)
@click.option(
    "--weighted", is_flag=True, help="Connectivity heatmap coloured by synapse count instead of 0/1."
)
def report(db, name, version, out, root_id, weighted) -> None:
    """Render reports (all, or NAME) as offline HTML and PNG, with an index.html.

    Reports: strategy, connectivity, cell_types, partners, cell_type_connectivity, degrees, neuron,
    changes (against the previous snapshotted version).

    \b
    Example:
        mwh report --version 1181
        mwh report partners --version 1181 --root-id 864691135808473885
    """
    import reports as reports_pkg
    from reports.publish import publish

    from .. import snapshots
    from ..api import open as open_warehouse

    if name is not None:
        reports_pkg.get(name)
    with open_warehouse(db_path(db)) as wh:
        if version is None:
            version = snapshots.latest_complete_version(wh.con, wh.roles_for(*reports_pkg.views_of(name)))
            if version is None:
                raise WarehouseError(f"{wh.path} holds no fully snapshotted version; run mwh ingest first")
        options = {"root_id": root_id} if root_id is not None else {}
        if weighted:
            options["weighted"] = True
        rendered, index = publish(
            wh,
            version,
            out,
            [name] if name else None,
            on_skip=lambda skipped, why: click.echo(f"skipped {skipped}: {why}", err=True),
            **options,
        )
    for r in rendered:
        click.echo(f"{r.name}: {r.html} {r.png}")
    click.echo(f"index: {index}")
