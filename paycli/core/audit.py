"""`paycli audit`: check the ledger, the payments and what keeps each payment moving.

Reads everything once (Queries and paginators; a Scan only where no index can answer, and the
report names each one), then checks, without writing anything:

- per account: no balance below zero; the ledger's `opening` entry minus the debits of the
  account's SUCCEEDED payments equals the balance; the entries explain every change in order:
  starting at the opening balance, each entry's `balance_after_minor` is the previous one plus
  its signed amount, one entry per step, in `created_at` order, ending at the balance;
- no payment debited twice (one ledger entry per payment, in the payment's account, for its
  amount; one payment per Idempotency-Key); every payment in exactly one known state;
- no SUCCEEDED payment without its ledger entry, no ledger entry without its SUCCEEDED payment;
- no payment PENDING or PROCESSING for longer than `stale_after` without a message in a queue
  or a running execution;
- every FAILED payment has its DLQ message or a redrivable (failed, timed-out or aborted)
  execution.

The audit is meant for a quiet pipeline: payments in flight while it reads can show up as
findings that settle a moment later (run it again).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from paystack.domain.accounts import OPENING_ENTRY_ID
from paystack.domain.dynamo import TableNames, from_item
from paystack.domain.payment import Status

from paycli.core.dlq import DlqService
from paycli.core.executions import payment_id_from_input
from paycli.core.timeparse import iso_z

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

DEFAULT_STALE_AFTER: Final = timedelta(minutes=15)
STATUSES: Final = tuple(status.value for status in Status)
IN_FLIGHT: Final = frozenset({Status.PENDING.value, Status.PROCESSING.value})
REDRIVABLE: Final = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
#: More DLQ messages than this are not read one by one (peek receives each once).
DLQ_READ_LIMIT: Final = 100_000

#: `progress(stage, items_read_so_far)`: the CLI shows it on stderr.
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Violation:
    """One broken invariant: a stable `kind`, what it is about, and what was found."""

    kind: str
    subject: str
    message: str

    def view(self) -> dict[str, str]:
        """Stable JSON fields."""
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


class Verdict:
    """A report that passes when it found no violation (the audit, a soak)."""

    violations: list[Violation]

    @property
    def ok(self) -> bool:
        """No violation."""
        return not self.violations


@dataclass
class AuditReport(Verdict):
    """What was read, how, and every violation found."""

    stale_after: timedelta
    accounts: int = 0
    payments: int = 0
    ledger_entries: int = 0
    dlq_messages: int = 0
    running_executions: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    scans: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "ok": self.ok,
            "stale_after_seconds": int(self.stale_after.total_seconds()),
            "accounts": self.accounts,
            "payments": self.payments,
            "ledger_entries": self.ledger_entries,
            "dlq_messages": self.dlq_messages,
            "running_executions": self.running_executions,
            "statuses": dict(self.statuses),
            "scans": list(self.scans),
            "notes": list(self.notes),
            "violations": [v.view() for v in self.violations],
        }


@dataclass
class _Snapshot:
    """Everything read, keyed for the checks."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    dlq_payment_ids: set[str] = field(default_factory=set)
    running_payment_ids: set[str] = field(default_factory=set)
    queue_depth: int = 0


