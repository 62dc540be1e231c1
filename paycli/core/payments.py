"""Payments: send one (signed HTTP to the API), follow it to its end, get and list them.

Listing never scans: a status filter queries the ByStatus index, an account filter the ByAccount
index, and a listing without either merges one ByStatus query per status (newest first), so even
`payments list --method card` reads only index partitions.
"""

from __future__ import annotations

import heapq
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from paystack.domain.dynamo import TableNames, from_item
from paystack.domain.errors import PaymentNotFoundError
from paystack.domain.money import MoneyError, parse_amount
from paystack.domain.payment import (
    METHOD_TABLE,
    METHODS,
    SETTLED,
    VIEW_FIELDS,
    Method,
    Status,
    payment_from_attributes,
    payment_view,
)
from paystack.domain.payment import Payment as Record
from paystack.domain.store import get_payment

from paycli.core import inputs
from paycli.core.api import ApiClient
from paycli.core.errors import UsageError, WaitTimeoutError, to_paycli_error
from paycli.core.timeparse import iso_z

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["METHODS", "Method"]

STATUSES: Final = tuple(status.value for status in Status)
TERMINAL: Final = frozenset({*SETTLED, Status.FAILED})
#: The operator view adds these to the public view (README, "Payment JSON"): the failure's error
#: name and message (FAILED only) and the last execution, for `paycli executions show`.
OPERATOR_FIELDS: Final = ("error", "cause", "execution_arn")
#: Characters of a failure's message the operator view keeps.
CAUSE_LIMIT: Final = 500

#: Test instruments the simulated issuer approves, used when the user gives none.
DEFAULT_CARD: Final = str(METHOD_TABLE[Method.CARD].test_instrument["number"])
DEFAULT_CVC: Final = str(METHOD_TABLE[Method.CARD].test_instrument["cvc"])
DEFAULT_IBAN: Final = str(METHOD_TABLE[Method.BANK].test_instrument["iban"])
DEFAULT_WALLET: Final = str(METHOD_TABLE[Method.WALLET].test_instrument["wallet_id"])

# What a partial item (a listing's projection, a test's fake) lacks reads as empty.
_ABSENT: Final = {
    "status": "",
    "method": "",
    "account_id": "",
    "amount_minor": 0,
    "currency": "",
    "created_at": None,
    "updated_at": None,
}


@dataclass(frozen=True)
class Payment:
    """A payment as the CLI prints it: the API's public view (derived by the domain,
    paystack.domain.payment) plus the operator fields OPERATOR_FIELDS."""

    data: Mapping[str, Any]

    @property
    def payment_id(self) -> str:
        """pay_ + 32 hex digits."""
        return str(self.data["payment_id"])

    @property
    def status(self) -> str:
        """PENDING, PROCESSING, SUCCEEDED, DECLINED or FAILED."""
        return str(self.data.get("status") or "")

    @property
    def reason(self) -> str | None:
        """The decline or failure code (DECLINED and FAILED only)."""
        return self.data.get("reason")

    @property
    def created_at(self) -> str | None:
        """When the API accepted it (ISO 8601 UTC, milliseconds, Z)."""
        return self.data.get("created_at")

    @property
    def updated_at(self) -> str | None:
        """When it last changed (ISO 8601 UTC, milliseconds, Z)."""
        return self.data.get("updated_at")

    @property
    def execution_arn(self) -> str | None:
        """The last execution that touched it (operator view only)."""
        return self.data.get("execution_arn")

    @property
    def terminal(self) -> bool:
        """SUCCEEDED, DECLINED or FAILED: nothing more happens without a redrive."""
        return self.status in TERMINAL

    def view(self) -> dict[str, Any]:
        """Stable JSON fields (documented in the README)."""
        return dict(self.data)

    @classmethod
    def from_record(cls, record: Record) -> Payment:
        """The domain's public view of the record, plus the operator fields."""
        extras = {name: getattr(record, name) for name in OPERATOR_FIELDS}
        extras["cause"] = failure_message(record.cause)
        return cls(payment_view(record) | extras)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Payment:
        """From a PaymentsTable item (already deserialised)."""
        return cls.from_record(payment_from_attributes({**_ABSENT, **item}))

    @classmethod
    def from_view(cls, body: Mapping[str, Any]) -> Payment:
        """From the API's 202/200 body (the public view; operator fields null)."""
        method = str(body.get("method", ""))
        names = (*VIEW_FIELDS, method) if isinstance(body.get(method), dict) else VIEW_FIELDS
        data = {name: body.get(name) for name in names}
        return cls(data | dict.fromkeys(OPERATOR_FIELDS))


