"""End to end on the real local stack: signed HTTP in, settled balances and DLQ messages out.

Everything runs for real in the daemon (moto server + engine + local API + pipe pollers); the
tests talk to it only over HTTP (the local API, the moto endpoint) and its control surface.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
from e2e_support import TEST_CARDS, LocalStackHandle
from waiting import wait_until

pytestmark = pytest.mark.e2e

TERMINAL = {"SUCCEEDED", "DECLINED", "FAILED"}


def _accepted(response: Any) -> str:
    assert response.status == 202, response.body
    return str(response.json()["payment_id"])


def _execution_for(stack: LocalStackHandle, payment_id: str) -> dict[str, Any]:
    """The state machine execution whose input carries this payment."""
    sfn = stack.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=stack.outputs["StateMachineArn"]
    )
    for page in pages:
        for summary in page["executions"]:
            described = sfn.describe_execution(executionArn=summary["executionArn"])
            if payment_id in described["input"]:
                return dict(described)
    pytest.fail(f"no execution for {payment_id}")


def test_card_payment_succeeds_and_debits_the_balance(local_stack: LocalStackHandle) -> None:
    """POST (signed) -> 202 PENDING -> pipe -> state machine -> SUCCEEDED, balance debited once,
    and the execution received the Pipes batch array."""
    account = local_stack.create_account(10_000)
    payment_id = _accepted(local_stack.pay_card(account, 1250, TEST_CARDS["approved"]))

    view = local_stack.wait_for_payment(payment_id, TERMINAL)

    assert view["status"] == "SUCCEEDED"
    assert view["amount_minor"] == 1250
    assert view["card"] == {"brand": "visa", "last4": "4242"}
    assert local_stack.balance(account) == 8750
    execution = _execution_for(local_stack, payment_id)
    records = json.loads(execution["input"])
    assert isinstance(records, list)
    assert records[0]["eventSource"] == "aws:sqs"
    assert json.loads(records[0]["body"]) == {"payment_id": payment_id}


def test_declined_card_ends_declined_and_leaves_the_balance(local_stack: LocalStackHandle) -> None:
    account = local_stack.create_account(5_000)
    payment_id = _accepted(local_stack.pay_card(account, 700, TEST_CARDS["declined"]))

    view = local_stack.wait_for_payment(payment_id, TERMINAL)

    assert view["status"] == "DECLINED"
    assert view["reason"] == "generic_decline"
    assert local_stack.balance(account) == 5_000


def test_processing_error_is_retried_then_failed_into_the_dlq(
    local_stack: LocalStackHandle,
) -> None:
    """The issuer error is retried as the ASL says (1 + MaxAttempts 2 = 3 ValidatePayment
    attempts), then the payment is FAILED and its {"payment_id"} message is in the DLQ."""
    account = local_stack.create_account(5_000)
    payment_id = _accepted(local_stack.pay_card(account, 900, TEST_CARDS["processing_error"]))

    view = local_stack.wait_for_payment(payment_id, TERMINAL)

    assert view["status"] == "FAILED"
    assert local_stack.balance(account) == 5_000
    execution = _execution_for(local_stack, payment_id)
    assert execution["status"] == "FAILED"
    events = local_stack.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"], maxResults=1000
    )["events"]
    failures = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failures == ["IssuerUnavailableError"] * 3
    dlq_bodies = local_stack.queue_bodies(local_stack.outputs["DeadLetterQueueUrl"])
    assert json.dumps({"payment_id": payment_id}) in dlq_bodies or {"payment_id": payment_id} in [
        json.loads(b) for b in dlq_bodies
    ]


def test_unsigned_and_badly_signed_requests_get_403(local_stack: LocalStackHandle) -> None:
    """AWS_IAM on the API: no signature, or one made with another secret, is refused before
    any handler runs (no payment is created)."""
    body = {
        "amount_minor": 100,
        "currency": "USD",
        "account_id": "acc_none",
        "card": {"number": TEST_CARDS["approved"], "exp_month": 1, "exp_year": 2035},
    }
    unsigned = local_stack.request(
        "POST",
        "/payments/card",
        json_body=body,
        signed=False,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert unsigned.status == 403
    assert unsigned.json() == {"message": "Missing Authentication Token"}

    # Its own client cache: clients signed with the real secret must not be reused.
    forged = dataclasses.replace(local_stack, secret_key="not-the-secret", _clients={})
    mismatched = forged.request("GET", "/payments/pay_unknown")
    assert mismatched.status == 403
    assert "signature" in mismatched.json()["message"]

    unknown_route = local_stack.request("GET", "/nothing/here")
    assert unknown_route.status == 403
    assert unknown_route.json() == {"message": "Missing Authentication Token"}


def test_message_the_pipe_cannot_start_reaches_the_dlq(local_stack: LocalStackHandle) -> None:
    """StartExecution fails (injected through the pipe's fault seam) for one message: it is not
    deleted, reappears after the visibility timeout, and after maxReceiveCount (3) receives SQS
    moves it to the DLQ. The queue's visibility timeout is lowered to 1 s for the test only."""
    from paycli.local import control  # noqa: PLC0415

    sqs = local_stack.client("sqs")
    queue_url = local_stack.outputs["QueueUrl"]
    dlq_url = local_stack.outputs["DeadLetterQueueUrl"]
    marker = f"unstartable-{uuid.uuid4().hex}"
    original = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "1"})
    control.set_faults(fail_start_matching=marker)
    # moto fixes a receive's visibility timeout when the long poll starts: wait for the pipe's
    # current long poll to end, so every later receive uses the 1 s timeout.
    local_stack.wait_for_pipe_turns()
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"payment_id": marker}))
        found = local_stack.find_messages(dlq_url, lambda m: marker in m["Body"], timeout=20)
        moved = [m for m in found if marker in m["Body"]]
    finally:
        control.set_faults(fail_start_matching=None)
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=original["Attributes"])
    assert moved, "the unstartable message never reached the DLQ"
    assert json.loads(moved[0]["Body"]) == {"payment_id": marker}
    # Three receives by the pipe (each followed by a failed start), then the move.
    assert int(moved[0]["Attributes"]["ApproximateReceiveCount"]) >= 3
    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=moved[0]["ReceiptHandle"])
    stats = control.status()
    assert stats.running
    pipes = control.health()["pipes"]
    assert sum(p["start_failures"] for p in pipes.values()) >= 3


def test_handler_logs_are_captured_per_payment(local_stack: LocalStackHandle) -> None:
    """The control surface serves the handlers' captured logs, filtered by payment."""
    from paycli.local import control  # noqa: PLC0415

    account = local_stack.create_account(1_000)
    payment_id = _accepted(local_stack.pay_card(account, 100, TEST_CARDS["approved"]))
    local_stack.wait_for_payment(payment_id, TERMINAL)

    expected = {
        "paycli-IngressFunction",
        "paycli-ValidatePaymentFunction",
        "paycli-DeductAmountFunction",
    }
    # A handler's last lines may reach the log store just after its write made the payment
    # terminal (a Lambda worker writes to DynamoDB directly with --dynamodb-process, and its
    # lines travel through the daemon), as CloudWatch Logs trails a function on AWS.
    wait_until(
        lambda: expected <= {r["function"] for r in control.logs(payment_id=payment_id)},
        timeout=10,
        what="every function's log lines",
    )
    records = control.logs(payment_id=payment_id)
    assert all(r["payment_id"] == payment_id for r in records)
    assert TEST_CARDS["approved"] not in json.dumps(records)  # no PAN in any log line
