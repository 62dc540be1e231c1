"""`paycli executions list|show|watch|redrive`: the payment workflow's executions."""

from typing import Annotated

import typer

from paycli.cli._common import (
    JsonOpt,
    PlainGroup,
    YesOpt,
    app_context,
    can_ask,
    confirm,
    renderer,
    services,
)

app = typer.Typer(
    cls=PlainGroup,
    help="Step Functions executions: list, explain, watch, redrive.\n\n"
    "Example: paycli executions show pay_5d638bc724f84a378a99cb2d3072dcc7",
    no_args_is_help=True,
)

StatusOpt = Annotated[
    str | None,
    typer.Option("--status", help="RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED."),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    *,
    status: StatusOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 20,
    json_output: JsonOpt = False,
) -> None:
    """List executions, newest first.

    Example: paycli executions list --status FAILED --json
    """
    out = renderer(ctx, json_output)
    found = services(ctx).executions().list_executions(status, limit)
    out.emit([execution.view() for execution in found], out.executions_table)


@app.command()
def show(
    ctx: typer.Context,
    *,
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="Execution ARN or name, or a payment id.")
    ],
    json_output: JsonOpt = False,
) -> None:
    """The state-by-state timeline; for a failure, the failing state, its error and cause.

    Example: paycli executions show pay_5d638bc724f84a378a99cb2d3072dcc7
    """
    from paycli.core import inputs  # noqa: PLC0415

    inputs.execution_ref(ref)
    out = renderer(ctx, json_output)
    detail = services(ctx).executions().show(ref)
    out.emit(detail.view(), out.execution_detail)


@app.command()
def watch(
    ctx: typer.Context,
    *,
    status: StatusOpt = None,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between polls (>= 1).")
    ] = 2.0,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once nothing is running.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to follow.")] = 20,
    json_output: JsonOpt = False,
) -> None:
    """A live table of executions that updates in place (one ListExecutions per interval).

    Off a terminal (a pipe, tee, CI) each change is one line as it happens: time, name,
    status. With --json, one JSON object per changed execution (for scripts).

    Example: paycli executions watch --until-idle
    """
    from paycli.core import inputs  # noqa: PLC0415
    from paycli.core.errors import StoppedByUserError  # noqa: PLC0415

    inputs.positive_seconds(interval, "--interval")  # nan slipped past the >= 1 s check
    out = renderer(ctx, json_output)
    svc = services(ctx).executions()
    changes = 0
    try:
        with out.live() as show:
            for update in svc.watch(status, interval=interval, until_idle=until_idle, limit=limit):
                changes += len(update.changed)
                if show is None:  # not a terminal: a stream of changes, line by line
                    out.stream([update.rows[arn].view(details=True) for arn in update.changed])
                    continue
                newest = sorted(update.rows.values(), key=_started, reverse=True)
                show(out.executions_table([e.view() for e in newest[:limit]]))
    except KeyboardInterrupt:  # how a watch without --until-idle ends: exit 130, one line
        raise StoppedByUserError(f"stopped watching after {changes} change(s)") from None


def _started(execution: object) -> str:
    return str(getattr(execution, "start_date", "") or "")


@app.command()
def redrive(
    ctx: typer.Context,
    *,
    refs: Annotated[
        list[str] | None,
        typer.Argument(metavar="REF", help="Execution ARNs/names or payment ids."),
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every FAILED execution.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="With --failed: started since (1h, ISO).")
    ] = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Run failed executions again: RedriveExecution on AWS, a restart with the same input
    under a new name on the local stack or when the failure ended in the workflow's Fail state
    (safe: every step is idempotent).

    Example: paycli executions redrive --failed --since 1h --yes
    """
    from paycli.core import inputs  # noqa: PLC0415
    from paycli.core.errors import UsageError  # noqa: PLC0415
    from paycli.core.timeparse import parse_since  # noqa: PLC0415

    if bool(refs) == failed:
        raise UsageError("give execution ids/payment ids, or --failed (not both)")
    for ref in refs or []:
        inputs.execution_ref(ref)
    local = app_context(ctx).settings.time_zone == "local"  # a bare time: the tables' zone
    started_since = parse_since(since, local=local) if since else None  # before any lookup
    if not yes:
        can_ask("Redrive the execution(s)?")
    out = renderer(ctx, json_output)
    svc = services(ctx).executions()
    targets = list(refs or []) or svc.failed_since(started_since)
    if not targets:
        out.note(f"Nothing to redrive on {app_context(ctx).settings.describe()}.")
    elif not yes:
        confirm(f"Redrive {len(targets)} execution(s)?")
    if targets or json_output:
        out.emit([result.view() for result in svc.redrive(targets)], out.redrive_results_table)
