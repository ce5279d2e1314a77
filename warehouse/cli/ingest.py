"""`mwh ingest`: snapshots of a version, a timestamp or a version's dump files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import WarehouseError
from ..neuron import parse_root_id
from .common import ROOT_ID, TIMESTAMP, cli, db_option, db_path


@cli.command()
@db_option
@click.option("--datastack", "-d", required=True, help="CAVE datastack, e.g. minnie65_public (or 'demo').")
@click.option(
    "--version",
    "-v",
    "version",
    type=click.IntRange(min=1),
    default=None,
    help="Materialization version to snapshot, e.g. 1181. Give this or --timestamp.",
)
@click.option(
    "--timestamp",
    type=TIMESTAMP,
    default=None,
    help="Instead of a version: snapshot the live data as it was at this time (ISO 8601, e.g. "
    "2025-06-12T10:00:00Z; UTC when no offset is given), for edits newer than the last materialization. "
    "Stored as a version of this file's own (1000001, 1000002, ...; 'mwh versions --local' lists them); "
    "the same time again resumes or does nothing.",
)
@click.option(
    "--tables",
    "-t",
    multiple=True,
    help="Only these tables (CAVE names or roles: proofreading, synapses, cell_types_manual, cell_types_auto, "
    "nucleus). Any other table of the datastack ('mwh tables' lists them) is taken whole, typed from the "
    "server's schema, as a view named after it. Repeat for several. Default: the five roles.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="COLUMN=VALUE",
    help="Only rows of the other tables (not roles) whose COLUMN equals VALUE. Repeat for several values "
    "or columns (values of one column: any of them; several columns: all).",
)
@click.option(
    "--filter-in",
    "filter_files",
    multiple=True,
    metavar="COLUMN=FILE",
    help="Like --filter, with the values read from FILE (one per line, or separated by commas or spaces).",
)
@click.option(
    "--synapses",
    type=click.Choice(["proofread", "partners"]),
    default="proofread",
    show_default=True,
    help="'proofread': synapses whose pre and post cells are both proofread (the notebook); "
    "'partners': every input and output of the proofread cells.",
)
@click.option(
    "--root-ids",
    "root_ids",
    type=ROOT_ID,
    multiple=True,
    help="Take every input and output synapse of these root ids (the notebook's "
    "synapse_query(pre_ids=...)), so partners() and mwh neuron can answer for them. Repeat for several.",
)
@click.option(
    "--root-ids-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Like --root-ids, the ids read from a file (one per line, or separated by commas or spaces).",
)
@click.option(
    "--server", default=None, help="CAVE global server URL (default from the datastack's configuration)."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Requests to the server in flight at once: chunks, counts and tables asked for ahead of their turn.",
)
@click.option(
    "--ids-per-chunk",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="Root ids per synapse query; chunks over the row cap are split further automatically.",
)
@click.option(
    "--dump",
    type=click.Path(path_type=Path),
    default=None,
    help="Read the version's materialization dump files ({table}.csv.gz + {table}_header.csv) from this "
    "folder or file instead of a server; the full synapse table fills the synapses role.",
)
@click.option(
    "--delta",
    type=click.Path(path_type=Path),
    default=None,
    help="Read the version's tables from a CAVE Delta Lake export (MaterializationEngine's layout "
    "{datastack}/v{version}/{table}/{spec}) at this local folder instead of a server; whole tables, "
    "no CSV to parse.",
)
@click.option(
    "--lake",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Make a new warehouse whose raw layer is Delta tables in this folder (CAVE's export layout, "
    "read by Spark, polars and DuckDB; readers never block an ingest). Chosen once, when the file is made.",
)
@click.option("--force", is_flag=True, help="Replace complete snapshots of the same query (atomically).")
def ingest(
    db,
    datastack,
    version,
    timestamp,
    tables,
    filters,
    filter_files,
    synapses,
    root_ids,
    root_ids_file,
    server,
    workers,
    ids_per_chunk,
    dump,
    delta,
    lake,
    force,
) -> None:
    """Snapshot one materialization version, or the live data at a timestamp, into the warehouse.

    Takes the proofreading, nucleus and both cell-type tables whole and the synapses of the
    proofread cells (with --root-ids: every synapse of those neurons), each as an all-or-nothing
    snapshot. Synapse snapshots of a version add up, so a narrower one never hides a wider one. The server's row cap never truncates silently: queries are
    cut into chunks, a chunk that hits the cap is split, and counts are checked before commit. An
    interrupted run keeps its finished chunks: run the same command again to resume.

    With --timestamp the tables are taken as they were at that time through CAVE's live query (the
    synapses filtered on the proofread root ids at that time), for edits newer than the last
    materialization. The demo datastack answers a timestamp with its newest version at or before it.

    The CAVE token is read the way caveclient reads it (~/.cloudvolume/secrets) or from $CAVE_TOKEN.

    \b
    Example:
        mwh ingest --datastack minnie65_public --version 1181
        mwh ingest -d minnie65_public -v 1181 --synapses partners --workers 8
        mwh ingest -d minnie65_public --timestamp 2025-06-12T10:00:00Z
        mwh ingest -d demo -v 1300
        mwh ingest -d minnie65_public -v 1181 --root-ids 864691135808473885
        mwh ingest -d minnie65_public -v 1181 --dump ~/Downloads/v1181/
        mwh ingest -d minnie65_public -v 1181 --delta /lab/cave-exports/
        mwh ingest -d minnie65_public -v 1181 --db lab.duckdb --lake /lab/lake
        mwh ingest -d minnie65_public -v 1181 --tables coregistration_manual_v4
        mwh ingest -d minnie65_public -v 1181 -t synapse_target_predictions_ssa --filter-in post_pt_root_id=ids.txt
    """
    from ingest.run import split_tables

    from ..config import datastack_config

    cfg = datastack_config(datastack)
    roles, extras = split_tables(cfg, tables)
    wanted = parse_filters(filters, filter_files)
    if wanted and not extras:
        raise click.UsageError(
            "--filter and --filter-in apply to tables beyond the five roles; name one with --tables"
        )
    if extras and (dump is not None or delta is not None or timestamp is not None):
        raise click.UsageError(
            f"{', '.join(extras)}: tables beyond the five roles are taken from a server at a --version"
        )
    if timestamp is not None and version is not None:
        raise click.UsageError("give --version or --timestamp, not both")
    if dump is not None and delta is not None:
        raise click.UsageError("give --dump or --delta, not both")
    if dump is not None or delta is not None:
        flag = "--dump" if dump is not None else "--delta"
        if timestamp is not None:
            raise click.UsageError(
                f"{flag} files hold one materialization version; give --version, not --timestamp"
            )
        if version is None:
            raise click.UsageError(f"{flag} needs --version, the version the files are of")
        if root_ids or root_ids_file:
            raise click.UsageError(f"{flag} takes the whole table; leave out --root-ids")
        return _ingest_files(
            db, datastack, version, tables, server, dump if dump is not None else delta, force, flag, lake
        )
    if timestamp is None and version is None:
        raise click.UsageError(
            "give --version N (a materialization) or --timestamp TIME (the live data at that time)"
        )
    from ingest.plan import PlanOptions
    from ingest.progress import Progress
    from ingest.run import (
        IngestOptions,
        check_source_version,
        check_timestamp,
        ingest_at,
        ingest_version,
    )
    from ingest.sources import open_source

    from ..api import check_writable_for, open_for_datastack

    ids = list(root_ids) + (read_root_ids(root_ids_file) if root_ids_file else [])
    if ids:
        synapses = "roots"
    db = db_path(db)
    check_writable_for(db, datastack)  # local problems first, before any request to a server
    source = open_source(cfg, server=server)
    if timestamp is not None:
        check_timestamp(source, timestamp)  # before a new file is created for nothing
    elif not Path(db).exists():
        # Before a new file is created for nothing. An existing file is checked by ingest_version,
        # which first records what the server says, so an expiry reaches `mwh status`.
        check_source_version(source, version)
    live = None
    with open_for_datastack(db, datastack, lake=lake) as wh:
        options = IngestOptions(
            roles=roles,
            workers=workers,
            force=force,
            plan=PlanOptions(synapses=synapses, ids_per_chunk=ids_per_chunk, root_ids=tuple(ids)),
            progress=Progress(),
            extra_tables=extras,
            filters=wanted,
        )
        if timestamp is not None:
            live = ingest_at(wh, source, timestamp, options)
            outcomes = live.outcomes
        else:
            outcomes = ingest_version(wh, source, version, options)
        wh.con.execute("CHECKPOINT")
    for o in outcomes:
        extra = f", {o.splits} split(s), {o.retries} retry(ies)" if o.action != "unchanged" else ""
        click.echo(f"{o.table} v{o.version}: {o.rows:,} rows ({o.action}{extra})", err=True)
    if live is not None:
        from ..timestamps import format_timestamp

        click.echo(
            f"live snapshot at {format_timestamp(live.timestamp)} is version {live.version} of this file; "
            f'e.g. mwh sql "SELECT count(*) FROM proofread_neurons WHERE version = {live.version}"',
            err=True,
        )
    click.echo(f"{db}: {db.stat().st_size / 1e6:.1f} MB", err=True)


def _ingest_files(db, datastack, version, tables, server, path, force, flag, lake=None) -> None:
    """`mwh ingest --dump` / `--delta`: a version's files as snapshots of VERSION; no server is contacted."""
    from tqdm import tqdm

    from ingest.delta_ingest import ingest_delta_export
    from ingest.dump_ingest import ingest_dump
    from ingest.run import resolve_roles

    from ..api import check_writable_for, open_for_datastack
    from ..config import datastack_config

    if server is not None:
        raise click.UsageError(f"{flag} reads files and contacts no server; leave out --server")
    take = ingest_dump if flag == "--dump" else ingest_delta_export
    what = "the dump" if flag == "--dump" else "the Delta export"
    cfg = datastack_config(datastack)
    roles = resolve_roles(cfg, tables)
    db = db_path(db)
    check_writable_for(db, datastack)
    bars: dict[str, tqdm] = {}

    def on_batch(table: str, rows: int) -> None:
        if table not in bars:
            bars[table] = tqdm(
                desc=f"{table} v{version}",
                unit=" rows",
                unit_scale=True,
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
                dynamic_ncols=True,
            )
        bars[table].update(rows)

    try:
        with open_for_datastack(db, datastack, lake=lake) as wh:
            outcomes = take(wh, Path(path), version, roles=roles, force=force, on_batch=on_batch)
            wh.con.execute("CHECKPOINT")
    finally:
        for bar in bars.values():
            bar.close()
    for o in outcomes:
        rate = f", {o.rows / o.seconds:,.0f} rows/s" if o.seconds > 0 else ""
        click.echo(f"{o.table} v{o.version}: {o.rows:,} rows from {what} ({o.action}{rate})", err=True)
    click.echo(f"{db}: {db.stat().st_size / 1e6:.1f} MB", err=True)


