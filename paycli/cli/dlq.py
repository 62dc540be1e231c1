"""`paycli dlq stats|peek|redrive|purge`: the dead-letter queue."""

from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, PlainGroup, YesOpt, confirm, renderer, services

app = typer.Typer(
    cls=PlainGroup,
    help="The dead-letter queue: count, look, move back, purge.\n\n"
    "Example: paycli dlq stats --json",
    no_args_is_help=True,
)


@app.command()
def stats(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """Messages waiting and in flight in the payment queue and its DLQ.

    Example: paycli dlq stats --json | jq .dlq_messages
    """
    out = renderer(ctx, json_output)
    out.emit(services(ctx).dlq().stats().view(), out.dlq_stats_table)


@app.command()
def peek(
    ctx: typer.Context,
    *,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 10,
    json_output: JsonOpt = False,
) -> None:
    """Show DLQ messages without consuming them (they stay in the DLQ).

    SQS has no read without a receive: each look raises the messages' receive count
    (`receives`, ApproximateReceiveCount) by one, and hides them for a moment while they are
    read. The DLQ has no redrive policy of its own, so the count only informs.

    Example: paycli dlq peek --limit 5
    """
    out = renderer(ctx, json_output)
    out.emit([m.view() for m in services(ctx).dlq().peek(limit)], out.dlq_messages_table)


@app.command()
def redrive(
    ctx: typer.Context,
    *,
    max_messages: Annotated[
        int | None, typer.Option("--max", min=1, help="Move at most this many.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Move DLQ messages back to the payment queue; none is deleted before it is re-sent.

    Example: paycli dlq redrive --max 10
    """
    out = renderer(ctx, json_output)
    svc = services(ctx).dlq()
    if dry_run:
        report = svc.redrive(max_messages=max_messages, dry_run=True)
    else:
        with out.progress("Redriving", total=0) as update:
            report = svc.redrive(max_messages=max_messages, progress=update)
    out.emit(report.view(), out.redrive_text)


@app.command()
def purge(ctx: typer.Context, yes: YesOpt = False, json_output: JsonOpt = False) -> None:
    """Delete every message in the DLQ (PurgeQueue). Irreversible.

    Example: paycli dlq purge --yes
    """
    out = renderer(ctx, json_output)
    if not yes:
        confirm("Delete every message in the dead-letter queue?")
    purged = services(ctx).dlq().purge()
    out.emit({"purged": purged}, out.purged_text)
