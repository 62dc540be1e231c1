"""Steps shared by the tests that run the real state machine on the local stack in process
(test_state_machine.py, test_state_machine_payloads.py, test_iam_least_privilege.py): the
deployed stack's handles, accounts, a card payment through the real ingress handler, the
pipe's start of an execution from the queued message, and the resulting state."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from paystack.domain.accounts import create_account as domain_create_account
from paystack.domain.dynamo import TableNames
from waiting import wait_until

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

    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return described if described["status"] != "RUNNING" else None

    ended_view: dict[str, Any] = wait_until(
        ended, timeout=timeout, what=f"execution {execution_arn} to end"
    )
    return ended_view


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
