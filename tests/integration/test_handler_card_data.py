"""No full card number (PAN) or CVC anywhere after card payments: tables, queues, logs."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from handler_harness import Stack

PAN = "4242424242424242"
BAD_PAN = "4242424242424241"
CVC = "7391"  # four digits: unlikely to occur by chance in timestamps, ids or balances
CVC_RE = re.compile(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])")


def card_body(number: str) -> dict[str, object]:
    return {
        "amount_minor": 1250,
        "currency": "USD",
        "account_id": "acc_demo",
        "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": CVC},
    }


def assert_clean(text: str, where: str) -> None:
    """Neither the PAN (or the bad PAN) nor the CVC appears in `text`."""
    assert PAN not in text, f"PAN found in {where}"
    assert BAD_PAN not in text, f"PAN found in {where}"
    assert not CVC_RE.search(text), f"CVC found in {where}"
    assert '"cvc"' not in text.lower(), f"a cvc field found in {where}"


def test_no_pan_or_cvc_anywhere_after_card_payments(
    stack: Stack,
    handler_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A payment through ingress, ValidatePayment and DeductAmount, a replay, a GET and a
    rejected bad number: then every table, every queue message and every captured log line
    (handler JSON logs, every logger at DEBUG incl. botocore, stdout/stderr) is free of the
    PAN and CVC."""
    caplog.set_level(logging.DEBUG)
    stack.account("acc_demo", 10_000)
    accepted = stack.post("card", card_body(PAN), key="pan-1")
    assert accepted.status == 202
    payment_id = accepted.body["payment_id"]
    assert stack.post("card", card_body(PAN), key="pan-1").status == 202
    assert stack.post("card", card_body(BAD_PAN), key="pan-2").status == 400
    assert stack.validate(payment_id)["outcome"] == "APPROVED"
    assert stack.deduct(payment_id)["outcome"] == "SUCCEEDED"
    assert stack.get(payment_id).status == 200
    for table in (stack.tables.payments, stack.tables.accounts, stack.tables.ledger,
                  stack.tables.idempotency):  # fmt: skip
        items = stack.items(table)
        assert items, f"{table} is empty: the scan proves nothing"
        assert_clean(json.dumps(items), table)
    bodies = stack.drain() + stack.drain(stack.dlq_url)
    assert bodies, "no queue message: the scan proves nothing"
    assert_clean(json.dumps(bodies), "queue messages")
    handler_text = handler_logs.getvalue()
    assert payment_id in handler_text, "handler logs must carry payment_id"
    assert_clean(handler_text, "handler logs")
    assert_clean("\n".join(r.getMessage() for r in caplog.records), "captured log records")
    captured = capsys.readouterr()
    assert_clean(captured.out + captured.err, "stdout/stderr")
    stored = stack.payment_item(payment_id)
    assert {"card_brand", "card_bin", "card_last4", "card_fingerprint"} <= set(stored)
    assert stored["card_bin"]["S"] == PAN[:6]
    assert stored["card_last4"]["S"] == PAN[-4:]


def test_every_handler_log_line_has_the_payment_id(stack: Stack, handler_logs: io.StringIO) -> None:
    """Logger keys: each line a handler writes for a payment names it, so one payment's
    story can be filtered out of CloudWatch."""
    stack.account("acc_demo", 10_000)
    payment_id = stack.post("card", card_body(PAN), key="k").body["payment_id"]
    stack.validate(payment_id)
    stack.deduct(payment_id)
    lines = [json.loads(line) for line in handler_logs.getvalue().splitlines() if line]
    assert {line["message"] for line in lines} >= {
        "payment accepted", "payment validated", "payment settled"
    }  # fmt: skip
    assert {line.get("payment_id") for line in lines} == {payment_id}
