"""What every `mwh` command shares: the group, its error handling, and the common options.

Commands stay thin: they parse options, call the package, and turn the package's errors into one
line on stderr with a non-zero exit. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC
from pathlib import Path

import click
import duckdb

from .. import __version__, settings
from ..errors import WarehouseError

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
        except BrokenPipeError:
            stop_quietly_on_broken_pipe()
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
    if settings.debug() or (ctx.obj or {}).get("verbose"):
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


def db_path(db: Path | None) -> Path:
    """The warehouse file: the command's own --db, else `mwh --db PATH COMMAND`'s, else $MWH_DB
    (which click has already put in `db` when set), else warehouse.duckdb."""
    ctx = click.get_current_context(silent=True)
    given_here = ctx is not None and ctx.get_parameter_source("db") == click.core.ParameterSource.COMMANDLINE
    group_db = (ctx.find_root().obj or {}).get("db") if ctx is not None else None
    if group_db is not None and not given_here:
        return Path(group_db)
    return Path(db) if db is not None else settings.db_path()


def stop_quietly_on_broken_pipe() -> None:
    """The reader of stdout went away (`mwh status | head -1`): stop without a word, as Unix tools
    do, with the shell's status for a SIGPIPE. Python would otherwise complain again when it
    flushes stdout at exit, so stdout is pointed at /dev/null first."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


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
    from ..neuron import parse_root_id

    return parse_root_id(value)


def _timestamp(value):
    """An ISO 8601 time, UTC when it has no offset, not in the future."""
    from ..timestamps import parse_timestamp

    return parse_timestamp(value)


ROOT_ID = ParsedType("root_id", _root_id)
TIMESTAMP = ParsedType("timestamp", _timestamp)


@click.group(
    cls=WarehouseGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="microns-warehouse")
@click.option("--verbose", is_flag=True, help="Show tracebacks for errors (for bug reports).")
@click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path),
    default=None,
    help="Warehouse file for the command (the same as the command's own --db, which wins).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, db: Path | None) -> None:
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
    ctx.obj = {"verbose": verbose, "db": db}


def format_utc(value, seconds: bool = False) -> str:
    """A time in UTC, as the column headers say (DuckDB hands TIMESTAMPTZ back in local time)."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def check_output(output: Path, db: Path) -> None:
    if output.exists() and output.is_dir():
        raise WarehouseError(f"--output {output} is a directory; give a file name")
    if not output.parent.exists():
        raise WarehouseError(f"--output folder {output.parent} does not exist")
    if output.resolve() == db.resolve():
        raise WarehouseError("--output must not be the warehouse file itself")