class AuditService:
    """Reads one target's tables, queues and executions, and checks the invariants."""

    def __init__(
        self,
        ddb: DynamoDBClient,
        sqs: SQSClient,
        sfn: SFNClient,
        tables: TableNames,
        *,
        queue_url: str,
        dlq_url: str,
        state_machine_arn: str,
        progress: Progress | None = None,
    ) -> None:
        """Clients and the stack's outputs; `progress` is told how far each read got."""
        self._ddb, self._sqs, self._sfn = ddb, sqs, sfn
        self._tables = tables
        self._dlq = DlqService(sqs, queue_url, dlq_url, move_task_supported=False)
        self._state_machine_arn = state_machine_arn
        self._progress = progress or (lambda _stage, _done: None)

    def run(
        self, stale_after: timedelta = DEFAULT_STALE_AFTER, *, now: datetime | None = None
    ) -> AuditReport:
        """Read, check, report."""
        report = AuditReport(stale_after=stale_after)
        snap = self._read(report)
        now = now or datetime.now(UTC)
        report.violations = [
            *_check_accounts(snap),
            *_check_payments(snap),
            *_check_ledger_vs_payments(snap),
            *_check_stuck(snap, report, iso_z(now - stale_after)),
            *_check_failed(snap, self._redrivable),
        ]
        return report

    # ------------------------------------------------------------------ reading
    def _read(self, report: AuditReport) -> _Snapshot:
        snap = _Snapshot()
        snap.payments = self._read_payments(report)
        report.statuses = dict(Counter(str(p.get("status")) for p in snap.payments.values()))
        report.scans.append(f"Scan {self._tables.accounts}: no index lists every account")
        snap.accounts = {
            a["account_id"]: a for a in self._items("accounts", "scan", self._tables.accounts)
        }
        for account_id in snap.accounts:
            snap.ledger[account_id] = list(self._ledger_of(account_id))
        report.accounts, report.payments = len(snap.accounts), len(snap.payments)
        report.ledger_entries = sum(len(e) for e in snap.ledger.values())
        self._orphan_ledger(snap, report)
        stats = self._dlq.stats()
        snap.queue_depth = stats.queue_messages + stats.queue_in_flight
        snap.dlq_payment_ids = {
            m.payment_id for m in self._dlq.peek(DLQ_READ_LIMIT) if m.payment_id
        }
        report.dlq_messages = stats.dlq_messages + stats.dlq_in_flight
        snap.running_payment_ids = self._running_payment_ids()
        report.running_executions = len(snap.running_payment_ids)
        return snap

    def _read_payments(self, report: AuditReport) -> dict[str, dict[str, Any]]:
        """Every payment through the ByStatus index, one Query per known status; then a
        COUNT-only Scan tells whether some payment is in no known state (the index cannot
        list those), and only then a filtered Scan finds them."""
        payments: dict[str, dict[str, Any]] = {}
        for status in STATUSES:
            for item in self._items(
                "payments",
                "query",
                self._tables.payments,
                IndexName="ByStatus",
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": status}},
            ):
                payments[item["payment_id"]] = item
        report.scans.append(
            f"Scan {self._tables.payments} (Select COUNT): no index holds payments in no"
            " known state"
        )
        total = self._count(self._tables.payments)
        if total != len(payments):
            report.scans.append(
                f"Scan {self._tables.payments} (filtered): {total - len(payments)} payment(s) "
                "outside the ByStatus index"
            )
            for item in self._items(
                "payments",
                "scan",
                self._tables.payments,
                FilterExpression="attribute_not_exists(#s) OR NOT #s IN (:a, :b, :c, :d, :e)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    f":{k}": {"S": s} for k, s in zip("abcde", STATUSES, strict=True)
                },
            ):
                payments[item["payment_id"]] = item
        return payments

    def _ledger_of(self, account_id: str) -> Iterator[dict[str, Any]]:
        return self._items(
            "ledger",
            "query",
            self._tables.ledger,
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": {"S": account_id}},
            ConsistentRead=True,
        )

    def _orphan_ledger(self, snap: _Snapshot, report: AuditReport) -> None:
        """Entries of accounts that do not exist: a COUNT Scan compared with what the
        per-account Queries found (no index lists the ledger's accounts)."""
        report.scans.append(
            f"Scan {self._tables.ledger} (Select COUNT): no index lists entries of unknown accounts"
        )
        if self._count(self._tables.ledger) == report.ledger_entries:
            return
        report.scans.append(f"Scan {self._tables.ledger}: entries outside the known accounts")
        for item in self._items("ledger", "scan", self._tables.ledger):
            if item["account_id"] not in snap.accounts:
                snap.ledger.setdefault(item["account_id"], []).append(item)

    def _count(self, table: str) -> int:
        pages = self._ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT")
        return sum(int(page["Count"]) for page in pages)

    def _items(self, stage: str, operation: str, table: str, **kwargs: Any) -> Iterator[Any]:
        paginator = self._ddb.get_paginator(operation)  # type: ignore[call-overload]
        read = 0
        for page in paginator.paginate(TableName=table, **kwargs):
            for raw in page["Items"]:
                read += 1
                yield from_item(raw)
            self._progress(stage, read)

    def _running_payment_ids(self) -> set[str]:
        """The payment of each RUNNING execution (ListExecutions has no input: Describe)."""
        found: set[str] = set()
        paginator = self._sfn.get_paginator("list_executions")
        pages = paginator.paginate(stateMachineArn=self._state_machine_arn, statusFilter="RUNNING")
        for page in pages:
            for summary in page["executions"]:
                reply = self._sfn.describe_execution(executionArn=summary["executionArn"])
                payment_id = payment_id_from_input(str(reply.get("input", "")))
                if payment_id:
                    found.add(payment_id)
            self._progress("executions", len(found))
        return found

    def _redrivable(self, execution_arn: str | None) -> bool:
        """Whether the payment's last execution failed, timed out or was aborted, or is still
        running: MarkFailed writes FAILED before SendToDlq sends the message, so an audit of a
        live stack can land in between; that execution ends in the DLQ or as a failure."""
        if not execution_arn:
            return False
        try:
            reply = self._sfn.describe_execution(executionArn=execution_arn)
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return False
        return str(reply["status"]) in {*REDRIVABLE, "RUNNING"}


