"""The real payment.asl.json on moto's Step Functions interpreter, with the real handlers behind
the in-process Lambda runner (issue 2).

Each payment enters through the real ingress handler (an API Gateway proxy event), which
records it PENDING and enqueues it; the test then takes that queue message and starts the
execution the way the EventBridge Pipe does: an explicit name and a JSON array of one SQS
record. Only AWS is emulated (moto); every product part runs for real.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from paystack.domain.accounts import create_account as domain_create_account
from paystack.domain.dynamo import TableNames

from paycli.local.api import HttpRequest, RouteTable, build_proxy_event
from paycli.local.model import Deployment
from paycli.local.pipe import to_pipe_record
from paycli.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "stack" / "template.yaml"
TIME_SCALE = 0.01  # ASL Retry intervals of 1 s, 2 s... become 10 ms, 20 ms
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_PROCESSING_ERROR = "4000000000000119"


@dataclass
class Env:
    """The deployed local stack plus the handles a test needs."""

    stack: LocalStack
    deployment: Deployment

    def output(self, key: str) -> str:
        return self.deployment.outputs[key]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    stack = LocalStack(time_scale=TIME_SCALE, log_dir=tmp_path_factory.mktemp("logs"))
    stack.start()
    try:
        deployment = stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1")
        yield Env(stack, deployment)
    finally:
        stack.stop()


def create_account(env: Env, balance_minor: int, currency: str = "USD") -> str:
    """An account with an opening ledger entry, written by the product's own domain code."""
    tables = TableNames(
        payments=env.output("PaymentsTableName"),
        accounts=env.output("AccountsTableName"),
        ledger=env.output("LedgerTableName"),
        idempotency=env.output("IdempotencyTableName"),
    )
    account_id = f"acc_{uuid.uuid4().hex[:10]}"
    domain_create_account(env.stack.client("dynamodb"), tables, account_id, balance_minor, currency)
    return account_id


