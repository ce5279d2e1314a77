"""`mwh`: the command line over the warehouse package.

Commands stay thin: they parse options, call the package, and turn the package's errors into one
line on stderr with a non-zero exit. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC
from pathlib import Path

import click
import duckdb

from . import __version__
from .config import default_db_path
from .errors import WarehouseError

# Reports go one level down, so that running mwh from a checkout of this repository never mixes
# generated pages into the `reports` package's source folder (reports/out/ is ignored by git).
DEFAULT_REPORTS = Path("reports") / "out"
DB_HELP = "Warehouse file (default: warehouse.duckdb in the current folder, or $MWH_DB)."


class WarehouseGroup(click.Group):
    """Turns every failure into one line on stderr; --verbose or MWH_DEBUG=1 shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except WarehouseError as exc:
            _fail(ctx, str(exc), exc)
        except duckdb.Error as exc:
            _fail(ctx, _one_line(exc), exc)
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:
            _fail(ctx, f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", exc)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
            _fail(
                ctx,
                f"internal error: {type(exc).__name__}: {_one_line(exc)} (MWH_DEBUG=1 shows the traceback)",
                exc,
            )


def _one_line(exc: BaseException) -> str:
    lines = [x.strip() for x in str(exc).strip().splitlines() if x.strip()]
    return " ".join(lines[:2])[:500] if lines else type(exc).__name__


def _fail(ctx: click.Context, message: str, exc: BaseException) -> None:
    if os.environ.get("MWH_DEBUG") or (ctx.obj or {}).get("verbose"):
        raise exc
    click.echo(f"Error: {message}", err=True)
    ctx.exit(1)


def db_option(f):
    return click.option(
        "--db",
        "db",
        type=click.Path(path_type=Path),
        default=None,
        help=DB_HELP,
        envvar="MWH_DB",
        show_envvar=True,
    )(f)


def _db(db: Path | None) -> Path:
    return Path(db) if db is not None else default_db_path()


class ParsedType(click.ParamType):
    """A command-line value checked by one of the package's parsers; its error becomes a usage error."""

    def __init__(self, name: str, parse) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value, param, ctx):
        try:
            return self._parse(value)
        except WarehouseError as exc:
            self.fail(str(exc), param, ctx)


def _root_id(value):
    """Digits that fit a signed 64-bit integer."""
    from .neuron import parse_root_id

    return parse_root_id(value)


def _timestamp(value):
    """An ISO 8601 time, UTC when it has no offset, not in the future."""
    from .live import parse_timestamp

    return parse_timestamp(value)


ROOT_ID = ParsedType("root_id", _root_id)
TIMESTAMP = ParsedType("timestamp", _timestamp)


@click.group(
    cls=WarehouseGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="microns-warehouse")