# ---------------------------------------------------------------------- the checks
def _check_accounts(snap: _Snapshot) -> Iterator[Violation]:
    succeeded: dict[str, int] = defaultdict(int)
    for payment in snap.payments.values():
        if payment.get("status") == Status.SUCCEEDED:
            succeeded[str(payment.get("account_id"))] += int(payment.get("amount_minor", 0))
    for account_id, entries in sorted(snap.ledger.items()):
        account = snap.accounts.get(account_id)
        if account is None:
            yield Violation(
                "ledger_without_account",
                account_id,
                f"{len(entries)} ledger entr(ies) for an account that does not exist",
            )
            continue
        yield from _check_balance(account, entries, succeeded[account_id])
        yield from _check_chain(account, entries)


def _check_balance(
    account: dict[str, Any], entries: list[dict[str, Any]], debits: int
) -> Iterator[Violation]:
    account_id, balance = account["account_id"], int(account["balance_minor"])
    if balance < 0:
        yield Violation("negative_balance", account_id, f"balance is {balance} (below zero)")
    opening = next((e for e in entries if e["entry_id"] == OPENING_ENTRY_ID), None)
    if opening is None:
        yield Violation("missing_opening_entry", account_id, "no `opening` ledger entry")
        return
    expected = int(opening["amount_minor"]) - debits
    if expected != balance:
        yield Violation(
            "balance_mismatch",
            account_id,
            f"opening {opening['amount_minor']} minus succeeded debits {debits} is {expected},"
            f" but the balance is {balance}",
        )


def _check_chain(account: dict[str, Any], entries: list[dict[str, Any]]) -> Iterator[Violation]:
    """Walk from the opening balance: exactly one entry continues each balance, in time order,
    and the walk ends at the balance with every entry used."""
    account_id, balance = account["account_id"], int(account["balance_minor"])
    by_before: dict[int, list[dict[str, Any]]] = defaultdict(list)
    opening = None
    for entry in entries:
        if entry["entry_id"] == OPENING_ENTRY_ID:
            opening = entry
            continue
        before = int(entry["balance_after_minor"]) - int(entry["amount_minor"])
        by_before[before].append(entry)
    if opening is None:
        return
    current, last_time, used = int(opening["balance_after_minor"]), str(opening["created_at"]), 1
    if current != int(opening["amount_minor"]):
        yield Violation(
            "ledger_chain_broken", account_id, "the opening entry's balance_after is not its amount"
        )
    while by_before.get(current):
        following = by_before.pop(current)
        if len(following) > 1:
            ids = ", ".join(sorted(e["entry_id"] for e in following))
            yield Violation(
                "ledger_chain_broken",
                account_id,
                f"{len(following)} entries all continue balance {current} ({ids}): a lost update",
            )
        entry = following[0]
        if str(entry["created_at"]) < last_time:
            yield Violation(
                "ledger_out_of_order",
                account_id,
                f"{entry['entry_id']} ({entry['created_at']}) follows an entry made at {last_time}",
            )
        current, last_time = int(entry["balance_after_minor"]), str(entry["created_at"])
        used += len(following)
    left = sorted(e["entry_id"] for group in by_before.values() for e in group)
    if left:
        yield Violation(
            "ledger_chain_broken",
            account_id,
            f"{len(left)} entr(ies) do not follow from the opening balance: {', '.join(left[:5])}",
        )
    if current != balance:
        yield Violation(
            "ledger_chain_broken",
            account_id,
            f"the ledger ends at {current} after {used} entries, but the balance is {balance}",
        )


