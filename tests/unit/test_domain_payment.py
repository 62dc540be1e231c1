"""The payment record: item mapping round trip and the public view's contract."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from paystack.domain.dynamo import from_item, iso_timestamp, to_item
from paystack.domain.methods import BankDetails, CardDetails
from paystack.domain.payment import (
    SETTLED,
    Payment,
    Status,
    WalletDetails,
    payment_from_attributes,
    payment_to_attributes,
    payment_view,
)

CARD = CardDetails("visa", "424242", "4242", 12, 2030, "f" * 64)
BASE = Payment(
    payment_id="pay_" + "a" * 32,
    status=Status.PENDING,
    method="card",
    account_id="acc_demo",
    amount_minor=1250,
    currency="USD",
    created_at="2026-11-26T12:00:00.000Z",
    updated_at="2026-11-26T12:00:00.000Z",
    idempotency_key="key-1",
    details=CARD,
)


@pytest.mark.parametrize(
    "payment",
    [
        BASE,
        replace(BASE, status=Status.DECLINED, reason="generic_decline", execution_arn="arn:x"),
        replace(BASE, method="bank", details=BankDetails("DE", "3000", "e" * 64)),
        replace(BASE, method="wallet", details=WalletDetails("wal_abcdEFGH")),
    ],
)
def test_item_round_trip(payment: Payment) -> None:
    """Payment -> DynamoDB item -> Payment is the identity; numbers come back as int."""
    item = to_item(payment_to_attributes(payment))
    assert item["amount_minor"] == {"N": "1250"}
    back = payment_from_attributes(from_item(item))
    assert back == payment
    assert type(back.amount_minor) is int


def test_item_has_no_null_attributes() -> None:
    """Absent optional fields are absent attributes, not NULLs (GSIs and conditions rely on it)."""
    item = to_item(payment_to_attributes(BASE))
    assert "reason" not in item
    assert all("NULL" not in value for value in item.values())


def test_view_contract() -> None:
    """The documented field names, card as {brand, last4}, no BIN or fingerprint."""
    view = payment_view(BASE)
    assert set(view) == {
        "payment_id", "status", "method", "account_id", "amount_minor", "currency",
        "created_at", "updated_at", "reason", "card",
    }  # fmt: skip
    assert view["card"] == {"brand": "visa", "last4": "4242"}
    assert view["reason"] is None


def test_view_shows_reason_only_when_declined_or_failed() -> None:
    """A stale reason on a SUCCEEDED payment is not shown; DECLINED/FAILED show theirs."""
    assert payment_view(replace(BASE, status=Status.SUCCEEDED, reason="x"))["reason"] is None
    assert payment_view(replace(BASE, status=Status.DECLINED, reason="y"))["reason"] == "y"
    assert payment_view(replace(BASE, status=Status.FAILED, reason="z"))["reason"] == "z"


def test_settled_statuses() -> None:
    """Only SUCCEEDED and DECLINED are final; FAILED can be redriven."""
    assert {str(status) for status in SETTLED} == {"SUCCEEDED", "DECLINED"}
    assert replace(BASE, status=Status.SUCCEEDED).settled
    assert not replace(BASE, status=Status.FAILED).settled


def test_fractional_numbers_are_refused_at_the_boundary() -> None:
    """A non-integer number read from a table is corruption, not something to round."""
    with pytest.raises(ValueError, match="non-integer"):
        from_item({"amount_minor": {"N": "12.5"}})


def test_timestamps_are_utc_millis_z() -> None:
    """ISO-8601 UTC with milliseconds and Z, from any timezone."""
    moment = datetime(2026, 11, 26, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso_timestamp(moment) == "2026-11-26T12:00:00.123Z"


def test_floats_never_reach_dynamodb() -> None:
    """boto3's serializer refuses floats: an amount can only be stored as an integer."""
    with pytest.raises(TypeError):
        to_item({"amount_minor": 12.5})