def parse_filters(filters: tuple[str, ...], files: tuple[str, ...]) -> dict[str, list[str]]:
    """--filter COLUMN=VALUE and --filter-in COLUMN=FILE as {column: values} (typed later, by the
    table's schema)."""
    out: dict[str, list[str]] = {}
    for given, from_file in [(f, False) for f in filters] + [(f, True) for f in files]:
        flag = "--filter-in" if from_file else "--filter"
        col, sep, value = given.partition("=")
        if not sep or not col.strip():
            raise click.UsageError(f"{flag} takes COLUMN={'FILE' if from_file else 'VALUE'}, not '{given}'")
        if from_file:
            try:
                text = Path(value).read_text()
            except OSError as exc:
                raise WarehouseError(f"cannot read {flag} file {value}: {exc.strerror}") from None
            values = [
                w for line in text.splitlines() for w in line.split("#", 1)[0].replace(",", " ").split()
            ]
            if not values:
                raise WarehouseError(f"{flag} file {value} holds no values")
        else:
            values = [value]
        out.setdefault(col.strip(), []).extend(values)
    return out


def read_root_ids(path: Path) -> list[int]:
    """Root ids from a file: one per line, or separated by commas, spaces or tabs; # starts a comment."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise WarehouseError(f"cannot read --root-ids-file {path}: {exc.strerror}") from None
    ids = []
    for n, line in enumerate(text.splitlines(), 1):
        for word in line.split("#", 1)[0].replace(",", " ").split():
            try:
                ids.append(parse_root_id(word))
            except WarehouseError as exc:
                raise WarehouseError(f"{path}:{n}: {exc}") from None
    if not ids:
        raise WarehouseError(f"--root-ids-file {path} holds no root ids")
    return ids
