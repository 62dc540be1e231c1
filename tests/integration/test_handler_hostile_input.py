"""Ingress against hostile input (issue 9 defects 2, 4, 5): any byte string gets a 4xx with the
JSON error body, unknown fields are refused at every depth, and no value that failed
validation reaches a log key or an error message."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from handler_harness import API_DOMAIN, Stack, api_event, decode

PAN = "4111111111111111"


def card_body(**card_changes: Any) -> dict[str, Any]:
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    return {
        "amount_minor": 1250,
        "currency": "USD",
        "account_id": "acc_demo",
        "card": card | card_changes,
    }


def post_raw(stack: Stack, raw: bytes, method: str = "card") -> Any:
    """POST bytes as API Gateway passes a body that is not UTF-8 text: base64-encoded."""
    headers = {"Content-Type": "application/json", "Host": API_DOMAIN, "Idempotency-Key": "k-raw"}
    path = f"/payments/{method}"
    event = api_event("POST", path, path, headers, None)
    event["body"] = base64.b64encode(raw).decode()
    event["isBase64Encoded"] = True
    return decode(stack.invoke("IngressFunction", event))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00{",
        b'{"amount_minor": 1250, "currency": "\xe9UR"}',
        b"\x80" * 64,
        b"[" * 100_000,
        b"",
    ],
    ids=["bom-like", "latin1-in-json", "continuation-bytes", "deep-nesting", "empty"],
)
def test_any_byte_string_gets_a_400_with_the_json_error_body(stack: Stack, raw: bytes) -> None:
    """Bodies that are not UTF-8 JSON were a 502 (the decode ran outside the error handling):
    now 400 invalid_json, and nothing is written."""
    stack.account("acc_demo", 10_000)
    response = post_raw(stack, raw)
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_json"
    assert stack.items(stack.tables.payments) == []
    assert stack.drain() == []


@pytest.mark.parametrize(
    ("method", "details"),
    [
        ("card", {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
                  "cvc": "123", "nickname": "x"}),
        ("bank", {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}),
        ("wallet", {"wallet_id": "wal_12345678", "pin": "0000"}),
    ],
)  # fmt: skip
def test_unknown_fields_inside_the_method_object_are_refused(
    stack: Stack, method: str, details: dict[str, Any]
) -> None:
    """One rule for the whole body: an unknown nested field is a 400, as a top-level one is
    (it was a 202)."""
    stack.account("acc_demo", 10_000)
    body = {"amount_minor": 1250, "currency": "USD", "account_id": "acc_demo", method: details}
    response = stack.post(method, body)
    assert response.status == 400
    assert response.body["error"]["code"] == "invalid_request"
    assert f"{method}." in response.body["error"]["message"]
    assert stack.items(stack.tables.payments) == []


def test_an_unknown_field_named_like_a_card_number_is_not_echoed(
    stack: Stack, handler_logs: io.StringIO
) -> None:
    """The error names safe field names and only counts the others: a field name may be a
    PAN, and neither the response nor the log repeats it."""
    stack.account("acc_demo", 10_000)
    body = card_body() | {PAN: 1, "color": "red"}
    response = stack.post("card", body)
    assert response.status == 400
    message = response.body["error"]["message"]
    assert "color" in message
    assert "1 other field(s)" in message
    assert PAN not in json.dumps(response.body)
    assert PAN not in handler_logs.getvalue()
    nested = stack.post("card", card_body(**{PAN: 1}), key="key-2")
    assert nested.status == 400
    assert PAN not in json.dumps(nested.body)


def test_a_card_number_in_the_url_is_never_logged_or_echoed(
    stack: Stack, handler_logs: io.StringIO
) -> None:
    """GET /payments/{PAN}: 404 payment_not_found; the log has the rejected id's kind and
    length only (the id was appended to the log keys before its format was checked)."""
    response = stack.get(PAN)
    assert response.status == 404
    assert response.body["error"]["code"] == "payment_not_found"
    assert PAN not in json.dumps(response.body)
    text = handler_logs.getvalue()
    assert PAN not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "the handler logged nothing: the check proves nothing"
    assert all("payment_id" not in line for line in lines)
    assert {"kind": "str", "length": len(PAN)} in [line.get("invalid_payment_id") for line in lines]


@pytest.mark.parametrize("function", ["ValidatePaymentFunction", "DeductAmountFunction"])
def test_workflow_handlers_do_not_log_a_malformed_payment_id(
    stack: Stack, handler_logs: io.StringIO, function: str
) -> None:
    """A message whose payment_id is not one (a PAN, say) fails PaymentNotFoundError without
    the value in a log key or in the error's message (the execution history keeps it)."""
    with pytest.raises(Exception, match="does not exist") as raised:
        stack.invoke(function, {"payment_id": PAN, "execution_arn": "arn:x"})
    assert type(raised.value).__name__ == "PaymentNotFoundError"
    assert PAN not in str(raised.value)
    assert PAN not in handler_logs.getvalue()


@pytest.mark.parametrize(
    "case",
    [
        ("card", card_body(), f"order-{PAN}", 400, "invalid_idempotency_key"),
        ("wallet", {"amount_minor": 100, "currency": "USD", "account_id": "acc_demo",
                    "wallet": {"wallet_id": f"wal_{PAN}"}}, "k1", 400, "invalid_wallet_id"),
        ("card", card_body() | {"account_id": PAN}, "k2", 404, "account_not_found"),
        ("card", card_body() | {"amount_minor": PAN}, "k3", 400, "invalid_amount"),
    ],
    ids=["idempotency-key", "wallet-id", "account-id", "amount"],
)  # fmt: skip
def test_a_card_number_in_any_field_is_neither_stored_nor_echoed(
    stack: Stack, handler_logs: io.StringIO, case: tuple[str, Any, str, int, str]
) -> None:
    """Fields that are stored as sent (the Idempotency-Key, a wallet id) refuse a card
    number; every error message masks one (an account id or amount quoted back)."""
    method, body, key, status, code = case
    stack.account("acc_demo", 10_000)
    response = stack.post(method, body, key=key)
    assert (response.status, response.body["error"]["code"]) == (status, code)
    assert PAN not in json.dumps(response.body)
    assert PAN not in handler_logs.getvalue()
    assert stack.items(stack.tables.payments) == []
    assert stack.items(stack.tables.idempotency) == []


def test_find_and_mask_pans() -> None:
    from paystack.domain.redact import find_pans, mask_pans  # noqa: PLC0415

    text = f"a {PAN} b 4111111111111112 c pay_{'1' * 16}abc d-378282246310005-e x{PAN}"
    assert find_pans(text) == [PAN, "378282246310005"]
    assert mask_pans(text).count("digits]") == 2
    assert PAN in mask_pans(f"x{PAN}")  # glued to letters: part of another token, kept
    assert find_pans("SentTimestamp 1796193485333") == []  # epoch ms (Luhn-valid by chance)