def _check_payments(snap: _Snapshot) -> Iterator[Violation]:
    keys: dict[str, list[str]] = defaultdict(list)
    for payment_id, payment in sorted(snap.payments.items()):
        status = payment.get("status")
        if status not in STATUSES:
            yield Violation(
                "unknown_state", payment_id, f"status {status!r} is none of {', '.join(STATUSES)}"
            )
        if payment.get("idempotency_key"):
            keys[str(payment["idempotency_key"])].append(payment_id)
    for key, ids in sorted(keys.items()):
        if len(ids) > 1:
            yield Violation(
                "duplicate_payment",
                ids[0],
                f"{len(ids)} payments for Idempotency-Key {key!r}: {', '.join(ids)}",
            )


def _debits(snap: _Snapshot) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entries in snap.ledger.values():
        for entry in entries:
            if entry["entry_id"] != OPENING_ENTRY_ID:
                found[str(entry.get("payment_id") or entry["entry_id"].partition("#")[2])].append(
                    entry
                )
    return found


def _check_ledger_vs_payments(snap: _Snapshot) -> Iterator[Violation]:
    debits = _debits(snap)
    for payment_id, entries in sorted(debits.items()):
        payment = snap.payments.get(payment_id)
        if len(entries) > 1:
            accounts = ", ".join(sorted(e["account_id"] for e in entries))
            yield Violation(
                "double_debit", payment_id, f"{len(entries)} ledger debits (accounts {accounts})"
            )
        if payment is None or payment.get("status") != Status.SUCCEEDED:
            status = "no such payment" if payment is None else f"status {payment.get('status')}"
            yield Violation(
                "ledger_entry_without_succeeded_payment", payment_id, f"a debit, but {status}"
            )
            continue
        yield from _check_debit(payment, entries[0])
    for payment_id, payment in sorted(snap.payments.items()):
        if payment.get("status") == Status.SUCCEEDED and payment_id not in debits:
            yield Violation(
                "succeeded_without_ledger_entry", payment_id, "SUCCEEDED but no ledger debit"
            )


def _check_debit(payment: dict[str, Any], entry: dict[str, Any]) -> Iterator[Violation]:
    payment_id = str(payment["payment_id"])
    if entry["account_id"] != payment.get("account_id"):
        yield Violation(
            "debit_mismatch",
            payment_id,
            f"debited from {entry['account_id']}, the payment is on {payment.get('account_id')}",
        )
    if int(entry["amount_minor"]) != -int(payment.get("amount_minor", 0)):
        yield Violation(
            "debit_mismatch",
            payment_id,
            f"debit of {entry['amount_minor']} for a payment of {payment.get('amount_minor')}",
        )


def _check_stuck(snap: _Snapshot, report: AuditReport, cutoff: str) -> Iterator[Violation]:
    """Stale PENDING/PROCESSING payments with nothing that will move them. SQS cannot be read
    without receiving (which counts towards maxReceiveCount), so the main queue is judged by
    its depth: with messages in it, a stale payment may be waiting there (a note, not a
    violation); empty, it cannot be."""
    stale = [
        p
        for p in snap.payments.values()
        if p.get("status") in IN_FLIGHT and str(p.get("updated_at", "")) < cutoff
    ]
    waiting = [
        p
        for p in stale
        if p["payment_id"] not in snap.running_payment_ids
        and p["payment_id"] not in snap.dlq_payment_ids
    ]
    if waiting and snap.queue_depth:
        report.notes.append(
            f"{len(waiting)} stale payment(s) may be among the {snap.queue_depth} message(s) in "
            "the payment queue (SQS cannot be read without receiving): run the audit again later"
        )
        return
    for payment in sorted(waiting, key=lambda p: str(p["payment_id"])):
        yield Violation(
            "stuck_payment",
            str(payment["payment_id"]),
            f"{payment['status']} since {payment.get('updated_at')} with no queued message and"
            " no running execution",
        )


def _check_failed(snap: _Snapshot, redrivable: Callable[[str | None], bool]) -> Iterator[Violation]:
    for payment_id, payment in sorted(snap.payments.items()):
        if payment.get("status") != Status.FAILED or payment_id in snap.dlq_payment_ids:
            continue
        if not redrivable(payment.get("execution_arn")):
            yield Violation(
                "failed_not_redrivable",
                payment_id,
                "FAILED with no DLQ message and no failed, timed-out or aborted execution",
            )
