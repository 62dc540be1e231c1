"""The root command: global options, sub-command groups, and the one error boundary.

Nothing here (or in any cli module at import time) imports boto3, moto or the local stack:
`paycli --help` must stay fast. Commands import what they need inside their bodies.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paycli import __version__
from paycli.cli.validate import validate
from paycli.core.errors import PaycliError

app = typer.Typer(
    name="paycli",
    help="Deploy and operate the paycli payment pipeline, on AWS or on the embedded local stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # no tracebacks with locals: they would leak secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"paycli {__version__}")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """paycli: payments in, settled balances out."""


app.command()(validate)


def main() -> None:
    """Console entry point: Typer handles usage errors; a PaycliError becomes one line + its code."""
    debug = "--debug" in sys.argv
    try:
        app()
    except PaycliError as exc:
        if debug:
            raise
        typer.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"Hint: {exc.hint}", err=True)
        sys.exit(int(exc.exit_code))
