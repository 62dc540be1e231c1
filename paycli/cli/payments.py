"""`paycli payments get|list`: read payments (Query on an index, never a Scan)."""

from typing import Annotated

import typer
from paystack.domain.payment import Method

from paycli.cli._common import JsonOpt, PlainGroup, app_context, renderer, services

app = typer.Typer(
    cls=PlainGroup,
    help="Read payments: one by id, or filtered lists.\n\n"
    "Example: paycli payments list --status SUCCEEDED",
    no_args_is_help=True,
)


@app.command()
def get(
    ctx: typer.Context,
    *,
    payment_id: Annotated[
        str, typer.Argument(metavar="PAYMENT_ID", help="The payment id: pay_ and 32 hex digits.")
    ],
    json_output: JsonOpt = False,
) -> None:
    """Show one payment.

    Example: paycli payments get pay_5d638bc724f84a378a99cb2d3072dcc7 --json
    """
    from paycli.core import inputs  # noqa: PLC0415

    inputs.payment_id(payment_id)
    out = renderer(ctx, json_output)
    payment = services(ctx).payments().get(payment_id)
    out.emit(payment.view(), out.payment_panel)


@app.command("list")
def list_(
    ctx: typer.Context,
    *,
    status: Annotated[
        str | None,
        typer.Option("--status", help="PENDING, PROCESSING, SUCCEEDED, DECLINED or FAILED."),
    ] = None,
    method: Annotated[
        Method | None,
        typer.Option("--method", case_sensitive=False, help="card, bank or wallet."),
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Age (30m, 1h, 2d) or ISO-8601 time (no zone: the tables')."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1_000_000, help="At most this many.")
    ] = 50,
    json_output: JsonOpt = False,
) -> None:
    """List payments, newest first.

    Example: paycli payments list --status DECLINED --since 1h --json
    """
    from paycli.core import inputs  # noqa: PLC0415
    from paycli.core.payments import PaymentFilter  # noqa: PLC0415
    from paycli.core.timeparse import parse_since  # noqa: PLC0415

    if account is not None:
        inputs.account_id(account)
    out = renderer(ctx, json_output)
    filters = PaymentFilter(
        status=status.upper() if status else None,
        method=method.value if method else None,
        account_id=account,
        since=parse_since(since, local=app_context(ctx).settings.time_zone == "local")
        if since
        else None,
        limit=limit + 1,  # one more than shown: tells whether there are more
    )
    found = services(ctx).payments().list_payments(filters)
    out.emit([payment.view() for payment in found[:limit]], out.payments_table)
    if len(found) > limit:
        out.note(
            f"Showing the newest {limit} payments; there are more: raise --limit "
            f"(e.g. --limit {limit * 2}) or narrow with --status, --account, --since."
        )


@app.command()
def reconcile(
    ctx: typer.Context,
    *,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Only payments created and last updated longer ago than this (0s, 15m, 2h).",
        ),
    ] = "15m",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 500,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list them.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Re-enqueue payments stuck PENDING/PROCESSING (what the scheduled reconciler does).

    Example: paycli payments reconcile --older-than 30m --dry-run
    """
    out = renderer(ctx, json_output)
    report = services(ctx).reconcile().run(older_than, dry_run=dry_run, limit=limit)
    out.emit(report.view(), out.reconcile_text)
