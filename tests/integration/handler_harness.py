"""The handler-test harness: a provisioned Stack and API Gateway proxy events.

Plain helpers (no fixtures) so test modules can import them; the fixtures that build a Stack
are in conftest.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from paystack.domain.accounts import create_account
from paystack.domain.dynamo import TableNames, iso_timestamp
from paystack.handlers import deduct, ingress, reconcile, validate

REGION = "us-east-1"
API_DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
HANDLERS: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "IngressFunction": ingress.handler,
    "ValidatePaymentFunction": validate.handler,
    "DeductAmountFunction": deduct.handler,
    "ReconcileFunction": reconcile.handler,
}


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object the Powertools decorators read."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Response:
    """An API Gateway proxy response, decoded."""

    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Stack:
    """The provisioned resources, their clients and each function's environment."""

    ddb: Any
    sqs: Any
    tables: TableNames
    queue_url: str
    dlq_url: str
    environments: dict[str, dict[str, str]]
    monkeypatch: pytest.MonkeyPatch

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run the real handler with the function's environment from the template."""
        for name, value in self.environments[function].items():
            self.monkeypatch.setenv(name, value)
        return HANDLERS[function](event, LambdaContext(function))

    def post(
        self,
        method: str,
        body: Any,
        key: str | None = "key-1",
        headers: dict[str, str] | None = None,
    ) -> Response:
        """POST /payments/{card,bank,wallet} (static resources) through the ingress handler."""
        all_headers = {"Content-Type": "application/json", "Host": API_DOMAIN} | (headers or {})
        if key is not None:
            all_headers["Idempotency-Key"] = key
        raw = body if isinstance(body, str) else json.dumps(body)
        event = api_event("POST", f"/payments/{method}", f"/payments/{method}", all_headers, raw)
        return decode(self.invoke("IngressFunction", event))

    def get(self, payment_id: str) -> Response:
        """GET /payments/{payment_id} through the ingress handler."""
        event = api_event(
            "GET", f"/payments/{payment_id}", "/payments/{payment_id}", {"Host": API_DOMAIN}, None
        )
        return decode(self.invoke("IngressFunction", event))

    def validate(self, payment_id: str) -> dict[str, Any]:
        """Invoke ValidatePayment as the state machine does."""
        arn = f"arn:aws:states:{REGION}:123456789012:execution:PaymentStateMachine:{uuid.uuid4()}"
        return self.invoke(
            "ValidatePaymentFunction", {"payment_id": payment_id, "execution_arn": arn}
        )

    def deduct(self, payment_id: str) -> dict[str, Any]:
        """Invoke DeductAmount as the state machine does."""
        return self.invoke("DeductAmountFunction", {"payment_id": payment_id})

    def account(self, account_id: str, balance_minor: int, currency: str = "USD") -> None:
        """An account with its opening ledger entry."""
        create_account(self.ddb, self.tables, account_id, balance_minor, currency)

    def items(self, table: str) -> list[dict[str, Any]]:
        """Every item of a table, raw (typed) form."""
        return list(self.ddb.scan(TableName=table)["Items"])

    def payment_item(self, payment_id: str) -> dict[str, Any]:
        """The stored payment, raw form."""
        return dict(self.ddb.get_item(
            TableName=self.tables.payments, Key={"payment_id": {"S": payment_id}}
        )["Item"])  # fmt: skip

    def balance(self, account_id: str) -> int:
        """The account's balance in minor units."""
        item = self.ddb.get_item(
            TableName=self.tables.accounts, Key={"account_id": {"S": account_id}}
        )["Item"]
        return int(item["balance_minor"]["N"])

    def drain(self, queue_url: str | None = None) -> list[str]:
        """Receive and delete every message now in the queue; their bodies."""
        url = queue_url or self.queue_url
        bodies: list[str] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def api_event(
    method: str, path: str, resource: str, headers: dict[str, str], body: str | None
) -> dict[str, Any]:
    """A REST API (v1) proxy event as API Gateway sends it for stage v1."""
    # Only GET /payments/{payment_id} has a path parameter: the POST resources are static.
    params = {"payment_id": path.rsplit("/", 1)[1]} if "{payment_id}" in resource else None
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "domainName": API_DOMAIN,
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def decode(response: dict[str, Any]) -> Response:
    """Status, headers and JSON body of a proxy response."""
    headers = {name: str(value) for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ",".join(values)
    body = json.loads(response["body"]) if response.get("body") else None
    return Response(response["statusCode"], headers, body)


# ------------------------------------------------------------------ shared test steps
AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def pay(stack: Stack, number: str = "4242424242424242", key: str = "k", **changes: Any) -> str:
    """Accept a card payment through the real ingress handler; its payment_id."""
    body = {
        "amount_minor": 1250,
        "currency": "USD",
        "account_id": "acc_demo",
        "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    } | changes
    response = stack.post("card", body, key=key)
    assert response.status == 202, response.body
    return str(response.body["payment_id"])


def age(
    stack: Stack, payment_id: str, when: datetime = AN_HOUR_AGO, status: str | None = None
) -> None:
    """Move a payment's created_at/updated_at back (and optionally set its status)."""
    stamp = iso_timestamp(when)
    update = "SET created_at = :t, updated_at = :t"
    values = {":t": {"S": stamp}}
    if status:
        update += ", #s = :s"
        values[":s"] = {"S": status}
    stack.ddb.update_item(
        TableName=stack.tables.payments,
        Key={"payment_id": {"S": payment_id}},
        UpdateExpression=update,
        ExpressionAttributeValues=values,
        **({"ExpressionAttributeNames": {"#s": "status"}} if status else {}),
    )


def stranded(stack: Stack, key: str) -> str:
    """A payment accepted an hour ago whose queue message never arrived."""
    payment_id = pay(stack, key=key)
    assert stack.drain() == [json.dumps({"payment_id": payment_id})]
    age(stack, payment_id)
    return payment_id


def deduct_as_the_state_machine_does(stack: Stack, validation: dict[str, Any]) -> dict[str, Any]:
    """DeductAmount with the ASL's payload: the payment id and ValidatePayment's account_id."""
    payload = {"payment_id": validation["payment_id"], "account_id": validation["account_id"]}
    return stack.invoke("DeductAmountFunction", payload)
