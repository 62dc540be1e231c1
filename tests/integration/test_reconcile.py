"""The reconciler against moto: stranded payments go back on the queue and settle once.

Payments are accepted by the real ingress handler; "stranded" is made by draining the queue
(SendMessage lost) and moving the payment's timestamps an hour back (as if that happened an
hour ago). The queued message is then driven through the real ValidatePayment and
DeductAmount handlers, in the order the state machine runs them.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from handler_harness import AN_HOUR_AGO, Stack, age, pay, stranded
from paystack.domain.accounts import ledger_entries
from paystack.domain.dynamo import iso_timestamp
from paystack.domain.reconcile import reconcile_stale


@pytest.fixture
def demo(stack: Stack) -> Stack:
    """acc_demo holding 100.00 USD and an empty payment queue."""
    stack.account("acc_demo", 10_000)
    return stack


def run_workflow(stack: Stack, payment_id: str) -> None:
    """ValidatePayment then, if approved, DeductAmount: the state machine's happy path."""
    if stack.validate(payment_id)["outcome"] == "APPROVED":
        stack.deduct(payment_id)


def queued_ids(stack: Stack) -> list[str]:
    return [json.loads(body)["payment_id"] for body in stack.drain()]


def test_a_stranded_pending_payment_is_requeued_and_settles_once(demo: Stack) -> None:
    """The scheduled handler finds the payment ingress never enqueued, sends {"payment_id"}
    (ingress's body shape), and the workflow then settles it with one debit."""
    payment_id = stranded(demo, "lost-send")
    counts = demo.invoke("ReconcileFunction", {"detail-type": "Scheduled Event", "detail": {}})
    assert counts == {"scanned": 1, "requeued": 1}
    bodies = demo.drain()
    assert bodies == [json.dumps({"payment_id": payment_id})]
    run_workflow(demo, payment_id)
    assert demo.payment_item(payment_id)["status"]["S"] == "SUCCEEDED"
    assert demo.balance("acc_demo") == 8_750


def test_fresh_and_settled_payments_are_left_alone(demo: Stack) -> None:
    """A PENDING payment younger than STALE_AFTER_SECONDS may still be on its way; a settled
    one (however old) is done: neither is sent again."""
    fresh = pay(demo, key="fresh")
    settled = pay(demo, key="settled")
    demo.drain()
    run_workflow(demo, settled)
    age(demo, settled)
    counts = demo.invoke("ReconcileFunction", {})
    assert counts == {"scanned": 0, "requeued": 0}
    assert demo.drain() == []
    assert demo.payment_item(fresh)["status"]["S"] == "PENDING"
    assert demo.payment_item(settled)["status"]["S"] == "SUCCEEDED"


def test_running_twice_requeues_twice_but_debits_once(demo: Stack) -> None:
    """Two sweeps before the first message is processed send two messages; both run the
    workflow (duplicate executions) and the account is debited once, one ledger entry."""
    payment_id = stranded(demo, "twice")
    assert demo.invoke("ReconcileFunction", {})["requeued"] == 1
    assert demo.invoke("ReconcileFunction", {})["requeued"] == 1
    ids = queued_ids(demo)
    assert ids == [payment_id, payment_id]
    for queued in ids:
        run_workflow(demo, queued)
    assert demo.balance("acc_demo") == 8_750
    debits = [
        e for e in ledger_entries(demo.ddb, demo.tables, "acc_demo") if e.entry_id != "opening"
    ]
    assert [e.entry_id for e in debits] == [f"debit#{payment_id}"]


def test_stale_processing_is_requeued_but_a_recently_updated_one_is_not(demo: Stack) -> None:
    """PROCESSING an hour ago (execution aborted outside its Catch) is requeued; an old
    payment a redrive moved to PROCESSING a moment ago still has a live execution: skipped."""
    aborted = stranded(demo, "aborted")
    age(demo, aborted, status="PROCESSING")
    redriven = stranded(demo, "redriven")
    age(demo, redriven, status="PROCESSING")
    demo.ddb.update_item(
        TableName=demo.tables.payments,
        Key={"payment_id": {"S": redriven}},
        UpdateExpression="SET updated_at = :now",
        ExpressionAttributeValues={":now": {"S": iso_timestamp(datetime.now(UTC))}},
    )
    assert demo.invoke("ReconcileFunction", {}) == {"scanned": 1, "requeued": 1}
    assert queued_ids(demo) == [aborted]
    run_workflow(demo, aborted)
    assert demo.payment_item(aborted)["status"]["S"] == "SUCCEEDED"


def test_the_batch_is_bounded_and_paginates_the_index(demo: Stack) -> None:
    """With more stale payments than the limit, one run takes `limit` of them (PENDING first),
    oldest first; the next run takes the rest. A dry run finds without sending."""
    ids = [stranded(demo, f"bulk-{i}") for i in range(5)]
    for minutes, payment_id in enumerate(ids):
        age(demo, payment_id, AN_HOUR_AGO + timedelta(minutes=minutes))
    cutoff = datetime.now(UTC) - timedelta(minutes=15)
    dry = reconcile_stale(
        demo.ddb, demo.sqs, demo.tables, queue_url=demo.queue_url, cutoff=cutoff, dry_run=True
    )
    assert (dry.scanned, dry.requeued) == (5, 0)
    assert demo.drain() == []
    first = reconcile_stale(
        demo.ddb, demo.sqs, demo.tables, queue_url=demo.queue_url, cutoff=cutoff, limit=3
    )
    assert first.counts() == {"scanned": 3, "requeued": 3}
    assert queued_ids(demo) == ids[:3]
    for payment_id in ids[:3]:
        run_workflow(demo, payment_id)
    second = reconcile_stale(
        demo.ddb, demo.sqs, demo.tables, queue_url=demo.queue_url, cutoff=cutoff, limit=3
    )
    assert [p.payment_id for p in second.stale] == ids[3:]
    assert demo.balance("acc_demo") == 10_000 - 3 * 1250


def test_the_handler_logs_payment_ids_and_no_card_data(
    demo: Stack, handler_logs: io.StringIO
) -> None:
    """Each requeued payment is logged by id; no PAN digits beyond what is stored appear."""
    payment_id = stranded(demo, "logged")
    demo.invoke("ReconcileFunction", {})
    text = handler_logs.getvalue()
    assert payment_id in text
    assert "4242424242424242" not in text
