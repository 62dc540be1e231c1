"""`paycli load`: send N payments through the API and report throughput and latency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from paycli.cli._common import ConcurrencyOpt, JsonOpt, renderer, services, stoppable

if TYPE_CHECKING:
    from paycli.core.accounts import AccountsService
    from paycli.core.load import LoadPlan, LoadProgress, LoadReport

app = typer.Typer()


@app.command()
def load(
    ctx: typer.Context,
    *,
    count: Annotated[int, typer.Option("--count", "-n", help="Payments to send.")] = 100,
    concurrency: ConcurrencyOpt = 8,
    rate: Annotated[
        float,
        typer.Option("--rate", help="Offered payments/s, open loop (0: as fast as it goes)."),
    ] = 0.0,
    accounts: Annotated[
        int, typer.Option("--accounts", help="Accounts to open and pay from.")
    ] = 10,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", help="Use this existing account instead (repeatable)."),
    ] = None,
    mix: Annotated[
        str, typer.Option("--mix", help="Method weights, e.g. card=80,bank=15,wallet=5.")
    ] = "card=80,bank=15,wallet=5",
    cards: Annotated[
        str,
        typer.Option("--cards", help="Card numbers by weight (test cards: see README)."),
    ] = "4242424242424242=1",
    same_key: Annotated[
        float,
        typer.Option("--same-key", help="Share of payments sent twice with the same key (0-1)."),
    ] = 0.0,
    hot: Annotated[
        float,
        typer.Option("--hot", help="Share of payments debiting the first account (0-1)."),
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random mix.")] = 0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for outcomes after the last send.")
    ] = 300.0,
    json_output: JsonOpt = False,
) -> None:
    """Send payments with bounded concurrency (or at --rate/s), wait until all are terminal,
    print accepted/s, completed/s, accept->terminal latency, outcomes and errors.

    Exit code 1 when a payment was refused, did not finish within --timeout, or a same-key
    resend got another payment. Ctrl-C stops sending and reports the payments sent so far
    once they settle (exit 130); a second Ctrl-C leaves them to settle on the stack.
    Example: paycli load --count 500 --concurrency 16 --json
    """
    from paycli.core import inputs  # noqa: PLC0415 - keep --help fast
    from paycli.core.errors import StoppedByUserError  # noqa: PLC0415
    from paycli.core.load import LoadPlan, parse_weights  # noqa: PLC0415
    from paycli.core.payments import METHODS  # noqa: PLC0415

    out = renderer(ctx, json_output)
    plan = LoadPlan(
        count=count,
        concurrency=concurrency,
        rate=rate,
        accounts=accounts,
        account_ids=tuple(inputs.account_id(a) for a in account or ()),
        mix=parse_weights(mix, "mix", METHODS),
        cards=parse_weights(cards, "card mix"),
        same_key_share=same_key,
        hot_share=hot,
        seed=seed,
        timeout=timeout,
    )
    plan.check()  # bad settings: a usage error before any account is opened
    svc = services(ctx)
    _check_accounts(svc.accounts(), plan)
    driver = svc.load()
    seen: list[LoadProgress] = []

    def follow(progress: LoadProgress) -> None:
        seen[:] = [progress]
        update(progress.terminal, progress.total)

    with out.progress("settled", count) as update:
        try:
            report, stopped = stoppable(
                lambda stop: driver.run(plan, on_progress=follow, stop=stop),
                lambda: out.note(STOPPING),
            )
        except KeyboardInterrupt:  # the second Ctrl-C: say what was sent, leave the rest
            raise StoppedByUserError(_sent_so_far(count, seen)) from None
    out.emit(report.view(), lambda _view: out.key_values("Load", _human(report)))
    if stopped:
        sent = report.accepted + sum(report.errors.values())
        raise StoppedByUserError(
            f"sent {sent} of {count} payments before Ctrl-C ({report.accepted} accepted);"
            " the report covers those"
        )
    if not report.ok:
        out.note("not every payment was accepted and settled: see errors / unfinished")
        raise typer.Exit(1)


def _check_accounts(accounts: AccountsService, plan: LoadPlan) -> None:
    """Each --account exists and holds the plan's currency: one error before anything is sent
    (an unknown account used to be refused payment by payment, the whole run long)."""
    from paycli.core.errors import UsageError  # noqa: PLC0415

    for account_id in plan.account_ids:
        account = accounts.get(account_id)  # NotFoundError (exit 3) names it
        if account.currency != plan.currency:
            raise UsageError(
                f"account {account_id!r} holds {account.currency}; load pays in {plan.currency}",
                hint=f"name {plan.currency} accounts, or omit --account to have them opened",
            )


STOPPING = (
    "Ctrl-C: no more payments are sent; waiting for the accepted ones to settle"
    " (Ctrl-C again to stop waiting: they settle on the stack anyway)"
)


def _sent_so_far(count: int, seen: list[LoadProgress]) -> str:
    """The one line a second Ctrl-C prints: what was sent, from the last progress seen."""
    if not seen:
        return f"stopped before any of the {count} payments was answered"
    last = seen[0]
    return (
        f"sent {last.sent} of {count} payments ({last.accepted} accepted, {last.terminal}"
        f" settled, {last.errors} refused); the accepted ones settle on the stack anyway"
    )


def _human(report: LoadReport) -> dict[str, object]:
    """The report's figures as rows for people."""
    latency = report.latency_s
    return {
        "sent": f"{report.count} ({min(report.concurrency, report.count)} in flight at most,"
        f" rate {report.rate or 'max'})",
        "accepted": report.accepted,
        "accepted/s": report.accepted_per_s,
        "completed/s": report.completed_per_s,
        "latency p50/p95/p99/max (s)": " / ".join(
            "-" if latency[k] is None else f"{latency[k]:.3f}" for k in ("p50", "p95", "p99", "max")
        ),
        "outcomes": ", ".join(f"{k} {v}" for k, v in report.outcomes.items()) or "-",
        "errors": "; ".join(f"{k} (x{v})" for k, v in report.errors.items()) or "-",
        "same-key resends": f"{report.same_key_resends} ({report.same_key_mismatches} mismatched)",
        "unfinished": report.unfinished,
        "accounts": len(report.accounts),
    }
