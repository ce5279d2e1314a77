"""`mwh tables`: the tables of a datastack at a version, as the server describes them, and what the file holds.

The notebook's five tables are roles (warehouse/registry.py); every other table is listed here so
a user can see what `mwh ingest --tables NAME` would take: its schema type, the table it
references, its description and row count where the server gives one, and at which versions the
file already holds it.
"""

from __future__ import annotations

import click

from .. import extra_tables
from ..errors import WarehouseError
from .common import cli, db_option, db_path


@cli.command()
@db_option
@click.option("--datastack", "-d", default=None, help="Datastack to ask (default: the warehouse file's).")
@click.option(
    "--version",
    "-v",
    "version",
    type=click.IntRange(min=1),
    default=None,
    help="Materialization version to list the tables of (default: the newest the server has).",
)
@click.option(
    "--server", default=None, help="CAVE global server URL (default from the datastack's configuration)."
)
@click.option("--local", is_flag=True, help="Only list the tables the warehouse file holds; ask no server.")
def tables(db, datastack, version, server, local) -> None:
    """List a datastack's tables: schema, reference, rows, description, and the versions held here.

    A table marked 'role' feeds the notebook's views; any other can be taken whole with
    'mwh ingest --tables NAME' and is then a view of its own name.

    \b
    Example:
        mwh tables --datastack minnie65_public --version 1181
        mwh tables --local
    """
    from ..api import open as open_warehouse
    from ..config import datastack_config

    db = db_path(db)
    held: dict[str, list[int]] = {}
    recorded: dict[str, tuple] = {}
    if db.exists():
        with open_warehouse(db) as wh:
            datastack = datastack or wh.datastack
            if datastack == wh.datastack:
                held = extra_tables.held(wh.con)
                for row in extra_tables.recorded(wh.con):
                    recorded[row[0]] = row  # the newest version's schema last
    elif local:
        raise WarehouseError(f"no warehouse at {db}")
    if datastack is None:
        raise WarehouseError("give --datastack (e.g. minnie65_public), or --db a warehouse file")
    cfg = datastack_config(datastack)
    roles = {t: r for r, t in cfg.tables.items()}
    if local:
        rows = []
        for name in sorted(held):
            rec = recorded.get(name)
            rows.append(
                {
                    "table_name": name,
                    "schema_type": rec[3] if rec else "-",
                    "reference_table": rec[4] if rec else None,
                    "description": rec[5] if rec else "",
                    "row_count": None,
                }
            )
    else:
        from ingest.sources import open_source

        source = open_source(cfg, server=server)
        if version is None:
            available = [v.version for v in source.versions(include_expired=False)]
            if not available:
                raise WarehouseError(f"{datastack} has no available version")
            version = max(available)
        rows = sorted(
            source.list_tables(version), key=lambda m: m.get("table_name") or m.get("annotation_table")
        )
        click.echo(f"{datastack} v{version}: {len(rows)} tables", err=True)
    click.echo(f"{'table':<36} {'schema':<28} {'references':<24} {'rows':>12}  {'held here':<18} description")
    for m in rows:
        name = m.get("table_name") or m.get("annotation_table")
        kind = f"role {roles[name]}" if name in roles else ""
        versions = held.get(name, [])
        mark = ", ".join(map(str, versions)) if versions else "-"
        if kind:
            mark = f"{mark} ({kind})"
        count = m.get("row_count")
        rows_text = f"{count:,}" if isinstance(count, int) else "-"
        desc = " ".join(str(m.get("description") or "").split())
        click.echo(
            f"{name:<36} {str(m.get('schema_type') or m.get('schema') or '-'):<28} "
            f"{str(m.get('reference_table') or '-'):<24} {rows_text:>12}  {mark:<18} {desc[:100]}"
        )
