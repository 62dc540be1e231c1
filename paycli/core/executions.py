"""Step Functions executions of the payment workflow: list, explain, watch, redrive.

Redrive has two ways, chosen per execution:
- `RedriveExecution` (AWS) continues a failed, aborted or timed-out execution from the step
  that failed. It only helps when the failure was not caught: an execution that the ASL routed
  to its own `Fail` state (PaymentFailed, after MarkFailed) would "continue" at that Fail state
  and fail again.
- restart: `StartExecution` with the same input under a new explicit name. Used for executions
  that ended in a Fail state, and on the local stack, whose emulator (moto 5.2.5) does not
  implement RedriveExecution. Safe because every step is idempotent: ValidatePayment leaves a
  settled payment alone and DeductAmount debits a payment at most once (design.md).

What to redrive is decided per *payment*, not per execution (a payment may have failed many
times): its executions are grouped, the payment is read, and it is skipped when it is settled
(SUCCEEDED/DECLINED), does not exist, or its latest execution is RUNNING or SUCCEEDED; otherwise
only its newest failed execution is redriven, once per run. A restart's name is derived from
the payment and that execution (`{payment_id}-r-{hash}`), so a rerun, or a second run at the
same moment, asks Step Functions for the same name: STANDARD name uniqueness turns the second
start into the same execution (same name and input while it runs) or ExecutionAlreadyExists
(once it ended), never a second execution. RedriveExecution is likewise refused for an
execution that is already being redriven.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError
from paystack.domain.payment import SETTLED
from paystack.domain.store import PAYMENT_ID_RE

from paycli.core.errors import ConflictError, NotFoundError, UsageError, naming
from paycli.core.payments import Payment, PaymentsService
from paycli.core.timeparse import timestamp

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

EXECUTION_STATUSES: Final = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
REDRIVABLE: Final = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
MIN_WATCH_INTERVAL: Final = 1.0  # ListExecutions is throttled at a few calls a second on AWS


@dataclass(frozen=True)
class Execution:
    """One execution as ListExecutions/DescribeExecution report it."""

    execution_arn: str
    name: str
    status: str
    start_date: datetime | None
    stop_date: datetime | None = None
    error: str | None = None
    cause: str | None = None
    payment_id: str | None = None

    def view(self, *, details: bool = False) -> dict[str, Any]:
        """Stable JSON fields: ListExecutions' summary (`executions list`); with `details`,
        also payment_id, error and cause (`executions watch` lines, where a new failure is
        described once, and `executions show`)."""
        summary = {
            "execution_arn": self.execution_arn,
            "name": self.name,
            "status": self.status,
            "start_date": timestamp(self.start_date),
            "stop_date": timestamp(self.stop_date),
        }
        if not details:
            return summary
        return {**summary, "payment_id": self.payment_id, "error": self.error, "cause": self.cause}


@dataclass
class Step:
    """One state visited: when, how many attempts, and how its last attempt ended."""

    state: str
    state_type: str
    entered: datetime | None
    exited: datetime | None = None
    attempts: int = 0
    failed: bool = False
    error: str | None = None
    cause: str | None = None

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "state": self.state,
            "type": self.state_type,
            "entered": timestamp(self.entered),
            "exited": timestamp(self.exited),
            "attempts": self.attempts,
            "failed": self.failed,
            "error": self.error,
            "cause": self.cause,
        }


@dataclass(frozen=True)
class ExecutionDetail:
    """An execution and its state-by-state timeline; for a failure, where and why."""

    execution: Execution
    steps: list[Step]
    failed_state: str | None
    error: str | None
    cause: str | None
    payment_status: str | None = None  # as read from the table now; None: no such payment

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            **self.execution.view(details=True),
            "payment_status": self.payment_status,
            "failed_state": self.failed_state,
            "error": self.error,
            "cause": self.cause,
            "steps": [step.view() for step in self.steps],
        }


@dataclass(frozen=True)
class RedriveResult:
    """What a redrive did for one payment (through its newest failed execution)."""

    execution_arn: str
    method: str  # "RedriveExecution", "restart" or "skipped"
    new_execution_arn: str | None  # None when skipped
    payment_id: str | None = None
    reason: str | None = None  # why it was skipped

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "execution_arn": self.execution_arn,
            "method": self.method,
            "new_execution_arn": self.new_execution_arn,
            "payment_id": self.payment_id,
            "reason": self.reason,
        }


@dataclass
class WatchUpdate:
    """One poll of `executions watch`: every row known, and the arns that changed."""

    rows: dict[str, Execution] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)

    @property
    def running(self) -> int:
        """Executions still running, for `--until-idle`."""
        return sum(1 for row in self.rows.values() if row.status == "RUNNING")


def payment_id_from_input(raw: str | None) -> str | None:
    """The payment id inside an execution input (a Pipe batch: an array of SQS records), or
    None when there is none or it is not a well-formed payment id (a poison message may carry
    anything, a card number included: it is never repeated)."""
    try:
        data = json.loads(raw or "null")
        record = data[0] if isinstance(data, list) else data
        body = record.get("body", record)
        body = json.loads(body) if isinstance(body, str) else body
        payment_id = body["payment_id"]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    if isinstance(payment_id, str) and PAYMENT_ID_RE.fullmatch(payment_id):
        return payment_id
    return None


def restart_name(payment_id: str, failed_execution_name: str) -> str:
    """The restart's execution name: the same for every run that restarts the same failed
    execution of the payment (so Step Functions refuses a duplicate), new once that restart
    has failed in turn. At most 80 characters, as Step Functions allows."""
    digest = hashlib.sha256(failed_execution_name.encode()).hexdigest()[:16]
    return f"{payment_id}-r-{digest}"


def _details(event: dict[str, Any]) -> dict[str, Any]:
    """The `...EventDetails` member of a history event, whatever its type."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def build_timeline(events: list[dict[str, Any]]) -> list[Step]:
    """Fold GetExecutionHistory events into steps, one per state entered.

    A Task's retries show as attempts; its last failure stays on the step (failed=True) unless
    a later attempt succeeded.
    """
    steps: list[Step] = []
    for event in events:
        kind, details = str(event.get("type", "")), _details(event)
        if kind.endswith("StateEntered"):
            state_type = kind.removesuffix("StateEntered")
            steps.append(Step(details.get("name", "?"), state_type, event.get("timestamp")))
        elif not steps:
            continue
        elif kind.endswith("StateExited"):
            steps[-1].exited = event.get("timestamp")
        elif kind.endswith("Scheduled"):
            steps[-1].attempts += 1
        elif kind.endswith("Succeeded") and kind != "ExecutionSucceeded":
            steps[-1].failed = False
        elif kind.endswith(("Failed", "TimedOut")) and "error" in details:
            step = steps[-1]
            step.failed, step.error, step.cause = True, details.get("error"), details.get("cause")
    for step in steps:
        if step.state_type == "Fail":
            step.failed = True
    return steps


