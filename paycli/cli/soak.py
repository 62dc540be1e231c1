"""`paycli soak`: payments under a fault plan, recovery as an operator would, then the audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from paycli.cli._common import ConcurrencyOpt, JsonOpt, app_context, renderer, services
from paycli.core.errors import ExitCode, StoppedByUserError, UsageError

if TYPE_CHECKING:
    from paycli.core.load import LoadProgress
    from paycli.core.soak import SoakReport

app = typer.Typer()


@app.command()
def soak(
    ctx: typer.Context,
    *,
    payments: Annotated[int, typer.Option("--payments", "-n", help="Payments to send.")] = 500,
    accounts: Annotated[int, typer.Option("--accounts", help="Accounts to open.")] = 20,
    concurrency: ConcurrencyOpt = 16,
    faults: Annotated[
        str,
        typer.Option("--faults", help="Fault plan: a YAML/JSON file, or all / none (local)."),
    ] = "all",
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of the payments and the faults (default: the plan's)."),
    ] = None,
    quiesce_timeout: Annotated[
        float,
        typer.Option("--quiesce-timeout", help="Seconds the recovery may take at most."),
    ] = 600.0,
    json_output: JsonOpt = False,
) -> None:
    """Send payments under a fault plan, clear it, recover (reconcile, dlq redrive, executions
    redrive) until only the always-failing card's payments are FAILED (parked), then audit.

    Prints payments accepted, outcomes, faults fired by kind, what was redriven, the time to
    quiesce and every violation; exits 1 on any. Ctrl-C stops it (exit 130) with the fault
    plan cleared. Example: paycli soak --payments 500 --json
    """
    from paycli.core import inputs  # noqa: PLC0415 - keeps --help fast
    from paycli.core.faultplan import load_plan  # noqa: PLC0415
    from paycli.core.soak import NOT_ON_AWS, NOT_ON_AWS_HINT, SoakPlan  # noqa: PLC0415

    # nan passed the plan's `<= 0` check and made a recovery deadline that never comes
    inputs.positive_seconds(quiesce_timeout, "--quiesce-timeout")
    fault_plan = load_plan(faults, seed=seed)
    if app_context(ctx).settings.target != "local" and not fault_plan.empty:
        raise UsageError(NOT_ON_AWS, hint=NOT_ON_AWS_HINT)
    plan = SoakPlan(
        payments=payments,
        accounts=accounts,
        concurrency=concurrency,
        seed=fault_plan.seed,  # one seed for the payments and the faults
        faults=fault_plan,
        quiesce_timeout=quiesce_timeout,
    )
    plan.check()  # bad settings: a usage error before any account is opened
    out = renderer(ctx, json_output)
    svc = services(ctx)
    _ = svc.outputs  # no stack, or no local stack running: say so before any progress bar
    seen: list[LoadProgress] = []

    def follow(progress: LoadProgress) -> None:
        seen[:] = [progress]
        update(progress.terminal, progress.total)

    with out.progress("settled", payments) as update:
        try:
            report = svc.soak(progress=out.note, on_load=follow).run(plan)
        except KeyboardInterrupt:
            raise _stopped(payments, seen) from None
    out.emit(report.view(), lambda _view: out.key_values("Soak", _human(report)))
    if not report.ok:
        raise typer.Exit(int(ExitCode.FAILURE))


def _stopped(payments: int, seen: list[LoadProgress]) -> StoppedByUserError:
    """What Ctrl-C says: how far the sending got; the soak cleared its fault plan."""
    sent = "before any payment was answered"
    if seen:
        last = seen[0]
        sent = (
            f"after {last.sent} of {payments} payments were answered ({last.accepted} accepted,"
            f" {last.terminal} settled)"
        )
    return StoppedByUserError(
        f"soak stopped {sent}; no fault plan is left set",
        hint="payments the faults held up: `paycli payments reconcile`, `paycli dlq redrive`,"
        " then `paycli audit`",
    )


def _human(report: SoakReport) -> dict[str, Any]:
    """The report's figures as rows for people, then one row per violation."""
    view = report.view()
    rows: dict[str, Any] = {
        "payments accepted": f"{view['accepted']} of {view['payments']}",
        "report covers": (
            f"{view['window']['payments']} payments of this run (created"
            f" {view['window']['created_from']} .. {view['window']['created_until']} on its"
            f" accounts; {view['window']['unanswered']} unanswered)"
        ),
        "outcomes": ", ".join(f"{k} {v}" for k, v in view["outcomes"].items()) or "-",
        "parked (card always fails)": view["parked_failed"],
        "faults fired": ", ".join(f"{k} {v}" for k, v in view["faults_fired"].items()) or "-",
        "redriven": ", ".join(f"{k} {v}" for k, v in view["redriven"].items()),
        "send / quiesce (s)": f"{view['send_s']} / {view['quiesce_s']}",
        "violations": len(view["violations"]) or "none",
    }
    for index, violation in enumerate(view["violations"][:50], 1):
        rows[f"violation {index}"] = (
            f"{violation['kind']} {violation['subject']}: {violation['message']}"
        )
    return rows