def failure_message(cause: str | None) -> str | None:
    """The message of a stored failure cause: a Lambda error's Cause is its JSON error
    ({"errorMessage", "errorType", "stackTrace"}): keep the message, so a handler that cannot
    even be imported (code changed under a running local stack) says why in `payments get`,
    not only in `paycli logs`. Any other cause is kept as written; both cut at CAUSE_LIMIT."""
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    message = parsed.get("errorMessage") if isinstance(parsed, dict) else None
    text = str(message) if message else cause
    return text if len(text) <= CAUSE_LIMIT else text[: CAUSE_LIMIT - 3] + "..."


@dataclass(frozen=True)
class PaymentInput:
    """A payment to send, validated once (`PayRequest.parse`): the API body and its key."""

    method: Method
    amount_minor: int
    currency: str
    account_id: str
    instrument: Mapping[str, Any]
    idempotency_key: str | None = None

    def body(self) -> dict[str, Any]:
        """The API request body."""
        return {
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "account_id": self.account_id,
            self.method.value: dict(self.instrument),
        }


@dataclass(frozen=True)
class PayRequest:
    """What the user asked to pay, as typed. The amount is text: parsed against the currency."""

    method: str
    amount: str
    currency: str
    account_id: str
    card_number: str = DEFAULT_CARD
    exp_month: int = 12
    exp_year: int = field(default_factory=lambda: datetime.now(UTC).year + 3)
    cvc: str = DEFAULT_CVC
    iban: str = DEFAULT_IBAN
    wallet_id: str = DEFAULT_WALLET
    idempotency_key: str | None = None

    def parse(self) -> PaymentInput:
        """The one validated value; a bad amount/currency/method/id is a UsageError here,
        before any lookup or call."""
        if self.method not in METHODS:
            raise UsageError(
                f"unknown payment method {self.method!r}", hint=f"use {', '.join(METHODS)}"
            )
        method = Method(self.method)
        currency = self.currency.upper()
        try:
            amount_minor = parse_amount(self.amount, currency)
        except MoneyError as exc:
            raise to_paycli_error(exc) from exc
        if self.idempotency_key is not None:
            inputs.idempotency_key(self.idempotency_key)
        inputs.account_id(self.account_id)
        instruments: dict[Method, Callable[[], dict[str, Any]]] = {  # only the method's checked
            Method.CARD: lambda: {
                "number": inputs.card_number(self.card_number),
                "exp_month": self.exp_month,
                "exp_year": self.exp_year,
                "cvc": self.cvc,
            },
            Method.BANK: lambda: {"iban": inputs.iban(self.iban)},
            Method.WALLET: lambda: {"wallet_id": inputs.wallet_id(self.wallet_id)},
        }
        instrument = instruments[method]()
        return PaymentInput(
            method, amount_minor, currency, self.account_id, instrument, self.idempotency_key
        )

    def body(self) -> dict[str, Any]:
        """The API request body (validated)."""
        return self.parse().body()


@dataclass(frozen=True)
class PayResult:
    """The accepted payment, the key it was sent with, and whether the API replayed it."""

    payment: Payment
    idempotency_key: str
    replayed: bool


@dataclass(frozen=True)
class PaymentFilter:
    """`payments list` filters; all optional. `since` is an aware UTC instant."""

    status: str | None = None
    method: str | None = None
    account_id: str | None = None
    since: datetime | None = None
    limit: int = 50


