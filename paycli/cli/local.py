"""`paycli local up|status|down`: the embedded local stack's process.

Thin: each command calls one function of `paycli.local.control` (imported in the body, so
`paycli --help` never loads it) and hands the result to the renderer.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.cli._common import JsonOpt

if TYPE_CHECKING:
    from paycli.render import Renderer

app = typer.Typer(
    help="Run the embedded local stack (moto + the real template, ASL and handlers) here.",
    no_args_is_help=True,
)


def _renderer(json_output: bool) -> Renderer:
    from paycli.render import Renderer  # noqa: PLC0415 - rich loads only when printing

    return Renderer(json_output=json_output)  # titles say "Local stack" already


@app.command()
def up(
    *,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", help="Port of the AWS endpoint (default: a free one)."),
    ] = None,
    foreground: Annotated[
        bool,
        typer.Option(
            "--foreground/--detach",
            help="Run attached with a live log (default: background).",
        ),
    ] = False,
    time_scale: Annotated[
        float,
        typer.Option("--time-scale", hidden=True, help="Factor on ASL Retry/Wait sleeps (tests)."),
    ] = 1.0,
    json_output: JsonOpt = False,
) -> None:
    """Start the local stack; returns once it is ready (again: prints the running one).

    Example: paycli local up --json
    """
    from paycli.local import control  # noqa: PLC0415 - keeps `paycli --help` fast

    out = _renderer(json_output)
    running = control.status()
    if running.running and not foreground:
        out.note(f"The local stack was already running (pid {running.pid}); nothing started.")
        out.emit(asdict(running), lambda data: out.key_values("Local stack", data))
        return
    if foreground:
        out.note("Running the local stack in the foreground; Ctrl-C stops it.")
        status = control.up(port=port, foreground=True, time_scale=time_scale)
    else:
        with out.spinner("Starting the local stack..."):
            status = control.up(port=port, time_scale=time_scale)
    out.emit(asdict(status), lambda data: out.key_values("Local stack", data))


@app.command()
def status(*, json_output: JsonOpt = False) -> None:
    """Show whether the local stack runs, its endpoint and API URL, and if it is deployed.

    Example: paycli local status --json
    """
    from paycli.local import control  # noqa: PLC0415

    out = _renderer(json_output)
    out.emit(asdict(control.status()), lambda data: out.key_values("Local stack", data))


@app.command()
def down(*, json_output: JsonOpt = False) -> None:
    """Stop the local stack (its data is in memory and goes with it).

    Example: paycli local down
    """
    from paycli.local import control  # noqa: PLC0415

    out = _renderer(json_output)
    stopped = control.down()
    text = "Local stack stopped." if stopped else "The local stack was not running."
    out.emit({"stopped": stopped}, lambda _: text)