@click.option("--verbose", is_flag=True, help="Show tracebacks for errors (for bug reports).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """microns-warehouse: snapshots of CAVE connectomics data (MICrONS minnie65_public) in one DuckDB file.

    \b
    Start offline with the demo datastack:
        mwh demo
    Snapshot real data (needs a CAVE token):
        mwh versions --datastack minnie65_public
        mwh ingest --datastack minnie65_public --version 1181
    Ask questions:
        mwh sql "SELECT strategy_axon, count(*) FROM proofread_neurons WHERE version = 1181 GROUP BY ALL"
        mwh report --version 1181
    """
    ctx.obj = {"verbose": verbose}


@cli.command()
@db_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_REPORTS,
    show_default=True,
    help="Folder for the HTML and PNG reports.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0.05, max=100),
    default=1.0,
    show_default=True,
    help="Size of the synthetic datastack; 1 is like minnie65_public v1181 (~1,436 proofread cells).",
)
@click.option("--seed", type=int, default=1181, show_default=True, help="Seed of the synthetic datastack.")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Parallel fetch workers."
)
def demo(db: Path | None, out: Path, scale: float, seed: int, workers: int) -> None:
    """Build a warehouse of the embedded demo datastack and render every report, offline.

    The demo datastack is synthetic but shaped like minnie65_public: the same tables and columns,
    three materialization versions whose root ids change while nucleus ids stay, and cortex-like
    connectivity. It goes through the same ingest job as real CAVE data.

    \b
    Example:
        mwh demo
        mwh demo --db demo.duckdb --out demo-reports --scale 2
    """
    from ingest.progress import Progress

    from .demo import run_demo

    db = _db(db)
    click.echo(f"Building the demo warehouse {db} ...", err=True)
    result = run_demo(db, out, seed=seed, scale=scale, workers=workers, progress=Progress())
    v = result.report_version
    size = db.stat().st_size / 1e6
    click.echo(
        f"Snapshotted versions {', '.join(map(str, result.versions))} of the demo datastack "
        f"in {result.seconds:.1f} s ({size:.0f} MB).",
        err=True,
    )
    click.echo(f"warehouse: {db.resolve()}")
    click.echo(f"reports:   {result.index.resolve()}  (version {v}, {len(result.reports)} charts)")
    click.echo(
        f'Next: mwh sql --db {db} "SELECT strategy_axon, count(*) FROM proofread_neurons WHERE version = {v} GROUP BY ALL"',
        err=True,
    )


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
    help="Only these tables (CAVE names or roles: proofreading, synapses, cell_types_manual, cell_types_auto). "
    "Repeat for several. Default: all four.",
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
@click.option("--force", is_flag=True, help="Replace complete snapshots of the same query (atomically).")
def ingest(
    db, datastack, version, timestamp, tables, synapses, server, workers, ids_per_chunk, dump, force
) -> None:
    """Snapshot one materialization version, or the live data at a timestamp, into the warehouse.

    Takes the proofreading table, both cell-type tables and the synapses of the proofread cells,
    each as an all-or-nothing snapshot. The server's row cap never truncates silently: queries are
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
        mwh ingest -d minnie65_public -v 1181 --dump ~/Downloads/v1181/
    """
    if timestamp is not None and version is not None:
        raise click.UsageError("give --version or --timestamp, not both")
    if dump is not None:
        if timestamp is not None:
            raise click.UsageError(
                "--dump files hold one materialization version; give --version, not --timestamp"
            )
        if version is None:
            raise click.UsageError("--dump needs --version, the version the dump files are of")
        return _ingest_dump(db, datastack, version, tables, server, dump, force)
    if timestamp is None and version is None:
        raise click.UsageError(
            "give --version N (a materialization) or --timestamp TIME (the live data at that time)"
        )
    from ingest.plan import PlanOptions
    from ingest.progress import Progress
    from ingest.run import (
        IngestOptions,
        check_timestamp,
        check_version,
        ingest_at,
        ingest_version,
        resolve_roles,
    )
    from ingest.sources import open_source

    from .api import check_writable_for, open_for_datastack
    from .config import datastack_config

    cfg = datastack_config(datastack)
    roles = resolve_roles(cfg, tables)
    db = _db(db)
    check_writable_for(db, datastack)  # local problems first, before any request to a server
    source = open_source(cfg, server=server)
    if timestamp is not None:
        check_timestamp(source, timestamp)  # before a new file is created for nothing
    elif not Path(db).exists():
        # Before a new file is created for nothing. An existing file is checked by ingest_version,
        # which first records what the server says, so an expiry reaches `mwh status`.
        check_version(source, version)
    live = None
    with open_for_datastack(db, datastack) as wh:
        options = IngestOptions(
            roles=roles,
            workers=workers,
            force=force,
            plan=PlanOptions(synapses=synapses, ids_per_chunk=ids_per_chunk),
            progress=Progress(),
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
        from .live import format_timestamp

        click.echo(
            f"live snapshot at {format_timestamp(live.timestamp)} is version {live.version} of this file; "
            f'e.g. mwh sql "SELECT count(*) FROM proofread_neurons WHERE version = {live.version}"',
            err=True,
        )
    click.echo(f"{db}: {db.stat().st_size / 1e6:.1f} MB", err=True)


def _ingest_dump(db, datastack, version, tables, server, dump, force) -> None:
    """`mwh ingest --dump`: the dump files at DUMP as snapshots of VERSION; no server is contacted."""
    from tqdm import tqdm

    from ingest.dump import ingest_dump
    from ingest.run import resolve_roles

    from .api import check_writable_for, open_for_datastack
    from .config import datastack_config

    if server is not None:
        raise click.UsageError("--dump reads files and contacts no server; leave out --server")
    cfg = datastack_config(datastack)
    roles = resolve_roles(cfg, tables)
    db = _db(db)
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
        with open_for_datastack(db, datastack) as wh:
            outcomes = ingest_dump(wh, Path(dump), version, roles=roles, force=force, on_batch=on_batch)
            wh.con.execute("CHECKPOINT")
    finally:
        for bar in bars.values():
            bar.close()
    for o in outcomes:
        rate = f", {o.rows / o.seconds:,.0f} rows/s" if o.seconds > 0 else ""
        click.echo(f"{o.table} v{o.version}: {o.rows:,} rows from the dump ({o.action}{rate})", err=True)
    click.echo(f"{db}: {db.stat().st_size / 1e6:.1f} MB", err=True)


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
    from .api import open as open_warehouse

    db = _db(db)
    held: dict[int, list[str]] = {}
    recorded: list = []
    if db.exists():
        with open_warehouse(db) as wh:
            datastack = datastack or wh.datastack
            if datastack == wh.datastack:
                for role, v in wh.con.execute("SELECT role, version FROM meta.current_snapshots").fetchall():
                    held.setdefault(v, []).append(role)
                recorded = wh.con.execute(
                    "SELECT version, time_stamp, expires_on, expired, kind = 'live' FROM meta.versions "
                    "ORDER BY version"
                ).fetchall()
    elif local:
        raise WarehouseError(f"no warehouse at {db}")
    if datastack is None:
        raise WarehouseError("give --datastack (e.g. minnie65_public), or --db a warehouse file")
    live_rows = [(v, ts, exp, None, True) for v, ts, exp, _, is_live in recorded if is_live]
    if local:
        rows = recorded
    else:
        from ingest.sources import open_source

        from .config import datastack_config

        source = open_source(datastack_config(datastack), server=server)
        rows = [
            (v.version, v.time_stamp, v.expires_on, v.expired, False)
            for v in source.versions(include_expired=True)
        ] + live_rows
    click.echo(
        f"{'version':>8}  {'time_stamp (UTC)':<20} {'expires_on (UTC)':<20} {'state':<9} snapshotted here"
    )
    for v, ts, exp, expired, is_live in sorted(rows, key=lambda r: r[0]):
        state = "live" if is_live else "expired" if expired else "available"
        roles = held.get(v, [])
        mark = "all 4 tables" if len(roles) == 4 else (", ".join(sorted(roles)) if roles else "-")
        when = _ts(ts, seconds=True) if is_live else _ts(ts)
        click.echo(f"{v:>8}  {when:<20} {_ts(exp):<20} {state:<9} {mark}")
    if live_rows:
        click.echo(
            "'live' versions are this file's own numbers for live snapshots (mwh ingest --timestamp), "
            "not CAVE versions",
            err=True,
        )


def _ts(value, seconds: bool = False) -> str:
    """A time in UTC, as the column headers say (DuckDB hands TIMESTAMPTZ back in local time)."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


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
    neuron_summary(root_id, version), root_history(root_id), proofread_changes(v1, v2),
    neuroglancer_url(root_id, x, y, z), connectivity_matrix_<version>() (wide 0/1 matrix).

    \b
    Example:
        mwh sql "SELECT strategy_axon, count(*) FROM proofread_neurons WHERE version = 1181 GROUP BY ALL"
        mwh sql "FROM partners(\\$1, 1181)" -p 864691135808473885
        mwh sql "FROM proofread_synapses WHERE version = 1181" -f parquet -o synapses_1181.parquet
    """
    from .api import open as open_warehouse

    db = _db(db)
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    if output is not None:
        _check_output(output, db)
    with open_warehouse(db, read_only=not write) as wh:
        rel = wh.con.sql(query, params=_coerce(params) or None)
        if rel is None:  # a statement without a result (only with --write)
            click.echo("OK", err=True)
            return
        if fmt == "parquet":
            rel.write_parquet(str(output))
        elif fmt == "csv":
            if output:
                rel.write_csv(str(output))
            else:
                import pyarrow.csv as pacsv

                pacsv.write_csv(rel.to_arrow_table(), sys.stdout.buffer)
        elif fmt == "json":
            text = json.dumps(rel.pl().to_dicts(), default=str, indent=1)
            (output.write_text(text + "\n") if output else click.echo(text))
        else:
            text = rel.limit(max_rows).pl()
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
            click.echo(f"wrote {output}", err=True)


def _coerce(params: tuple[str, ...]) -> list:
    """Parameters arrive as text; integers stay integers so root ids compare as BIGINT."""
    out: list = []
    for p in params:
        try:
            out.append(int(p))
        except ValueError:
            out.append(p)
    return out


def _check_output(output: Path, db: Path) -> None:
    if output.exists() and output.is_dir():
        raise WarehouseError(f"--output {output} is a directory; give a file name")
    if not output.parent.exists():
        raise WarehouseError(f"--output folder {output.parent} does not exist")
    if output.resolve() == db.resolve():
        raise WarehouseError("--output must not be the warehouse file itself")


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

    from . import catalog
    from .api import open as open_warehouse

    if name is not None:
        reports_pkg.get(name)
    with open_warehouse(_db(db)) as wh:
        if version is None:
            version = catalog.latest_version(
                wh.con, ["proofreading", "synapses", "cell_types_manual", "cell_types_auto"]
            )
            if version is None:
                raise WarehouseError(f"{wh.path} holds no fully snapshotted version; run mwh ingest first")
        options = {"root_id": root_id} if root_id is not None else {}
        if weighted:
            options["weighted"] = True
        rendered, index = publish(wh, version, out, [name] if name else None, **options)
    for r in rendered:
        click.echo(f"{r.name}: {r.html} {r.png}")
    click.echo(f"index: {index}")


def _partner_lines(frame, total: int, direction: str) -> list[str]:
    """Plain aligned columns: easier to read and to paste than a boxed table."""
    head = "inputs (pre-synaptic partners)" if direction == "input" else "outputs (post-synaptic partners)"
    lines = [f"top {frame.height} {head} of {total:,}:"]
    lines.append(f"  {'partner_root_id':>20}  {'synapses':>8}  {'cell type':<14} proofread")
    for row in frame.iter_rows(named=True):
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

    Prints whether the root id is proofread, its cell type, nucleus, position (um, depth below the
    pia), synapse and partner counts, its root ids at other versions (same nucleus) and a
    neuroglancer link, then its top input and output partners; renders the neuron report.

    \b
    Example:
        mwh neuron 864691135808473885 --version 1181
        mwh neuron 864691135808473885 -v 1181 --top 50 --no-report
    """
    from .api import open as open_warehouse

    with open_warehouse(_db(db)) as wh:
        card = wh.neuron(root_id, version, top=top)
        s = card.summary
        lines = [f"neuron {card.root_id} at version {version} ({wh.datastack})"]
        lines.append(f"  proofread:    {'yes (' + str(s['strategy_axon']) + ')' if s['proofread'] else 'no'}")
        nucleus = "none" if s["nucleus_id"] is None else str(s["nucleus_id"])
        if (s["n_nuclei"] or 0) > 1:
            nucleus += f" (and {s['n_nuclei'] - 1} more nuclei on this root)"
        lines.append(f"  cell type:    {s['cell_type'] or 'no type'}; nucleus {nucleus}")
        if s["x_um"] is not None:
            lines.append(
                f"  position:     x {s['x_um']:,.1f} um, y {s['y_um']:,.1f} um, z {s['z_um']:,.1f} um; "
                f"depth {s['depth_um']:,.1f} um below the pia"
            )
        lines.append(
            f"  synapses:     {s['syn_in']:,} in from {s['input_partners']:,} partners, "
            f"{s['syn_out']:,} out onto {s['output_partners']:,} partners"
            + (f", {s['autapses']:,} autapses" if s["autapses"] else "")
        )
        others = card.history.filter(card.history["version"] != version)
        if others.height:
            seen = ", ".join(
                f"v{v} {r}"
                for v, r in others.select("version", "pt_root_id").unique().sort("version").iter_rows()
            )
            lines.append(f"  same nucleus: {seen}")
        if s["neuroglancer_url"]:
            lines.append(f"  neuroglancer: {s['neuroglancer_url']}")
        lines.append("")
        lines += _partner_lines(card.inputs, s["input_partners"], "input")
        lines.append("")
        lines += _partner_lines(card.outputs, s["output_partners"], "output")
        click.echo("\n".join(lines))
        if not no_report:
            import reports as reports_pkg
            from reports.publish import check_out_dir
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
            click.echo(f"report: {done.html} {done.png}", err=True)


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

    from .api import open as open_warehouse
    from .diff import compare

    db = _db(db)
    if output is not None:
        _check_output(output, db)
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


@cli.command()
@db_option
def status(db) -> None:
    """Show what the warehouse holds: datastack, versions, snapshots and unfinished work.

    \b
    Example:
        mwh status --db warehouse.duckdb
    """
    from .api import open as open_warehouse
    from .schema import SCHEMA_VERSION

    db = _db(db)
    with open_warehouse(db) as wh:
        c = wh.con
        click.echo(f"file:       {db.resolve()} ({db.stat().st_size / 1e6:.1f} MB)")
        click.echo(f"datastack:  {wh.datastack}")
        click.echo(f"schema:     {SCHEMA_VERSION}")
        rows = c.execute(
            "SELECT version, role, table_name, row_count, finished_at FROM meta.current_snapshots ORDER BY version, role"
        ).fetchall()
        from .live import format_timestamp, live_versions

        lives = live_versions(c)
        if not rows:
            click.echo("snapshots:  none yet")
        for v, role, table, n, fin in rows:
            at = f"  live at {format_timestamp(lives[v])}" if v in lives else ""
            click.echo(f"  v{v:<6} {role:<18} {table:<36} {n:>12,} rows  {_ts(fin)}{at}")
        for _sid, table, v, done, total, msg, expired in c.execute(
            "SELECT s.snapshot_id, s.table_name, s.version, count(*) FILTER (c.status = 'done'), "
            "count(*) FILTER (c.status <> 'split'), s.message, coalesce(any_value(mv.expired), false) "
            "FROM meta.snapshots s JOIN meta.chunks c USING (snapshot_id) "
            "LEFT JOIN meta.versions mv ON mv.datastack = s.datastack AND mv.version = s.version "
            "WHERE s.status = 'incomplete' GROUP BY s.snapshot_id, s.table_name, s.version, s.message ORDER BY 1"
        ).fetchall():
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
    from .api import open as open_warehouse

    with open_warehouse(_db(db), read_only=False):
        pass
    click.echo(f"{_db(db)} is up to date", err=True)


def main(argv: list[str] | None = None) -> None:
    """Run `mwh`, printing every error as one line: click's own usage errors take three."""
    try:
        rv = cli.main(args=argv, prog_name="mwh", standalone_mode=False)
    except click.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"Error: {exc.format_message()}{where}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Error: aborted", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