#: Which instrument option belongs to which method (`pay bank --card ...` is refused).
_INSTRUMENT_OPTIONS: Final = {Method.CARD: "card", Method.BANK: "iban", Method.WALLET: "wallet"}


def pay_request(  # noqa: PLR0917 - the pay command's options, in its order
    method: str,
    amount: str,
    currency: str,
    account_id: str,
    instrument: dict[str, str | None],
    idempotency_key: str | None = None,
) -> PayRequest:
    """A PayRequest from the `pay` options; an instrument option of another method is refused.

    `instrument` maps "card"/"iban"/"wallet" to what the user gave (None when not given).
    """
    wanted = _INSTRUMENT_OPTIONS.get(Method(method)) if method in METHODS else None
    for option, value in instrument.items():
        if value is not None and option != wanted:
            raise UsageError(
                f"--{option} does not apply to a {method} payment",
                hint=f"{method} takes --{wanted}" if wanted else None,
            )
    return PayRequest(
        method=method,
        amount=amount,
        currency=currency,
        account_id=account_id,
        card_number=_given(instrument, "card", DEFAULT_CARD),
        iban=_given(instrument, "iban", DEFAULT_IBAN),
        wallet_id=_given(instrument, "wallet", DEFAULT_WALLET),
        idempotency_key=idempotency_key,
    )


def _given(instrument: dict[str, str | None], option: str, default: str) -> str:
    """What the user typed (an empty string included: the API refuses it), else the default."""
    value = instrument.get(option)
    return default if value is None else value


class PaymentWaitTimeoutError(WaitTimeoutError):
    """`wait` ran out of time; `payment` is the payment as last seen (exit code TIMEOUT)."""

    def __init__(self, message: str, *, hint: str | None, payment: Payment) -> None:
        super().__init__(message, hint=hint)
        self.payment = payment


def new_idempotency_key() -> str:
    """A fresh key in the API's alphabet ([A-Za-z0-9_.:-], <= 255 chars)."""
    return f"paycli-{uuid.uuid4().hex}"


