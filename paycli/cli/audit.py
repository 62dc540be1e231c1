"""`paycli audit`: check the ledger, the payments and their queues; exit 1 on any violation."""

from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, renderer, services
from paycli.core.errors import ExitCode

app = typer.Typer()


@app.command()
def audit(
    ctx: typer.Context,
    *,
    stale_after: Annotated[
        str,
        typer.Option(
            "--stale-after",
            help="A PENDING/PROCESSING payment older than this needs a queued message or a"
            " running execution (e.g. 15m, 2h).",
        ),
    ] = "15m",
    json_output: JsonOpt = False,
) -> None:
    """Check balances, the ledger chain, payments and what keeps each payment moving.

    Lists every violation and exits 1 if there is any. Reads with Queries; the Scans it needs
    (no index can answer) are named in the output.

    Example: paycli audit --json | jq '.violations[].kind'
    """
    from paycli.core.reconcile import parse_age  # noqa: PLC0415 - keeps --help light

    age = parse_age(stale_after, "--stale-after")
    out = renderer(ctx, json_output)
    with out.spinner("Auditing ...") as update:
        report = (
            services(ctx)
            .audit(progress=lambda stage, done: update(f"Auditing: {done} {stage} item(s) read"))
            .run(age)
        )
    out.emit(report.view(), out.audit_text)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILURE))
