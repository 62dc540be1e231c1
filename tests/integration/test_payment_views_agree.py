"""One payment view: GET /payments/{id} (the real ingress handler) and `paycli payments get
--json` (the real CLI over the same moto tables, injected AppContext) print the same fields,
apart from the CLI's documented operator fields (OPERATOR_FIELDS: error, execution_arn)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from paystack.domain.dynamo import to_item
from paystack.domain.methods import BankDetails, CardDetails
from paystack.domain.payment import Payment, Status, WalletDetails, payment_to_attributes
from state_machine_support import TEMPLATE, TIME_SCALE, Env
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.aws import AwsTarget, StackOutputs
from paycli.core.context import AppContext
from paycli.core.payments import OPERATOR_FIELDS
from paycli.core.settings import Settings
from paycli.local.api import HttpRequest, RouteTable, build_proxy_event
from paycli.local.stack import LocalStack

REGION = "us-east-1"
STAMP = "2026-11-26T12:00:00.000Z"
BASE = Payment(
    payment_id="",
    status=Status.PENDING,
    method="card",
    account_id="acc_views",
    amount_minor=1250,
    currency="USD",
    created_at=STAMP,
    updated_at=STAMP,
    idempotency_key="views-1",
    details=CardDetails("visa", "424242", "4242", 12, 2030, "f" * 64),
)
CASES = {
    "pending card": BASE,
    # A reason left from an earlier attempt: the API's view hides it, and so must the CLI's.
    "processing with a stale reason": replace(BASE, status=Status.PROCESSING, reason="stale"),
    "declined": replace(BASE, status=Status.DECLINED, reason="insufficient_funds"),
    "failed": replace(
        BASE,
        status=Status.FAILED,
        reason="processing_error",
        error="IssuerUnavailableError",
        cause="issuer unavailable",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:sm:x",
    ),
    "bank": replace(BASE, method="bank", details=BankDetails("DE", "3000", "e" * 64)),
    "wallet": replace(BASE, method="wallet", details=WalletDetails("wal_abcdEFGH")),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    stack = LocalStack(time_scale=TIME_SCALE, log_dir=tmp_path_factory.mktemp("logs"))
    stack.start()
    try:
        yield Env(stack, stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1"))
    finally:
        stack.stop()


@pytest.fixture
def cli_context(env: Env, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    """A frozen AppContext on the AWS target, whose clients moto (in process) answers."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(target="aws", region=REGION, stack_name="paycli")
    outputs = StackOutputs.from_mapping(dict(env.deployment.outputs), where="local stack")
    return AppContext(settings, AwsTarget(settings, outputs=outputs))


def _store(env: Env, payment: Payment) -> str:
    payment_id = f"pay_{uuid.uuid4().hex}"
    env.stack.client("dynamodb").put_item(
        TableName=env.deployment.outputs["PaymentsTableName"],
        Item=to_item(payment_to_attributes(replace(payment, payment_id=payment_id))),
    )
    return payment_id


def _api_get(env: Env, payment_id: str) -> dict[str, Any]:
    path = f"/payments/{payment_id}"
    request = HttpRequest(
        method="GET",
        raw_path=f"/v1{path}",
        headers=[("Host", "127.0.0.1")],
        body=b"",
        source_ip="127.0.0.1",
    )
    match = RouteTable(env.deployment.routes).match("GET", "v1", path)
    assert match is not None
    event = build_proxy_event(request, match, request_id=uuid.uuid4().hex, account_id="1" * 12)
    result = env.stack.runner.invoke(match.route.function_name, json.dumps(event).encode())
    response = json.loads(result.payload)
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = json.loads(response["body"])
    return body


@pytest.mark.parametrize("case", list(CASES))
def test_api_and_cli_show_the_same_payment(env: Env, cli_context: AppContext, case: str) -> None:
    payment = CASES[case]
    payment_id = _store(env, payment)

    api = _api_get(env, payment_id)
    result = CliRunner().invoke(app, ["payments", "get", payment_id, "--json"], obj=cli_context)

    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    assert {key: value for key, value in cli.items() if key not in OPERATOR_FIELDS} == api
    assert {key: cli[key] for key in OPERATOR_FIELDS} == {
        "error": payment.error,
        "cause": payment.cause,
        "execution_arn": payment.execution_arn,
    }
    if payment.status not in {Status.DECLINED, Status.FAILED}:
        assert cli["reason"] is None
