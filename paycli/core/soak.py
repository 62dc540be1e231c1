"""`paycli soak`: a Jepsen-style run in one command.

1. Set the fault plan (local stack; on AWS only `none`: inject faults there with the FIS
   experiment `paycli local faults export-fis` writes).
2. Open accounts and send the payments through the shared load driver (paycli.core.load): a
   mix of test cards (succeeding, declined, one that always fails technically), methods,
   same-key resends and a hot account, all drawn from the seed. A client retries a request
   that failed (5xx, throttled) with the same Idempotency-Key, as a real client would; one
   in five is impatient and gives up after one failed attempt (refused requests are counted,
   and whatever they left behind is for the recovery to settle).
3. Clear the faults and recover as an operator would, in rounds: `payments reconcile`
   (--older-than 0s), `dlq redrive`, `executions redrive` of the run's failed executions, then
   wait until the pipeline is quiet (no payment PENDING/PROCESSING, both queues' main queue
   empty, no running execution). Done when every payment is terminal and the only FAILED ones
   are those whose card always fails (they stay FAILED, parked in the DLQ, and are counted).
4. Audit (paycli.core.audit, with --stale-after 0: nothing may be left in flight) and report.

Every violation (the audit's, plus payments that never settled, FAILED payments that should
have recovered, accepted payments missing from the table, same-key resends answered with
another payment) is listed; `ok` is False when there is any.

The outcomes, the recovery's end and the payment violations cover this run's payments only:
the ids the API answered with, plus those created on the run's own (new) accounts within the
run's window (an impatient client's accepted-but-unanswered request). A stack that already
holds payments (an old FAILED one whose DLQ message was purged) does not leak into the report;
the audit's findings about other payments are left out, its ledger and account findings stay
stack-wide (a broken balance anywhere is still broken).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from paycli.core.audit import AuditReport, AuditService, Verdict, Violation
from paycli.core.errors import PaycliError, UsageError
from paycli.core.faultplan import FaultPlan
from paycli.core.load import (
    LoadDriver,
    LoadPlan,
    LoadProgress,
    LoadReport,
    read_payments,
    too_many,
)
from paycli.core.payments import Payment, PayRequest, PayResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from paycli.core.accounts import AccountsService
    from paycli.core.dlq import DlqService
    from paycli.core.executions import ExecutionsService
    from paycli.core.reconcile import ReconcileService

#: The test card that always fails technically (processing_error): FAILED and parked.
ALWAYS_FAILS: Final = "4000000000000119"
#: The soak's card mix (README's test cards), by weight.
CARDS: Final = {
    "4242424242424242": 80,
    "4000000000000002": 5,  # declined: generic_decline
    "4000000000009995": 3,  # declined: insufficient_funds
    "4000000000000069": 2,  # declined: expired_card
    ALWAYS_FAILS: 5,
}
SAME_KEY_SHARE: Final = 0.1
HOT_SHARE: Final = 0.2
#: Extra attempts (same Idempotency-Key) after the API client's own retries gave up.
CLIENT_RETRIES: Final = 3
#: Every fifth request is an impatient client's (see Soak._retrying_pay).
IMPATIENT_EVERY: Final = 5
IN_FLIGHT: Final = ("PENDING", "PROCESSING")
NOT_ON_AWS: Final = "fault plans are injected by the local stack only"
NOT_ON_AWS_HINT: Final = (
    "on AWS run with --faults none, and inject Lambda faults with the FIS experiment"
    " `paycli local faults export-fis PLAN` writes"
)

Progress = Callable[[str], None]


class FaultControl(Protocol):
    """Where a plan is set and its counts read (the local stack's control surface)."""

    def set_plan(self, plan: dict[str, Any] | None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SoakPlan:
    """What to run. `quiesce_timeout`: seconds the recovery may take before the soak gives
    up (and reports the payments still open as violations)."""

    payments: int
    accounts: int = 20
    concurrency: int = 16
    seed: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)
    send_timeout: float = 60.0
    quiesce_timeout: float = 600.0
    poll_interval: float = 1.0

    def check(self) -> None:
        """Impossible settings as one UsageError, before anything is sent."""
        problems = [
            p.replace("--count", "--payments")
            for p in too_many(
                count=self.payments, accounts=self.accounts, concurrency=self.concurrency
            )
        ]
        if self.payments < 1:
            problems.append("--payments must be at least 1")
        if self.accounts < 1:
            problems.append("--accounts must be at least 1")
        if self.concurrency < 1:
            problems.append("--concurrency must be at least 1")
        if self.quiesce_timeout <= 0:
            problems.append("--quiesce-timeout must be positive")
        if problems:
            raise UsageError("; ".join(problems))


@dataclass(frozen=True)
class RunWindow:
    """The payments one soak run created: what its report covers."""

    started_at: str  # ISO 8601 UTC, ms, Z: before the first request
    sent_until: str  # after the last request was answered (or refused)
    payment_ids: tuple[str, ...]  # answered ids, then the unanswered ones found in the window
    unanswered: int

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "created_from": self.started_at,
            "created_until": self.sent_until,
            "payments": len(self.payment_ids),
            "unanswered": self.unanswered,
        }


