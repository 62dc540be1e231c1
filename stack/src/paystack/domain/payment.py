"""The payment record: statuses, the item stored in PaymentsTable, and the public view.

The public view (docs/design.md, "Payment view") is what the API returns, what `paycli pay
--json` and `payments get --json` print: its field names are a contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from paystack.domain.dynamo import normalize_timestamp
from paystack.domain.methods import BankDetails, CardDetails


class Status(StrEnum):
    """PENDING -> PROCESSING -> SUCCEEDED | DECLINED | FAILED (a FAILED one may be redriven)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


# Settled payments never change again: every later write carries a condition against these.
SETTLED: frozenset[str] = frozenset({Status.SUCCEEDED, Status.DECLINED})

METHODS: tuple[str, ...] = ("card", "bank", "wallet")


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment as stored. Exactly one of card / bank / wallet_id is set, per `method`."""

    payment_id: str
    status: str
    method: str
    account_id: str
    amount_minor: int
    currency: str
    created_at: str
    updated_at: str
    idempotency_key: str | None = None
    reason: str | None = None
    error: str | None = None
    cause: str | None = None
    execution_arn: str | None = None
    card: CardDetails | None = None
    bank: BankDetails | None = None
    wallet_id: str | None = None

    @property
    def settled(self) -> bool:
        """SUCCEEDED or DECLINED: final, whatever retries or redrives come later."""
        return self.status in SETTLED


def payment_to_attributes(payment: Payment) -> dict[str, Any]:
    """The PaymentsTable attributes (plain values; None means absent)."""
    attrs: dict[str, Any] = {
        "payment_id": payment.payment_id,
        "status": payment.status,
        "method": payment.method,
        "account_id": payment.account_id,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "idempotency_key": payment.idempotency_key,
        "reason": payment.reason,
        "error": payment.error,
        "cause": payment.cause,
        "execution_arn": payment.execution_arn,
        "wallet_id": payment.wallet_id,
    }
    if payment.card is not None:
        attrs |= {
            "card_brand": payment.card.brand,
            "card_bin": payment.card.bin,
            "card_last4": payment.card.last4,
            "card_fingerprint": payment.card.fingerprint,
            "card_exp_month": payment.card.exp_month,
            "card_exp_year": payment.card.exp_year,
        }
    if payment.bank is not None:
        attrs |= {
            "iban_country": payment.bank.country,
            "iban_last4": payment.bank.last4,
            "iban_fingerprint": payment.bank.fingerprint,
        }
    return attrs


def payment_from_attributes(attrs: Mapping[str, Any]) -> Payment:
    """Inverse of payment_to_attributes (numbers already converted to int)."""
    card = None
    if "card_last4" in attrs:
        card = CardDetails(
            brand=attrs["card_brand"],
            bin=attrs["card_bin"],
            last4=attrs["card_last4"],
            exp_month=attrs["card_exp_month"],
            exp_year=attrs["card_exp_year"],
            fingerprint=attrs["card_fingerprint"],
        )
    bank = None
    if "iban_last4" in attrs:
        bank = BankDetails(
            country=attrs["iban_country"],
            last4=attrs["iban_last4"],
            fingerprint=attrs["iban_fingerprint"],
        )
    return Payment(
        payment_id=attrs["payment_id"],
        status=attrs["status"],
        method=attrs["method"],
        account_id=attrs["account_id"],
        amount_minor=attrs["amount_minor"],
        currency=attrs["currency"],
        created_at=attrs["created_at"],
        updated_at=normalize_timestamp(attrs["updated_at"]),  # MarkFailed writes EnteredTime
        idempotency_key=attrs.get("idempotency_key"),
        reason=attrs.get("reason"),
        error=attrs.get("error"),
        cause=attrs.get("cause"),
        execution_arn=attrs.get("execution_arn"),
        card=card,
        bank=bank,
        wallet_id=attrs.get("wallet_id"),
    )


def payment_view(payment: Payment) -> dict[str, Any]:
    """The public JSON shape of a payment (docs/design.md). `reason` is null unless the
    payment was declined or failed; method details show only brand/country and last four."""
    view: dict[str, Any] = {
        "payment_id": payment.payment_id,
        "status": payment.status,
        "method": payment.method,
        "account_id": payment.account_id,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "reason": payment.reason if payment.status in (Status.DECLINED, Status.FAILED) else None,
    }
    if payment.card is not None:
        view["card"] = {"brand": payment.card.brand, "last4": payment.card.last4}
    if payment.bank is not None:
        view["bank"] = {"country": payment.bank.country, "last4": payment.bank.last4}
    if payment.wallet_id is not None:
        view["wallet"] = {"wallet_id": payment.wallet_id}
    return view
