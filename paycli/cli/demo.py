"""`paycli demo`: the quickstart walkthrough on the local stack."""

from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, app_context, renderer

app = typer.Typer()


@app.command()
def demo(
    ctx: typer.Context,
    *,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the local stack up afterwards.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per payment.")] = 60.0,
    json_output: JsonOpt = False,
) -> None:
    """Deploy locally, create an account, pay with a good, a declined and a failing card,
    then show the payments, the balance and the DLQ. Stops the local stack it started.

    Example: paycli demo
    """
    from paycli.core import inputs  # noqa: PLC0415
    from paycli.core.demo import run_demo  # noqa: PLC0415 - boto3/moto load only here

    inputs.positive_seconds(timeout, "--timeout")
    app_ctx = app_context(ctx)
    out = renderer(app_ctx, json_output)
    out.where = "local stack"
    report = run_demo(app_ctx.settings, out.note, timeout=timeout, keep_running=keep_running)
    if json_output:
        out.emit(report.view(), lambda view: view)
        return
    out.emit([p.view() for p in report.payments], out.payments_table)
    out.emit([report.account], out.accounts_table)
    out.emit(report.dlq, out.dlq_stats_table)