@dataclass
class Redriven:
    """What the recovery rounds sent back into the pipeline."""

    rounds: int = 0
    reconciled: int = 0
    dlq_moved: int = 0
    executions_restarted: int = 0

    def view(self) -> dict[str, int]:
        """Stable JSON fields."""
        return {
            "rounds": self.rounds,
            "reconciled": self.reconciled,
            "dlq_moved": self.dlq_moved,
            "executions_restarted": self.executions_restarted,
        }


@dataclass
class SoakReport(Verdict):
    """The run's figures and every violation found."""

    plan: SoakPlan
    window: RunWindow
    load: LoadReport
    faults_fired: dict[str, int]
    redriven: Redriven
    outcomes: dict[str, int]
    parked_failed: int
    send_s: float
    quiesce_s: float
    audit: AuditReport
    violations: list[Violation]

    def view(self) -> dict[str, Any]:
        """Stable JSON fields (README: Output)."""
        return {
            "ok": self.ok,
            "payments": self.plan.payments,
            "accounts": self.plan.accounts,
            "concurrency": self.plan.concurrency,
            "seed": self.plan.seed,
            "fault_plan": self.plan.faults.name,
            "accepted": self.load.accepted,
            "refused": dict(self.load.errors),
            "same_key_resends": self.load.same_key_resends,
            "window": self.window.view(),
            "outcomes": dict(sorted(self.outcomes.items())),
            "parked_failed": self.parked_failed,
            "faults_fired": dict(sorted(self.faults_fired.items())),
            "faults_fired_total": sum(self.faults_fired.values()),
            "redriven": self.redriven.view(),
            "send_s": round(self.send_s, 1),
            "quiesce_s": round(self.quiesce_s, 1),
            "accepted_per_s": self.load.accepted_per_s,
            "violations": [v.view() for v in self.violations],
        }


@dataclass
class SoakServices:
    """The services one soak uses (built by paycli.core.services for a target)."""

    accounts: AccountsService
    pay: Callable[[PayRequest], PayResult]
    #: one attempt, no retry: the impatient client
    pay_once: Callable[[PayRequest], PayResult]
    dynamodb: DynamoDBClient
    payments_table: str
    reconcile: ReconcileService
    dlq: DlqService
    executions: ExecutionsService
    audit: AuditService
    faults: FaultControl | None


