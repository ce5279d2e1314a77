"""`mwh`: the command line, the face of the warehouse.

It is the one layer that may use `ingest` and `reports`; they use the core (`warehouse`), which
imports neither (the import-linter contracts in pyproject.toml keep it so). Each module holds one
group of commands; importing them registers them on the `cli` group.
"""

from __future__ import annotations

import sys

import click

from . import demo, diff, export, info, ingest, neuron, query, report, tables  # noqa: F401 - registers the commands
from .common import cli, stop_quietly_on_broken_pipe

__all__ = ["cli", "main"]


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
    except BrokenPipeError:
        stop_quietly_on_broken_pipe()
    try:
        sys.stdout.flush()  # a pipe closed after the last write shows here, not in the command
    except BrokenPipeError:
        stop_quietly_on_broken_pipe()
    sys.exit(rv if isinstance(rv, int) else 0)
