"""`paycli audit` (AuditService) over moto: a ledger built by the real handlers is clean, and
each kind of broken ledger, payment or queue state seeded into it is reported by its kind.

Each seeded test asserts the violation's kind appears: without its check, the test fails (the
clean baseline shows that nothing else reports it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from handler_harness import REGION, Stack, age, pay
from paystack.domain.dynamo import iso_timestamp, to_item

from paycli.core.audit import AuditReport, AuditService

CARD_DECLINED = "4000000000000002"
CARD_FAILS = "4000000000000119"
DEFINITION = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


class World:
    """The handler-test stack plus a state machine (moto leaves its executions RUNNING until
    stopped, which is all the audit reads)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.machine = self.sfn.create_state_machine(
            name="PaymentStateMachine",
            definition=json.dumps(DEFINITION),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        self.progress: list[tuple[str, int]] = []
        self.failed = ""  # the baseline's FAILED payment

    def audit(self, stale_after: timedelta = timedelta(minutes=15)) -> AuditReport:
        service = AuditService(
            self.stack.ddb,
            self.stack.sqs,
            self.sfn,
            self.stack.tables,
            queue_url=self.stack.queue_url,
            dlq_url=self.stack.dlq_url,
            state_machine_arn=self.machine,
            progress=lambda stage, done: self.progress.append((stage, done)),
        )
        return service.run(stale_after)

    def execution(self, payment_id: str, name: str) -> str:
        """An execution whose input is the pipe's batch for this payment."""
        records = [{"body": json.dumps({"payment_id": payment_id})}]
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.machine, name=name, input=json.dumps(records)
            )["executionArn"]
        )

    def put(self, table: str, item: dict[str, Any]) -> None:
        self.stack.ddb.put_item(TableName=table, Item=to_item(item))

    def update(self, table: str, key: dict[str, str], **values: Any) -> None:
        names = {f"#{k}": k for k in values}
        self.stack.ddb.update_item(
            TableName=table,
            Key={k: {"S": v} for k, v in key.items()},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": to_item({"v": v})["v"] for k, v in values.items()},
        )

    def set_balance(self, account_id: str, balance: int) -> None:
        self.update(self.stack.tables.accounts, {"account_id": account_id}, balance_minor=balance)

    def entry(self, account_id: str, payment_id: str) -> dict[str, Any]:
        item = self.stack.ddb.get_item(
            TableName=self.stack.tables.ledger,
            Key={"account_id": {"S": account_id}, "entry_id": {"S": f"debit#{payment_id}"}},
        )["Item"]
        return {k: next(iter(v.values())) for k, v in item.items()}


def settle(stack: Stack, payment_id: str) -> dict[str, Any]:
    """ValidatePayment then, if approved, DeductAmount, as the state machine runs them."""
    validation = stack.validate(payment_id)
    if validation["outcome"] != "APPROVED":
        return validation
    return stack.invoke(
        "DeductAmountFunction",
        {"payment_id": payment_id, "account_id": validation["account_id"]},
    )


@pytest.fixture
def world(stack: Stack) -> World:
    """acc_demo (100.00) with two SUCCEEDED payments, one DECLINED, one FAILED and parked in
    the DLQ (as MarkFailed and SendToDeadLetterQueue leave it): a clean ledger."""
    stack.account("acc_demo", 10_000)
    w = World(stack)
    for key in ("ok-1", "ok-2"):
        assert settle(stack, pay(stack, key=key))["outcome"] == "SUCCEEDED"
    assert settle(stack, pay(stack, CARD_DECLINED, key="no-1"))["outcome"] == "DECLINED"
    failed = pay(stack, CARD_FAILS, key="fail-1")
    w.update(stack.tables.payments, {"payment_id": failed}, status="FAILED")
    stack.drain()  # the pipe consumed every message
    stack.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=json.dumps({"payment_id": failed}))
    w.failed = failed
    return w


def kinds(report: AuditReport) -> list[str]:
    return [v.kind for v in report.violations]


def succeeded(world: World) -> list[str]:
    items = world.stack.items(world.stack.tables.payments)
    return sorted(i["payment_id"]["S"] for i in items if i["status"]["S"] == "SUCCEEDED")