def post_card_payment(env: Env, account_id: str, card: str, amount_minor: int) -> str:
    """POST /payments/card through the real ingress handler; returns the payment_id."""
    body = {
        "amount_minor": amount_minor,
        "currency": "USD",
        "account_id": account_id,
        "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    }
    request = HttpRequest(
        method="POST",
        raw_path="/v1/payments/card",
        headers=[
            ("Host", "127.0.0.1"),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", uuid.uuid4().hex),
        ],
        body=json.dumps(body).encode(),
        source_ip="127.0.0.1",
    )
    match = RouteTable(env.deployment.routes).match("POST", "v1", "/payments/card")
    assert match is not None
    event = build_proxy_event(request, match, request_id=uuid.uuid4().hex, account_id="1" * 12)
    result = env.stack.runner.invoke(match.route.function_name, json.dumps(event).encode())
    assert result.function_error is None, result.payload
    response = json.loads(result.payload)
    assert response["statusCode"] == 202, response
    return str(json.loads(response["body"])["payment_id"])


def start_from_queue(env: Env, payment_id: str) -> str:
    """Do what the Pipe does for the queued message of `payment_id`; the execution ARN."""
    sqs = env.stack.client("sqs")
    pipe = env.deployment.pipes[0]
    for _ in range(20):
        messages = sqs.receive_message(
            QueueUrl=pipe.source_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for message in messages:
            if json.loads(message["Body"]).get("payment_id") == payment_id:
                record = to_pipe_record(message, pipe, env.stack.region)
                arn = env.stack.client("stepfunctions").start_execution(
                    stateMachineArn=pipe.target_arn,
                    name=f"{message['MessageId']}-test",
                    input=json.dumps([record]),
                )["executionArn"]
                sqs.delete_message(
                    QueueUrl=pipe.source_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                return str(arn)
    pytest.fail(f"no queue message for {payment_id}")


def wait_terminal(env: Env, execution_arn: str, timeout: float = 15.0) -> dict[str, Any]:
    sfn = env.stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    pytest.fail(f"{execution_arn} still RUNNING after {timeout} s")


def payment(env: Env, payment_id: str) -> dict[str, Any]:
    item = env.stack.client("dynamodb").get_item(
        TableName=env.output("PaymentsTableName"),
        Key={"payment_id": {"S": payment_id}},
        ConsistentRead=True,
    )["Item"]
    return {key: next(iter(value.values())) for key, value in item.items()}


def balance(env: Env, account_id: str) -> int:
    item = env.stack.client("dynamodb").get_item(
        TableName=env.output("AccountsTableName"), Key={"account_id": {"S": account_id}}
    )["Item"]
    return int(item["balance_minor"]["N"])


def ledger_debits(env: Env, account_id: str) -> list[dict[str, Any]]:
    items = env.stack.client("dynamodb").query(
        TableName=env.output("LedgerTableName"),
        KeyConditionExpression="account_id = :a AND begins_with(entry_id, :d)",
        ExpressionAttributeValues={":a": {"S": account_id}, ":d": {"S": "debit#"}},
    )["Items"]
    return list(items)


def dlq_bodies(env: Env) -> list[dict[str, Any]]:
    sqs = env.stack.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=env.output("DeadLetterQueueUrl"),
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return [
        json.loads(m["Body"]) | {"_attributes": m.get("MessageAttributes", {})} for m in messages
    ]


def test_card_payment_succeeds_and_debits_once(env: Env) -> None:
    """4242... runs Validate -> Deduct to SUCCEEDED; the balance drops by the amount once and
    one debit ledger entry explains it."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_OK, 1_250)
    assert payment(env, payment_id)["status"] == "PENDING"

    execution = wait_terminal(env, start_from_queue(env, payment_id))

    assert execution["status"] == "SUCCEEDED", execution
    assert payment(env, payment_id)["status"] == "SUCCEEDED"
    assert balance(env, account_id) == 8_750
    assert len(ledger_debits(env, account_id)) == 1


def test_declined_card_ends_declined_with_reason_and_balance_untouched(env: Env) -> None:
    """4000...0002 is a business decline: DECLINED with generic_decline, no debit."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_DECLINED, 1_250)

    execution = wait_terminal(env, start_from_queue(env, payment_id))

    assert execution["status"] == "SUCCEEDED", execution  # the workflow itself succeeded
    stored = payment(env, payment_id)
    assert stored["status"] == "DECLINED"
    assert stored["reason"] == "generic_decline"
    assert balance(env, account_id) == 10_000
    assert ledger_debits(env, account_id) == []


def test_processing_error_is_retried_then_failed_and_parked_in_dlq(env: Env) -> None:
    """4000...0119 raises IssuerUnavailableError: the ASL retries it (MaxAttempts 2, so three
    attempts), then Catch marks the payment FAILED and sends {"payment_id"} to the DLQ."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_PROCESSING_ERROR, 1_250)

    execution = wait_terminal(env, start_from_queue(env, payment_id))

    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "PaymentFailed"
    attempts = [
        r
        for r in env.stack.runner.logs(function="ValidatePaymentFunction", payment_id=payment_id)
        if r["stream"] == "report"
    ]
    assert [r.get("error_type") for r in attempts] == ["IssuerUnavailableError"] * 3
    stored = payment(env, payment_id)
    assert stored["status"] == "FAILED"
    assert stored["reason"] == "processing_error"
    assert stored["error"] == "IssuerUnavailableError"
    assert balance(env, account_id) == 10_000
    parked = [b for b in dlq_bodies(env) if b.get("payment_id") == payment_id]
    assert len(parked) == 1
    assert set(parked[0]) == {"payment_id", "_attributes"}
    assert parked[0]["_attributes"]["error"]["StringValue"] == "IssuerUnavailableError"


def test_handler_logs_are_captured_per_function_and_payment(env: Env) -> None:
    """Powertools log lines of each invocation land in the runner's log store, tagged with the
    function and the payment, so `paycli logs --payment` can show them."""
    account_id = create_account(env, 5_000)
    payment_id = post_card_payment(env, account_id, CARD_OK, 100)
    wait_terminal(env, start_from_queue(env, payment_id))

    records = env.stack.runner.logs(payment_id=payment_id)
    functions = {r["logical_id"] for r in records}
    assert functions == {"IngressFunction", "ValidatePaymentFunction", "DeductAmountFunction"}
    messages = [r["message"] for r in records if r["stream"] == "stdout"]
    assert "payment settled" in messages
    assert CARD_OK not in json.dumps(records)
