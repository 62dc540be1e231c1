"""`paycli local up|status|doctor|down`: the embedded local stack's process.

Thin: each command calls one function of `paycli.local.control` (imported in the body, so
`paycli --help` never loads it) and hands the result to the renderer.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from paycli.cli import faults
from paycli.cli._common import JsonOpt

if TYPE_CHECKING:
    from paycli.render import Renderer

#: Worker processes per function at most: each is a Python process of ~30 MB and the stack has
#: five functions; `--lambda-workers 100000` was accepted (and forks on demand until memory ran
#: out). The README's measurements use 2.
MAX_LAMBDA_WORKERS = 16

app = typer.Typer(
    help="Run the embedded local stack (moto + the real template, ASL and handlers) here.",
    no_args_is_help=True,
)
app.add_typer(faults.app, name="faults")


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
    faults: Annotated[
        str | None,
        typer.Option("--faults", help="Inject this fault plan (a file, or all / none)."),
    ] = None,
    lambda_workers: Annotated[
        int | None,
        typer.Option(
            "--lambda-workers",
            min=0,
            max=MAX_LAMBDA_WORKERS,
            help="Worker processes per function (0: handlers run in the stack's process; "
            "default: $PAYCLI_LAMBDA_WORKERS or 0).",
        ),
    ] = None,
    dynamodb_process: Annotated[
        bool | None,
        typer.Option(
            "--dynamodb-process/--no-dynamodb-process",
            help="Run emulated DynamoDB in a process of its own, on another core (default: "
            "$PAYCLI_DYNAMODB_PROCESS or off).",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Start the local stack; returns once it is ready (again: prints the running one).

    Example: paycli local up --json
    """
    from paycli.core import inputs  # noqa: PLC0415
    from paycli.core.faultplan import load_plan  # noqa: PLC0415
    from paycli.local import control  # noqa: PLC0415 - keeps `paycli --help` fast

    inputs.port(port)
    plan = load_plan(faults).to_json() if faults else None  # bad plan: refused before starting
    out = _renderer(json_output)
    running = control.status()
    if running.running and not foreground:
        out.note(f"The local stack was already running (pid {running.pid}); nothing started.")
        if lambda_workers is not None:
            out.note(
                f"--lambda-workers {lambda_workers} applies when a stack starts: run"
                " `paycli local down` first (its data goes with it)"
            )
        if plan is not None:  # --faults still applies to the running stack
            control.set_fault_plan(plan)
            out.note(f"Fault plan {plan['name']} set.")
        out.emit(asdict(running), lambda data: out.key_values("Local stack", data))
        return
    if foreground:
        out.note("Running the local stack in the foreground; Ctrl-C stops it.")
        status = control.up(
            port=port,
            foreground=True,
            time_scale=time_scale,
            fault_plan=plan,
            lambda_workers=lambda_workers,
            dynamodb_process=dynamodb_process,
        )
    else:
        try:
            with out.spinner("Starting the local stack..."):
                status = control.up(
                    port=port,
                    time_scale=time_scale,
                    fault_plan=plan,
                    lambda_workers=lambda_workers,
                    dynamodb_process=dynamodb_process,
                )
        except KeyboardInterrupt:  # the daemon is its own process: it may well be starting
            from paycli.core.errors import StoppedByUserError  # noqa: PLC0415

            raise StoppedByUserError(
                "stopped waiting for the local stack: it may go on starting in the background",
                hint="`paycli local status` shows it; `paycli local down` stops it",
            ) from None
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
def doctor(
    *,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", help="Also check that this port is free."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Check what a local stack needs: each moto patch against the installed moto, botocore
    and typer (exit 1 names the patch whose code changed), versions, ports, the state dir.

    Example: paycli local doctor --json | jq '.checks[] | select(.ok | not)'
    """
    from paycli.core import inputs  # noqa: PLC0415
    from paycli.core.errors import ExitCode  # noqa: PLC0415
    from paycli.local import doctor as checks  # noqa: PLC0415 - imports moto to fingerprint it

    inputs.port(port)
    out = _renderer(json_output)
    report = checks.run(port=port)
    view = {"ok": report.ok, "checks": [asdict(check) for check in report.checks]}
    out.emit(view, out.checks_table)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILURE))


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