class PaymentsService:
    """Payments on one target: the API to pay and follow a payment (`pay`, `view`, `wait`),
    the PaymentsTable for the operator's reads (`get`, `list_payments`)."""

    def __init__(
        self,
        api: ApiClient | Callable[[], ApiClient] | None,
        dynamodb: DynamoDBClient | Callable[[], DynamoDBClient],
        payments_table: str | Callable[[], str],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`api` may be None for read-only use; each of api, dynamodb and payments_table may be
        a function that looks it up when first needed (after the input is validated);
        clock/sleep are injectable for wait tests."""
        self._lookups: dict[str, Any] = {"api": api, "ddb": dynamodb, "table": payments_table}
        self._clock = clock
        self._sleep = sleep

    def _looked_up(self, name: str) -> Any:
        value = self._lookups[name]
        if callable(value) and not isinstance(value, ApiClient):
            value = self._lookups[name] = value()
        return value

    @property
    def _api(self) -> ApiClient | None:
        return self._looked_up("api")  # type: ignore[no-any-return]

    @property
    def _ddb(self) -> DynamoDBClient:
        return self._looked_up("ddb")  # type: ignore[no-any-return]

    @property
    def _table(self) -> str:
        return str(self._looked_up("table"))

    def pay(self, request: PayRequest | PaymentInput) -> PayResult:
        """POST /payments/{method} with an Idempotency-Key (generated when none was given).
        A PayRequest is parsed first: nothing is looked up or sent for bad input."""
        payment = request.parse() if isinstance(request, PayRequest) else request
        api = self._require_api()
        key = new_idempotency_key() if payment.idempotency_key is None else payment.idempotency_key
        response = api.request(
            "POST",
            f"/payments/{payment.method.value}",
            body=payment.body(),
            headers={"Idempotency-Key": key},
        )
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return PayResult(Payment.from_view(response.body), key, replayed)

    def _require_api(self) -> ApiClient:
        api = self._api
        if api is None:
            raise UsageError("this PaymentsService has no API client")
        return api

    def view(self, payment_id: str) -> Payment:
        """GET /payments/{id} through the API (signed like `pay`): the public view, operator
        fields null. What a payer may read: it needs execute-api:Invoke, not the table."""
        path = f"/payments/{urllib.parse.quote(payment_id, safe='')}"
        return Payment.from_view(self._require_api().request("GET", path).body)

    def get(self, payment_id: str) -> Payment:
        """One payment by id, read by the domain's reader (paystack.domain.store.get_payment,
        as GET /payments/{id} reads it): strongly consistent, so `pay` then `get` sees the
        write, and an id that cannot be a payment's is not found without a call."""
        try:
            record = get_payment(self._ddb, TableNames(payments=self._table), payment_id)
        except PaymentNotFoundError as exc:
            raise to_paycli_error(exc) from exc
        return Payment.from_record(record)

    def wait(
        self,
        payment_id: str,
        *,
        timeout: float = 60.0,
        on_change: Callable[[Payment], None] | None = None,
    ) -> Payment:
        """Poll GET /payments/{id} (`view`) until the payment is terminal (SUCCEEDED/DECLINED/
        FAILED) or time runs out: paying and following a payment need only the API, never the
        payments table. The result is the public view (the operator fields stay null: `payments
        get` shows them).

        Starts at 100 ms and backs off to 1 s, so a quick payment is seen quickly and a slow
        one costs at most one GET a second.
        """
        deadline = self._clock() + timeout
        delay, last_status = 0.1, ""
        while True:
            payment = self.view(payment_id)
            if payment.status != last_status and on_change is not None:
                on_change(payment)
            last_status = payment.status
            if payment.terminal:
                return payment
            if self._clock() + delay > deadline:
                raise PaymentWaitTimeoutError(
                    f"payment {payment_id} is still {payment.status} after {timeout:g} s",
                    hint=f"follow it with `paycli executions show {payment_id}`",
                    payment=payment,
                )
            self._sleep(delay)
            delay = min(delay * 2, 1.0)

    def list_payments(self, filters: PaymentFilter) -> list[Payment]:
        """Newest first, at most `filters.limit`, by Query on an index (never a Scan)."""
        if filters.status and filters.status not in STATUSES:
            raise UsageError(
                f"unknown status {filters.status!r}", hint=f"use one of {', '.join(STATUSES)}"
            )
        if filters.account_id:
            streams = [self._query("ByAccount", "account_id", filters.account_id, filters)]
        elif filters.status:
            streams = [self._query("ByStatus", "status", filters.status, filters)]
        else:
            streams = [self._query("ByStatus", "status", s, filters) for s in STATUSES]
        newest_first = heapq.merge(*streams, key=lambda p: p.created_at or "", reverse=True)
        return list(islice(newest_first, max(filters.limit, 0)))

    def _query(
        self, index: str, key_name: str, key_value: str, filters: PaymentFilter
    ) -> Iterator[Payment]:
        """One index partition, newest first, lazily paginated; other filters on the server."""
        condition = "#k = :k"
        names = {"#k": key_name}
        values: dict[str, Any] = {":k": {"S": key_value}}
        if filters.since is not None:
            condition += " AND created_at >= :since"
            values[":since"] = {"S": iso_z(filters.since)}
        conditions = []
        for attr, wanted in (("status", filters.status), ("method", filters.method)):
            if wanted and attr != key_name:
                names[f"#{attr}"] = attr
                values[f":{attr}"] = {"S": wanted}
                conditions.append(f"#{attr} = :{attr}")
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "PaginationConfig": {"PageSize": min(max(filters.limit, 1), 100)},
        }
        if conditions:
            kwargs["FilterExpression"] = " AND ".join(conditions)
        for page in self._ddb.get_paginator("query").paginate(**kwargs):
            for item in page.get("Items", []):
                yield Payment.from_item(from_item(item))