def test_a_ledger_built_by_the_handlers_is_clean(world: World) -> None:
    """The baseline every other test breaks one thing in: no violation, and it says how it read
    (Scans named) and what it read."""
    report = world.audit()
    assert report.violations == [], report.view()
    assert report.ok
    view = report.view()
    assert (view["accounts"], view["payments"], view["ledger_entries"]) == (1, 4, 3)
    assert view["statuses"] == {"SUCCEEDED": 2, "DECLINED": 1, "FAILED": 1}
    assert view["dlq_messages"] == 1
    assert any("Scan" in s and "account" in s for s in view["scans"])
    assert {stage for stage, _ in world.progress} >= {"payments", "accounts", "ledger"}
    assert (
        world.stack.sqs.get_queue_attributes(
            QueueUrl=world.stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        == "1"
    )  # peeked, not consumed


def test_negative_balance(world: World) -> None:
    world.set_balance("acc_demo", -5)
    assert "negative_balance" in kinds(world.audit())


def test_balance_that_the_succeeded_debits_do_not_explain(world: World) -> None:
    """Balance and ledger agree (a last entry is moved too), but one SUCCEEDED payment's debit
    is missing from the sum: the opening minus the succeeded debits check catches it."""
    world.set_balance("acc_demo", 10_000 - 1250 * 2 + 100)
    assert "balance_mismatch" in kinds(world.audit())


def test_missing_opening_entry(world: World) -> None:
    world.stack.ddb.delete_item(
        TableName=world.stack.tables.ledger,
        Key={"account_id": {"S": "acc_demo"}, "entry_id": {"S": "opening"}},
    )
    assert "missing_opening_entry" in kinds(world.audit())


def test_ledger_chain_with_a_wrong_balance_after(world: World) -> None:
    """Balances and sums agree, but one entry's balance_after_minor does not follow from the
    entry before it."""
    payment_id = succeeded(world)[0]
    world.update(
        world.stack.tables.ledger,
        {"account_id": "acc_demo", "entry_id": f"debit#{payment_id}"},
        balance_after_minor=1,
    )
    assert "ledger_chain_broken" in kinds(world.audit())


def test_ledger_chain_fork_is_a_lost_update(world: World) -> None:
    """Two entries continuing the same balance: two debits read the same balance."""
    first, second = succeeded(world)
    a, b = world.entry("acc_demo", first), world.entry("acc_demo", second)
    low, high = sorted((a, b), key=lambda e: int(e["balance_after_minor"]))
    world.update(
        world.stack.tables.ledger,
        {"account_id": "acc_demo", "entry_id": low["entry_id"]},
        balance_after_minor=int(high["balance_after_minor"]),
    )
    found = [v for v in world.audit().violations if v.kind == "ledger_chain_broken"]
    assert any("lost update" in v.message for v in found)


def test_ledger_entries_out_of_time_order(world: World) -> None:
    first, second = succeeded(world)
    a, b = world.entry("acc_demo", first), world.entry("acc_demo", second)
    later = max((a, b), key=lambda e: int(e["balance_after_minor"]) * -1)
    world.update(
        world.stack.tables.ledger,
        {"account_id": "acc_demo", "entry_id": later["entry_id"]},
        created_at="2000-01-01T00:00:00.000Z",
    )
    assert "ledger_out_of_order" in kinds(world.audit())


def test_payment_in_no_known_state_is_found_by_the_count_scan(world: World) -> None:
    """A status outside the five is invisible to the per-status Queries; the COUNT Scan sees
    the difference and the filtered Scan names the payment."""
    payment_id = succeeded(world)[0]
    world.update(world.stack.tables.payments, {"payment_id": payment_id}, status="SETTLING")
    report = world.audit()
    assert [v.subject for v in report.violations if v.kind == "unknown_state"] == [payment_id]
    assert any("outside the ByStatus index" in s for s in report.scans)


def test_two_payments_for_one_idempotency_key(world: World) -> None:
    first, second = succeeded(world)
    key = world.stack.payment_item(first)["idempotency_key"]["S"]
    world.update(world.stack.tables.payments, {"payment_id": second}, idempotency_key=key)
    assert "duplicate_payment" in kinds(world.audit())


def test_payment_debited_in_two_accounts(world: World) -> None:
    payment_id = succeeded(world)[0]
    world.stack.account("acc_other", 5_000)
    entry = world.entry("acc_demo", payment_id)
    world.put(
        world.stack.tables.ledger,
        {
            "account_id": "acc_other",
            "entry_id": f"debit#{payment_id}",
            "amount_minor": int(entry["amount_minor"]),
            "currency": "USD",
            "balance_after_minor": 5_000 + int(entry["amount_minor"]),
            "payment_id": payment_id,
            "created_at": iso_timestamp(datetime.now(UTC)),
        },
    )
    world.set_balance("acc_other", 5_000 + int(entry["amount_minor"]))
    assert "double_debit" in kinds(world.audit())


def test_debit_for_another_amount(world: World) -> None:
    payment_id = succeeded(world)[0]
    world.update(world.stack.tables.payments, {"payment_id": payment_id}, amount_minor=999)
    assert "debit_mismatch" in kinds(world.audit())


def test_succeeded_payment_without_its_ledger_entry(world: World) -> None:
    """A settlement that marked the payment but lost its entry (balance restored to match)."""
    payment_id = succeeded(world)[0]
    world.stack.ddb.delete_item(
        TableName=world.stack.tables.ledger,
        Key={"account_id": {"S": "acc_demo"}, "entry_id": {"S": f"debit#{payment_id}"}},
    )
    assert "succeeded_without_ledger_entry" in kinds(world.audit())


def test_ledger_entry_without_a_succeeded_payment(world: World) -> None:
    payment_id = succeeded(world)[0]
    world.update(world.stack.tables.payments, {"payment_id": payment_id}, status="DECLINED")
    assert "ledger_entry_without_succeeded_payment" in kinds(world.audit())


def test_ledger_entries_of_an_account_that_does_not_exist(world: World) -> None:
    world.stack.account("acc_gone", 100)
    world.stack.ddb.delete_item(
        TableName=world.stack.tables.accounts, Key={"account_id": {"S": "acc_gone"}}
    )
    assert "ledger_without_account" in kinds(world.audit())


def test_stale_pending_payment_with_nothing_to_move_it(world: World) -> None:
    """Accepted an hour ago, its message lost: stuck. A running execution or a DLQ message
    for it would clear it; a fresh payment is not stale."""
    stuck = pay(world.stack, key="stuck-1")
    world.stack.drain()
    age(world.stack, stuck)
    report = world.audit()
    assert [v.subject for v in report.violations if v.kind == "stuck_payment"] == [stuck]
    assert world.audit(stale_after=timedelta(hours=2)).ok


def test_stale_payment_with_a_running_execution_is_not_stuck(world: World) -> None:
    payment_id = pay(world.stack, key="running-1")
    world.stack.drain()
    age(world.stack, payment_id, status="PROCESSING")
    world.execution(payment_id, "running-1")
    assert world.audit().ok


def test_stale_payment_with_messages_queued_is_a_note_not_a_violation(world: World) -> None:
    """The main queue cannot be read without receiving: with messages in it the audit says it
    could not tell, instead of crying wolf."""
    payment_id = pay(world.stack, key="queued-1")  # its message is still in the queue
    age(world.stack, payment_id)
    report = world.audit()
    assert report.ok
    assert report.notes
    assert world.stack.drain() == [json.dumps({"payment_id": payment_id})]  # not consumed


def test_failed_payment_neither_parked_nor_redrivable(world: World) -> None:
    world.stack.drain(world.stack.dlq_url)
    report = world.audit()
    assert [v.subject for v in report.violations if v.kind == "failed_not_redrivable"] == [
        world.failed
    ]


def test_failed_payment_with_a_redrivable_execution_is_fine(world: World) -> None:
    world.stack.drain(world.stack.dlq_url)
    arn = world.execution(world.failed, "failed-1")
    world.sfn.stop_execution(executionArn=arn)  # ABORTED: redrivable
    world.update(
        world.stack.tables.payments,
        {"payment_id": world.failed},
        execution_arn=arn,
    )
    assert world.audit().ok


def test_failed_payment_whose_execution_still_runs_is_in_flight(world: World) -> None:
    """MarkFailed writes FAILED before SendToDlq sends the message: a live audit that lands in
    between sees a FAILED payment, no DLQ message and a RUNNING execution, which is in flight,
    not lost (the stateful suite met this window)."""
    world.stack.drain(world.stack.dlq_url)
    arn = world.execution(world.failed, "failing-now")  # RUNNING
    world.update(world.stack.tables.payments, {"payment_id": world.failed}, execution_arn=arn)
    assert world.audit().ok