class ExecutionsService:
    """Executions of the payment state machine."""

    def __init__(
        self,
        sfn: SFNClient,
        state_machine_arn: str,
        payments: PaymentsService,
        *,
        redrive_supported: bool,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`redrive_supported` is False on the local stack (moto lacks RedriveExecution)."""
        self._sfn = sfn
        self._arn = state_machine_arn
        self._payments = payments
        self._redrive_supported = redrive_supported
        self._sleep = sleep

    def list_executions(self, status: str | None = None, limit: int = 50) -> list[Execution]:
        """Newest first (ListExecutions' order), paginated up to `limit`."""
        kwargs: dict[str, Any] = {
            "stateMachineArn": self._arn,
            "PaginationConfig": {"MaxItems": limit, "PageSize": min(max(limit, 1), 1000)},
        }
        if status:
            status = status.upper()
            if status not in EXECUTION_STATUSES:
                raise UsageError(
                    f"unknown status {status!r}", hint=f"use {', '.join(EXECUTION_STATUSES)}"
                )
            kwargs["statusFilter"] = status
        found: list[Execution] = []
        for page in self._sfn.get_paginator("list_executions").paginate(**kwargs):
            found.extend(_from_summary(dict(item)) for item in page["executions"])
        return found[:limit]

    def resolve(self, ref: str) -> str:
        """An execution ARN from an ARN, a payment id (its execution_arn) or an execution name."""
        if ref.startswith("arn:"):
            return ref
        try:
            payment = self._payments.get(ref)
        except NotFoundError:
            base = self._arn.replace(":stateMachine:", ":execution:")
            return f"{base}:{ref}"
        if not payment.execution_arn and payment.data.get("error"):
            # FAILED before its first step recorded the execution (a handler that cannot be
            # imported): "may still be queued" would send the operator the wrong way.
            cause = payment.data.get("cause")
            raise NotFoundError(
                f"payment {ref} failed before recording its execution:"
                f" {payment.data['error']}{f': {cause}' if cause else ''}",
                hint=f"see `paycli logs --payment {ref}` and `paycli executions list --status"
                " FAILED`",
            )
        if not payment.execution_arn:
            raise NotFoundError(
                f"payment {ref} has no execution yet (status {payment.status})",
                hint="its message may still be queued: `paycli dlq stats`, then try again",
            )
        return payment.execution_arn

    def describe(self, ref: str) -> Execution:
        """DescribeExecution, with the payment id read from the input."""
        with naming(ref):  # ExecutionDoesNotExist names what the user typed, not an ARN
            reply = dict(self._sfn.describe_execution(executionArn=self.resolve(ref)))
        return replace(
            _from_summary(reply), payment_id=payment_id_from_input(str(reply.get("input", "")))
        )

    def show(self, ref: str) -> ExecutionDetail:
        """The timeline; for a failure, the failing state (not the Fail state it ended in)."""
        execution = self.describe(ref)
        events: list[dict[str, Any]] = []
        paginator = self._sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution.execution_arn):
            events.extend(dict(event) for event in page["events"])
        steps = build_timeline(events)
        culprit = _failing_step(steps)
        return ExecutionDetail(
            execution=execution,
            steps=steps,
            failed_state=culprit.state if culprit else None,
            error=(culprit.error if culprit and culprit.error else execution.error),
            cause=(culprit.cause if culprit and culprit.cause else execution.cause),
            payment_status=self._payment_status(execution.payment_id),
        )

    def _payment_status(self, payment_id: str | None) -> str | None:
        """The payment's status as stored now (never the execution's), None if there is none."""
        if payment_id is None:
            return None
        try:
            return self._payments.get(payment_id).status
        except NotFoundError:
            return None

    def poll(self, previous: WatchUpdate, status: str | None, limit: int) -> WatchUpdate:
        """One watch poll: one ListExecutions, plus DescribeExecution for failures that are new.

        Only rows whose status changed are described (for their error), so a quiet pipeline
        costs one call per interval.
        """
        update = WatchUpdate(rows=dict(previous.rows))
        for listed in self.list_executions(status, limit):
            before = previous.rows.get(listed.execution_arn)
            if before is not None and before.status == listed.status:
                continue
            # Only a failure needs DescribeExecution (for its error); the list has the rest.
            current = self.describe(listed.execution_arn) if listed.status in REDRIVABLE else listed
            update.rows[listed.execution_arn] = current
            update.changed.append(listed.execution_arn)
        return update

    def watch(
        self,
        status: str | None = None,
        *,
        interval: float = 2.0,
        until_idle: bool = False,
        limit: int = 50,
        max_polls: int | None = None,
    ) -> Iterator[WatchUpdate]:
        """Poll every `interval` seconds (>= 1 s) and yield each update."""
        if interval < MIN_WATCH_INTERVAL:
            raise UsageError(
                f"--interval must be at least {MIN_WATCH_INTERVAL:g} s",
                hint="ListExecutions is throttled on AWS; poll gently",
            )
        update, polls = WatchUpdate(), 0
        while True:
            update = self.poll(update, status, limit)
            polls += 1
            yield update
            if (until_idle and update.running == 0) or (max_polls and polls >= max_polls):
                return
            self._sleep(interval)

    def failed_since(self, since: datetime | None) -> list[str]:
        """ARNs of FAILED executions started at or after `since` (all of them when None)."""
        found = self.list_executions("FAILED", limit=10_000)
        return [
            e.execution_arn
            for e in found
            if since is None or (e.start_date is not None and e.start_date >= since)
        ]

    def redrive(self, refs: list[str]) -> list[RedriveResult]:
        """Redrive each payment named (through its executions) at most once (see the module
        docstring): one result per payment, or per execution whose input names none."""
        by_payment: dict[str, list[dict[str, Any]]] = {}
        results: list[RedriveResult] = []
        for ref in refs:
            arn = self.resolve(ref)
            with naming(ref):
                reply = dict(self._sfn.describe_execution(executionArn=arn))
            status = str(reply["status"])
            if status not in REDRIVABLE:
                message = f"execution {reply['name']} is {status}"
                if len(refs) == 1:  # the one execution asked for: say why nothing happens
                    raise ConflictError(
                        f"{message}: only failed, timed-out or aborted executions can be redriven"
                    )
                # e.g. redriven by a concurrent run since it was listed: nothing to do
                results.append(_skipped(str(reply["executionArn"]), None, message))
                continue
            payment_id = payment_id_from_input(str(reply.get("input", "")))
            if payment_id is None:
                arn = str(reply["executionArn"])
                results.append(_skipped(arn, None, "its input names no payment"))
                continue
            by_payment.setdefault(payment_id, []).append(reply)
        for payment_id, executions in by_payment.items():
            results.append(self._redrive_payment(payment_id, executions))
        return results

    def _redrive_payment(self, payment_id: str, executions: list[dict[str, Any]]) -> RedriveResult:
        newest = max(executions, key=_started_at)
        arn = str(newest["executionArn"])
        try:
            payment = self._payments.get(payment_id)
        except NotFoundError:
            return _skipped(arn, payment_id, "the payment does not exist")
        if payment.status in SETTLED:
            return _skipped(arn, payment_id, f"the payment is {payment.status}")
        latest = self._latest_execution(payment, newest)
        if str(latest["status"]) not in REDRIVABLE:
            name = latest["name"]
            return _skipped(arn, payment_id, f"its execution {name} is {latest['status']}")
        return self._redrive_one(latest, payment_id)

    def _latest_execution(self, payment: Payment, newest: dict[str, Any]) -> dict[str, Any]:
        """The payment's latest execution: the one it last recorded (ValidatePayment writes
        execution_arn) when that started after `newest`, else `newest`."""
        recorded = payment.execution_arn
        if not recorded or recorded == newest["executionArn"]:
            return newest
        try:
            current = dict(self._sfn.describe_execution(executionArn=recorded))
        except ClientError:
            return newest
        return current if _started_at(current) >= _started_at(newest) else newest

    def _redrive_one(self, reply: dict[str, Any], payment_id: str) -> RedriveResult:
        arn = str(reply["executionArn"])
        if self._redrive_supported and reply.get("error") not in self._fail_state_errors:
            try:
                self._sfn.redrive_execution(executionArn=arn)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExecutionNotRedrivable":
                    raise
                return _skipped(arn, payment_id, "it is being redriven already")
            return RedriveResult(arn, "RedriveExecution", arn, payment_id)
        name = restart_name(payment_id, str(reply["name"]))
        try:
            started = self._sfn.start_execution(
                stateMachineArn=str(reply.get("stateMachineArn", self._arn)),
                name=name,  # deterministic: a second start of the same restart is refused
                input=str(reply.get("input", "{}")),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            return _skipped(arn, payment_id, f"it was restarted already as {name}")
        return RedriveResult(arn, "restart", started["executionArn"], payment_id)

    @cached_property
    def _fail_state_errors(self) -> frozenset[str]:
        """The Error names of the definition's Fail states: failures that a redrive repeats."""
        definition = json.loads(
            self._sfn.describe_state_machine(stateMachineArn=self._arn)["definition"]
        )
        return frozenset(
            str(state.get("Error"))
            for state in definition.get("States", {}).values()
            if state.get("Type") == "Fail"
        )


def _skipped(arn: str, payment_id: str | None, reason: str) -> RedriveResult:
    return RedriveResult(arn, "skipped", None, payment_id, reason)


def _started_at(reply: dict[str, Any]) -> datetime:
    started = reply.get("startDate")
    return started if isinstance(started, datetime) else datetime.min.replace(tzinfo=UTC)


def _from_summary(item: dict[str, Any]) -> Execution:
    """ListExecutions' summary or DescribeExecution's reply as an Execution."""
    return Execution(
        execution_arn=str(item["executionArn"]),
        name=str(item.get("name", "")),
        status=str(item.get("status", "")),
        start_date=item.get("startDate"),
        stop_date=item.get("stopDate"),
        error=item.get("error"),
        cause=item.get("cause"),
    )


def _failing_step(steps: list[Step]) -> Step | None:
    """The step that failed first for good (a Task whose retries ran out), else a Fail state."""
    for step in steps:
        if step.failed and step.state_type != "Fail":
            return step
    return next((step for step in steps if step.state_type == "Fail"), None)