class Soak:
    """Runs one soak on a target."""

    def __init__(
        self,
        services: SoakServices,
        *,
        progress: Progress | None = None,
        on_load: Callable[[LoadProgress], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._s = services
        self._progress = progress or (lambda _text: None)
        self._on_load = on_load
        self._clock, self._sleep = clock, sleep

    def run(self, plan: SoakPlan) -> SoakReport:
        """The four steps of the module docstring."""
        plan.check()
        if self._s.faults is None and not plan.faults.empty:
            raise UsageError(NOT_ON_AWS, hint=NOT_ON_AWS_HINT)
        started_at = datetime.now(UTC)
        fired = self._set_faults(plan.faults.to_json() if not plan.faults.empty else None)
        began = self._clock()
        self._progress(
            f"sending {plan.payments} payments over {plan.accounts} accounts,"
            f" {plan.concurrency} at a time, fault plan {plan.faults.name}"
        )
        try:
            load = self._send(plan)
        except BaseException:  # Ctrl-C or an error while sending: leave no fault plan behind
            self._clear_faults_after_a_stop()
            raise
        send_s = self._clock() - began
        window = self._window(load, started_at, datetime.now(UTC))
        fired = self._set_faults(None) if self._s.faults is not None else fired
        self._progress(f"faults cleared ({sum(fired.values())} fired); recovering")
        began = self._clock()
        redriven = self._recover(plan, started_at, window)
        quiesce_s = self._clock() - began
        self._progress(f"quiet after {quiesce_s:.1f} s; auditing")
        audit = self._s.audit.run(timedelta(0))
        return self._report(
            plan,
            window=window,
            load=load,
            fired=fired,
            redriven=redriven,
            send_s=send_s,
            quiesce_s=quiesce_s,
            audit=audit,
        )

    # ------------------------------------------------------------------ faults
    def _set_faults(self, plan: dict[str, Any] | None) -> dict[str, int]:
        if self._s.faults is None:
            return {}
        state = self._s.faults.set_plan(plan)
        return {str(k): int(v) for k, v in state.get("fired", {}).items()}

    def _clear_faults_after_a_stop(self) -> None:
        """Clear the plan this soak set (its own error, if any, is what gets reported); a
        plan left set would fault every later payment on the stack, `pay` and `load` too."""
        if self._s.faults is None:
            return
        with contextlib.suppress(Exception):
            self._s.faults.set_plan(None)

    # ------------------------------------------------------------------ sending
    def _send(self, plan: SoakPlan) -> LoadReport:
        load_plan = LoadPlan(
            count=plan.payments,
            concurrency=plan.concurrency,
            accounts=plan.accounts,
            cards=CARDS,
            same_key_share=SAME_KEY_SHARE,
            hot_share=HOT_SHARE,
            seed=plan.seed,
            timeout=plan.send_timeout,
        )
        driver = LoadDriver(
            self._retrying_pay,
            self._s.dynamodb,
            self._s.payments_table,
            self._s.accounts,
        )
        return driver.run(load_plan, on_progress=self._on_load)

    def _retrying_pay(self, request: PayRequest) -> PayResult:
        """A client that retries a failed request with the same Idempotency-Key: whatever
        the API did the first time, the retry gets the same payment. One request in
        IMPATIENT_EVERY is an impatient client's: one attempt, and it gives up on an error,
        so a payment recorded before its SendMessage failed is left to the reconciler."""
        if _impatient(request):
            return self._s.pay_once(request)
        for attempt in range(CLIENT_RETRIES + 1):
            try:
                return self._s.pay(request)
            except PaycliError as exc:
                if attempt == CLIENT_RETRIES or int(exc.exit_code) not in (1, 4):
                    raise
                self._sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ this run's payments
    def _window(self, load: LoadReport, started_at: datetime, sent_until: datetime) -> RunWindow:
        """The answered ids, plus payments created on the run's accounts within the window
        (an impatient client's request the API recorded but never answered)."""
        start, end = _iso(started_at), _iso(sent_until + timedelta(milliseconds=1))
        answered = [o.payment_id for o in load.payments]
        found: list[str] = []
        paginator = self._s.dynamodb.get_paginator("query")
        for account in load.accounts:
            for page in paginator.paginate(
                TableName=self._s.payments_table,
                IndexName="ByAccount",
                KeyConditionExpression="account_id = :a AND created_at BETWEEN :s AND :e",
                ExpressionAttributeValues={
                    ":a": {"S": account},
                    ":s": {"S": start},
                    ":e": {"S": end},
                },
                ProjectionExpression="payment_id",
            ):
                found.extend(item["payment_id"]["S"] for item in page["Items"])
        ids = tuple(dict.fromkeys([*answered, *found]))
        return RunWindow(start, end, ids, unanswered=len(ids) - len(set(answered)))

    def _run_payments(self, window: RunWindow) -> list[Payment]:
        return list(read_payments(self._s.dynamodb, self._s.payments_table, window.payment_ids))

    # ------------------------------------------------------------------ recovery
    def _recover(self, plan: SoakPlan, started_at: datetime, window: RunWindow) -> Redriven:
        redriven = Redriven()
        deadline = self._clock() + plan.quiesce_timeout
        while True:
            redriven.rounds += 1
            self._wait_quiet(plan, deadline)
            payments = self._run_payments(window)
            failed = [p for p in payments if p.status == "FAILED"]
            open_count = sum(p.status in IN_FLIGHT for p in payments)
            recoverable = [p for p in failed if not _always_fails(p)]
            self._progress(
                f"round {redriven.rounds}: {open_count} in flight,"
                f" {len(recoverable)} FAILED to recover, {len(failed) - len(recoverable)} parked"
            )
            if (not open_count and not recoverable) or self._clock() > deadline:
                return redriven
            self._redrive(redriven, started_at)

    def _redrive(self, redriven: Redriven, started_at: datetime) -> None:
        redriven.reconciled += self._s.reconcile.run("0s").result.requeued
        redriven.dlq_moved += self._s.dlq.redrive().moved
        failed = self._s.executions.failed_since(started_at)
        if failed:
            results = self._s.executions.redrive(failed)
            redriven.executions_restarted += sum(r.method != "skipped" for r in results)

    def _wait_quiet(self, plan: SoakPlan, deadline: float) -> None:
        """Until the pipeline is idle: the payment queue empty and no execution running. (A
        payment left PENDING with no message stays so: that is the reconciler's to requeue,
        not something to wait for.)"""
        while self._clock() < deadline:
            stats = self._s.dlq.stats()
            busy = stats.queue_messages + stats.queue_in_flight
            if not busy and not self._s.executions.list_executions("RUNNING", 1):
                return
            self._sleep(plan.poll_interval)

    # ------------------------------------------------------------------ report
    def _report(
        self,
        plan: SoakPlan,
        *,
        window: RunWindow,
        load: LoadReport,
        fired: dict[str, int],
        redriven: Redriven,
        send_s: float,
        quiesce_s: float,
        audit: AuditReport,
    ) -> SoakReport:
        payments = self._run_payments(window)
        outcomes = Counter(p.status for p in payments)
        failed = [p for p in payments if p.status == "FAILED"]
        parked = [p for p in failed if _always_fails(p)]
        ours = set(window.payment_ids)
        violations = [v for v in audit.violations if not _another_runs_payment(v, ours)]
        violations += [
            Violation(
                "not_recovered",
                p.payment_id,
                "FAILED after the redrives, though its card does not always fail",
            )
            for p in failed
            if not _always_fails(p)
        ]
        for status in IN_FLIGHT:
            if outcomes[status]:
                violations.append(
                    Violation(
                        "not_quiesced", status, f"{outcomes[status]} payment(s) still {status}"
                    )
                )
        accepted = [o.payment_id for o in load.payments]
        seen = {p.payment_id for p in payments}
        violations += [
            Violation("lost_payment", pid, "accepted (202) but not in the payments table")
            for pid in accepted
            if pid not in seen
        ]
        if load.same_key_mismatches:
            violations.append(
                Violation(
                    "same_key_mismatch",
                    "load",
                    f"{load.same_key_mismatches} same-key resend(s) got another payment",
                )
            )
        return SoakReport(
            plan=plan,
            window=window,
            load=load,
            faults_fired=fired,
            redriven=redriven,
            outcomes=dict(outcomes),
            parked_failed=len(parked),
            send_s=send_s,
            quiesce_s=quiesce_s,
            audit=audit,
            violations=violations,
        )


def _impatient(request: PayRequest) -> bool:
    """The load driver's keys end in the payment's index: every IMPATIENT_EVERY-th one."""
    index = (request.idempotency_key or "").rpartition("-")[2]
    return index.isdigit() and int(index) % IMPATIENT_EVERY == 0


def _always_fails(payment: Payment) -> bool:
    """Paid with the card whose issuer always fails (BIN 400000, last4 0119)."""
    card = payment.data.get("card") or {}
    return payment.data.get("method") == "card" and card.get("last4") == ALWAYS_FAILS[-4:]


def _another_runs_payment(violation: Violation, ours: set[str]) -> bool:
    """An audit finding about a payment this run did not create (the ledger's and accounts'
    findings are kept whatever created them)."""
    return violation.subject.startswith("pay_") and violation.subject not in ours


def _iso(moment: datetime) -> str:
    """As the payments table stores created_at: ISO 8601 UTC, milliseconds, Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
