"""`paycli logs`: the handlers' logs (captured locally, CloudWatch Logs on AWS)."""

from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, renderer, services

app = typer.Typer()


@app.command()
def logs(
    ctx: typer.Context,
    *,
    payment: Annotated[str | None, typer.Option("--payment", help="Only this payment.")] = None,
    function: Annotated[
        str | None, typer.Option("--function", help="ingress, validate, deduct or reconcile.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls.")] = 2.0,
    json_output: JsonOpt = False,
) -> None:
    """Show handler log lines, oldest first; with --follow, keep polling for new ones.

    With --json, one JSON object per line.

    Example: paycli logs --payment pay_5d638bc724f84a378a99cb2d3072dcc7 --function validate
    """
    import time  # noqa: PLC0415

    from paycli.core import inputs  # noqa: PLC0415
    from paycli.core.logs import LogFollower  # noqa: PLC0415

    if payment is not None:
        inputs.payment_id(payment)
    if follow:
        inputs.positive_seconds(interval, "--interval")
    out = renderer(ctx, json_output)
    svc = services(ctx)
    follower = LogFollower()
    while True:
        fresh = [record.view() for record in follower.fresh(svc.logs(function, payment))]
        if json_output:
            for view in fresh:
                out.json_line(view)
        elif fresh or not follow:
            out.emit(fresh, out.logs_table)
        if not follow:
            return
        time.sleep(max(interval, 1.0))
