"""`mwh versions`, `mwh status`, `mwh upgrade`: what the server and the file hold."""

from __future__ import annotations

import click

from .. import catalog, snapshots
from ..errors import WarehouseError
from ..registry import ROLE_NAMES
from .common import cli, db_option, db_path, format_utc


@cli.command()
@db_option
@click.option("--datastack", "-d", default=None, help="Datastack to ask (default: the warehouse file's).")
@click.option(
    "--server", default=None, help="CAVE global server URL (default from the datastack's configuration)."
)
@click.option("--local", is_flag=True, help="Only list what the warehouse file holds; do not ask the server.")
def versions(db, datastack, server, local) -> None:
    """List materialization versions with timestamps and expiry, marking those snapshotted here.

    Live snapshots of this file (mwh ingest --timestamp) are listed too, in state 'live', under the
    version number the file gave them and with the time they show.

    \b
    Example:
        mwh versions --datastack minnie65_public
        mwh versions --local
    """
    from ..api import open as open_warehouse

    db = db_path(db)
    held: dict[int, list[str]] = {}
    recorded: list = []
    if db.exists():
        with open_warehouse(db) as wh:
            datastack = datastack or wh.datastack
            if datastack == wh.datastack:
                held = snapshots.roles_by_version(wh.con)
                recorded = catalog.recorded_versions(wh.con)
    elif local:
        raise WarehouseError(f"no warehouse at {db}")
    if datastack is None:
        raise WarehouseError("give --datastack (e.g. minnie65_public), or --db a warehouse file")
    live_rows = [(v, ts, exp, None, True) for v, ts, exp, _, is_live in recorded if is_live]
    if local:
        # What the file holds: every version with a snapshot, whatever it came from (a dump records
        # no server metadata), and never a version the server listed but the file does not hold.
        known = {r[0]: r for r in recorded}
        rows = [known.get(v, (v, None, None, None, False)) for v in held]
    else:
        from ingest.sources import open_source

        from ..config import datastack_config

        source = open_source(datastack_config(datastack), server=server)
        rows = [
            (v.version, v.time_stamp, v.expires_on, v.expired, False)
            for v in source.versions(include_expired=True)
        ] + live_rows
    click.echo(
        f"{'version':>8}  {'time_stamp (UTC)':<20} {'expires_on (UTC)':<20} {'state':<9} snapshotted here"
    )
    every = len(ROLE_NAMES)
    for v, ts, exp, expired, is_live in sorted(rows, key=lambda r: r[0]):
        state = "live" if is_live else "-" if expired is None else "expired" if expired else "available"
        roles = [r for r in held.get(v, []) if r in ROLE_NAMES]
        others = len(held.get(v, [])) - len(roles)  # tables beyond the roles (mwh ingest --tables NAME)
        mark = f"all {every} tables" if len(roles) == every else (", ".join(sorted(roles)) if roles else "-")
        if others:
            mark += f" + {others} other table{'s' if others != 1 else ''}"
        when = format_utc(ts, seconds=True) if is_live else format_utc(ts)
        click.echo(f"{v:>8}  {when:<20} {format_utc(exp):<20} {state:<9} {mark}")
    if live_rows:
        click.echo(
            "'live' versions are this file's own numbers for live snapshots (mwh ingest --timestamp), "
            "not CAVE versions",
            err=True,
        )


@cli.command()
@db_option
def status(db) -> None:
    """Show what the warehouse holds: datastack, versions, snapshots and unfinished work.

    \b
    Example:
        mwh status --db warehouse.duckdb
    """
    from ..api import open as open_warehouse
    from ..schema import SCHEMA_VERSION

    db = db_path(db)
    with open_warehouse(db) as wh:
        c = wh.con
        click.echo(f"file:       {db.resolve()} ({db.stat().st_size / 1e6:.1f} MB)")
        click.echo(f"datastack:  {wh.datastack}")
        click.echo(f"schema:     {SCHEMA_VERSION}")
        from ..live import live_versions
        from ..timestamps import format_timestamp

        lives = live_versions(c)
        held = snapshots.current(c)
        if not held:
            click.echo("snapshots:  none yet")
        for h in held:
            at = f"  live at {format_timestamp(lives[h.version])}" if h.version in lives else ""
            click.echo(
                f"  v{h.version:<6} {h.role:<18} {h.table:<36} {h.rows:>12,} rows  {format_utc(h.finished_at)}{at}"
            )
        for v in sorted({h.version for h in held if h.role == "synapses"}):
            click.echo(
                f"  v{v:<6} synapse scope:     {describe_scopes(snapshots.synapse_scopes(c, 'synapses', v))}"
            )
        for u in snapshots.unfinished(c):
            table, v, done, total, msg, expired = (
                u.table,
                u.version,
                u.chunks_done,
                u.chunks_total,
                u.message,
                u.version_expired,
            )
            again = f"--timestamp {format_timestamp(lives[v])}" if v in lives else f"--version {v}"
            if expired and v not in lives:
                # The server will not answer for it any more: say so rather than ask for a re-run.
                todo = (
                    "the version has expired on the server, so it cannot be finished; no view shows its rows"
                )
            else:
                todo = f"re-run mwh ingest {again} to resume"
            click.echo(
                f"  unfinished: {table} v{v} ({done}/{total} chunks){': ' + msg if msg else ''} - {todo}"
            )


@cli.command()
@db_option
def upgrade(db) -> None:
    """Migrate a warehouse file written by an older microns-warehouse, in one transaction.

    \b
    Example:
        mwh upgrade --db warehouse.duckdb
    """
    from .. import schema
    from ..api import open as open_warehouse

    with open_warehouse(db_path(db), read_only=False) as wh:
        upgraded, before = wh.upgraded, wh.schema_before
    if not upgraded:
        click.echo(f"{db_path(db)} is up to date", err=True)
    elif before is not None and before < schema.SCHEMA_VERSION:
        # Say so, and whether stored rows were rewritten: that takes minutes on a full-size file,
        # where the catalog tables and the views take a second.
        rows = (
            "stored rows rewritten where the layout changed, every value kept"
            if schema.rewrites_rows(before)
            else "no stored row changed"
        )
        click.echo(
            f"{db_path(db)}: migrated from warehouse schema {before} to {schema.SCHEMA_VERSION} ({rows}) "
            "and re-applied the views and macros of sql/",
            err=True,
        )
    else:
        click.echo(
            f"{db_path(db)}: re-applied the views and macros of sql/ (the schema was current; no data changed)",
            err=True,
        )


SCOPE_WORDS = {
    "synapses_proofread": "between proofread cells",
    "synapses_partners": "every synapse of {roots:,} proofread cells",
    "synapses_roots": "every synapse of {roots:,} root id(s)",
    "dump": "the whole table (dump)",
    "delta_export": "the whole table (Delta export)",
    "whole_table": "the whole table",
}


def describe_scopes(scopes) -> str:
    """What a version's synapse snapshots hold together, e.g. 'between proofread cells + every
    synapse of 1 root id(s)': which neurons partners() can answer for."""
    return " + ".join(
        f"{SCOPE_WORDS.get(s.kind, s.kind).format(roots=s.roots)} ({s.rows:,} rows)" for s in scopes
    )
