"""The real daemon against hostile clients (issue 9 defects 2-7 and the request models): every
refusal is a 4xx with a JSON body, nothing is stored for it, the daemon keeps serving."""

from __future__ import annotations

import json
import socket
import stat
import uuid
from typing import Any

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e_support import TEST_CARDS, LocalStackHandle

pytestmark = pytest.mark.e2e

PAN = "4111111111111111"


def _count(local_stack: LocalStackHandle, table_output: str) -> int:
    ddb = local_stack.client("dynamodb")
    return int(ddb.scan(TableName=local_stack.outputs[table_output], Select="COUNT")["Count"])


def _card_body(account_id: str, **card: Any) -> dict[str, Any]:
    return {
        "amount_minor": 100,
        "currency": "USD",
        "account_id": account_id,
        "card": {"number": TEST_CARDS["approved"], "exp_month": 12, "exp_year": 2035,
                 "cvc": "123"} | card,
    }  # fmt: skip


def test_a_body_outside_the_request_model_is_refused_by_the_gateway(
    local_stack: LocalStackHandle,
) -> None:
    """The deployed route carries the template's model: API Gateway's own 400, the handler is
    never invoked and nothing is stored."""
    account = local_stack.create_account(10_000)
    before = _count(local_stack, "PaymentsTableName")
    response = local_stack.request(
        "POST",
        "/payments/card",
        json_body=_card_body(account, nickname="x"),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status == 400
    assert response.json() == {"message": "Invalid request body"}
    assert response.headers.get("x-amzn-ErrorType") == "BadRequestException"
    assert _count(local_stack, "PaymentsTableName") == before


def test_a_body_that_is_not_utf8_is_a_400(local_stack: LocalStackHandle) -> None:
    response = local_stack.request(
        "POST", "/payments/card", body=b"\xff\xfe{\x80}", headers={"Idempotency-Key": "k-bytes"}
    )
    assert response.status == 400
    assert "message" in response.json()


def test_a_card_number_in_the_url_reaches_no_log(local_stack: LocalStackHandle) -> None:
    response = local_stack.request("GET", f"/payments/{PAN}")
    assert response.status == 404
    assert PAN not in response.body.decode()
    handler_log = local_stack.home / "local" / "handler-logs.jsonl"
    assert PAN not in handler_log.read_text(encoding="utf-8")
    assert stat.S_IMODE(handler_log.stat().st_mode) == 0o600


def test_bad_content_lengths_are_answered_at_once(local_stack: LocalStackHandle) -> None:
    port = int(local_stack.api_url.split(":")[2].split("/")[0])
    for length in ("abc", "-5", "-1"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            head = f"POST /v1/payments/card HTTP/1.1\r\nHost: x\r\nContent-Length: {length}"
            conn.sendall(f"{head}\r\n\r\n".encode())
            assert conn.recv(4096).startswith(b"HTTP/1.1 400"), length
    assert local_stack.request("GET", "/payments/pay_" + "0" * 32).status == 404


def test_a_presigned_url_reads_a_payment(local_stack: LocalStackHandle) -> None:
    import urllib.request  # noqa: PLC0415

    account = local_stack.create_account(10_000)
    payment_id = local_stack.pay_card(account, 100, TEST_CARDS["approved"]).json()["payment_id"]
    aws = AWSRequest(method="GET", url=f"{local_stack.api_url}/payments/{payment_id}")
    credentials = Credentials(local_stack.access_key, local_stack.secret_key)
    SigV4QueryAuth(credentials, "execute-api", local_stack.region, expires=60).add_auth(aws)
    with urllib.request.urlopen(aws.url, timeout=10) as reply:  # noqa: S310 - local API
        assert json.loads(reply.read())["payment_id"] == payment_id
