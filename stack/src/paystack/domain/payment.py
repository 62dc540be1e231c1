"""The payment: statuses, methods, the record, the item stored in PaymentsTable, and the view.

One definition each (CONVENTIONS 11): the record's fields map to item attributes of the same
name; each method's details map to prefixed attributes (one row of METHOD_TABLE per method);
the public view (docs/design.md, "Payment view") is derived from both. The API returns it, and
`paycli pay --json` and `payments get --json` print it plus the documented operator fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from paystack.domain.methods import BankDetails, CardDetails, check_card, check_iban, check_wallet
from paystack.domain.timestamps import normalize_timestamp


class Status(StrEnum):
    """PENDING -> PROCESSING -> SUCCEEDED | DECLINED | FAILED (a FAILED one may be redriven)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


# Settled payments never change again: every later write carries a condition against these.
SETTLED: frozenset[str] = frozenset({Status.SUCCEEDED, Status.DECLINED})
#: Statuses whose `reason` the public view shows (a reason on any other is stale).
WITH_REASON: frozenset[str] = frozenset({Status.DECLINED, Status.FAILED})


class Method(StrEnum):
    """The payment methods: POST /payments/{method}, the `pay` command's argument."""

    CARD = "card"
    BANK = "bank"
    WALLET = "wallet"


@dataclass(frozen=True, slots=True)
class WalletDetails:
    """What is stored about a wallet: its id."""

    wallet_id: str


Details = CardDetails | BankDetails | WalletDetails


@dataclass(frozen=True)
class MethodSpec:
    """One method's row: its details type and how it is read, stored and shown."""

    details: type[CardDetails] | type[BankDetails] | type[WalletDetails]
    #: Each details field is stored as item attribute `item_prefix + name`.
    item_prefix: str
    #: The details fields the public view shows, under the method's name.
    public: tuple[str, ...]
    #: The request object's fields (stack/openapi.yaml; anything else is refused).
    request_fields: frozenset[str]
    #: Validates the request object into storable details: (object, fingerprint key, now).
    check: Callable[[Mapping[str, Any], bytes, datetime], Details]
    #: A test instrument the simulated issuer approves (demos, `pay` without one).
    test_instrument: Mapping[str, Any]


METHOD_TABLE: Final[Mapping[Method, MethodSpec]] = MappingProxyType(
    {
        Method.CARD: MethodSpec(
            CardDetails,
            "card_",
            ("brand", "last4"),
            frozenset({"number", "exp_month", "exp_year", "cvc"}),
            check_card,
            {"number": "4242424242424242", "cvc": "123"},
        ),
        Method.BANK: MethodSpec(
            BankDetails,
            "iban_",
            ("country", "last4"),
            frozenset({"iban"}),
            lambda raw, key, _now: check_iban(raw, key),
            {"iban": "DE89370400440532013000"},
        ),
        Method.WALLET: MethodSpec(
            WalletDetails,
            "",
            ("wallet_id",),
            frozenset({"wallet_id"}),
            lambda raw, _key, _now: WalletDetails(check_wallet(raw)),
            {"wallet_id": "wal_demo0001"},
        ),
    }
)
METHODS: tuple[str, ...] = tuple(Method)


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment as stored; `details` are its method's (None only on a malformed item)."""

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
    details: Details | None = None

    @property
    def settled(self) -> bool:
        """SUCCEEDED or DECLINED: final, whatever retries or redrives come later."""
        return self.status in SETTLED

    @property
    def card(self) -> CardDetails | None:
        """The card's storable details, on a card payment."""
        return self.details if isinstance(self.details, CardDetails) else None

    @property
    def bank(self) -> BankDetails | None:
        """The bank account's storable details, on a bank payment."""
        return self.details if isinstance(self.details, BankDetails) else None

    @property
    def wallet_id(self) -> str | None:
        """The wallet id, on a wallet payment."""
        return self.details.wallet_id if isinstance(self.details, WalletDetails) else None


#: The record's own fields, stored under the same attribute names.
RECORD_FIELDS: Final = tuple(f.name for f in fields(Payment) if f.name != "details")
_REQUIRED: Final = tuple(f.name for f in fields(Payment) if f.default is not None)
#: The public view's fields (docs/design.md, "Payment view"), then the method's object.
VIEW_FIELDS: Final = (
    "payment_id",
    "status",
    "method",
    "account_id",
    "amount_minor",
    "currency",
    "created_at",
    "updated_at",
    "reason",
)


def method_spec(method: str) -> MethodSpec | None:
    """The method's row, or None for a name that is not a method."""
    return METHOD_TABLE.get(Method(method)) if method in METHODS else None


def payment_to_attributes(payment: Payment) -> dict[str, Any]:
    """The PaymentsTable attributes (plain values; None means absent)."""
    attrs = {name: getattr(payment, name) for name in RECORD_FIELDS}
    spec = method_spec(payment.method)
    if spec is not None and payment.details is not None:
        attrs |= {
            spec.item_prefix + f.name: getattr(payment.details, f.name)
            for f in fields(payment.details)
        }
    return attrs


def payment_from_attributes(attrs: Mapping[str, Any]) -> Payment:
    """Inverse of payment_to_attributes (numbers already converted to int)."""
    values = {name: attrs[name] for name in _REQUIRED}
    values |= {name: attrs.get(name) for name in RECORD_FIELDS if name not in _REQUIRED}
    values["updated_at"] = normalize_timestamp(values["updated_at"])  # MarkFailed: EnteredTime
    return Payment(**values, details=_details(attrs))


def _details(attrs: Mapping[str, Any]) -> Details | None:
    spec = method_spec(str(attrs.get("method")))
    if spec is None:
        return None
    names = [f.name for f in fields(spec.details)]
    if not all(spec.item_prefix + name in attrs for name in names):
        return None
    return spec.details(**{name: attrs[spec.item_prefix + name] for name in names})


def payment_view(payment: Payment) -> dict[str, Any]:
    """The public JSON shape of a payment (docs/design.md). `reason` is null unless the
    payment was declined or failed; method details show only what METHOD_TABLE makes public
    (brand/country and last four, or the wallet id)."""
    view = {name: getattr(payment, name) for name in VIEW_FIELDS}
    if payment.status not in WITH_REASON:
        view["reason"] = None
    spec = method_spec(payment.method)
    if spec is not None and payment.details is not None:
        view[payment.method] = {name: getattr(payment.details, name) for name in spec.public}
    return view
