"""Payments: send one (signed HTTP to the API), follow it to its end, get and list them.

Listing never scans: a status filter queries the ByStatus index, an account filter the ByAccount
index, and a listing without either merges one ByStatus query per status (newest first), so even
`payments list --method card` reads only index partitions.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, Literal

from paystack.domain.dynamo import from_item
from paystack.domain.money import MoneyError, parse_amount
from paystack.domain.payment import METHODS as DOMAIN_METHODS
from paystack.domain.payment import SETTLED, Status

from paycli.core import inputs
from paycli.core.api import ApiClient
from paycli.core.errors import NotFoundError, UsageError, WaitTimeoutError, to_paycli_error
from paycli.core.timeparse import iso_z, timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Method = Literal["card", "bank", "wallet"]
# The domain owns the vocabulary; the CLI only derives from it.
METHODS: Final = DOMAIN_METHODS
STATUSES: Final = tuple(status.value for status in Status)
TERMINAL: Final = frozenset({*SETTLED, Status.FAILED})

#: Stripe-style test instruments, used when the user gives none (demos, smoke tests).
DEFAULT_CARD: Final = "4242424242424242"
DEFAULT_IBAN: Final = "DE89370400440532013000"
DEFAULT_WALLET: Final = "wal_demo0001"


@dataclass(frozen=True)
class Payment:
    """The payment view (design.md): what `pay --json` and `payments get --json` print."""

    payment_id: str
    status: str
    method: str
    account_id: str
    amount_minor: int
    currency: str
    created_at: str | None = None
    updated_at: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # card {brand,last4} / bank / wallet
    error: str | None = None
    cause: str | None = None
    execution_arn: str | None = None

    @property
    def terminal(self) -> bool:
        """SUCCEEDED, DECLINED or FAILED: nothing more happens without a redrive."""
        return self.status in TERMINAL

    def view(self) -> dict[str, Any]:
        """Stable JSON fields (documented in the README); details under the method's name."""
        data: dict[str, Any] = {
            "payment_id": self.payment_id,
            "status": self.status,
            "method": self.method,
            "account_id": self.account_id,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "reason": self.reason,
            "error": self.error,
            "execution_arn": self.execution_arn,
        }
        data[self.method] = dict(self.details)
        return data

    @classmethod
    def from_view(cls, body: dict[str, Any]) -> Payment:
        """From the API's 202/200 body (the same view)."""
        method = str(body.get("method", ""))
        details = body.get(method)
        return cls(
            payment_id=str(body["payment_id"]),
            status=str(body["status"]),
            method=method,
            account_id=str(body.get("account_id", "")),
            amount_minor=int(body.get("amount_minor", 0)),
            currency=str(body.get("currency", "")),
            created_at=body.get("created_at"),
            updated_at=body.get("updated_at"),
            reason=body.get("reason"),
            details=dict(details) if isinstance(details, dict) else {},
            error=body.get("error") if isinstance(body.get("error"), str) else None,
            execution_arn=body.get("execution_arn"),
        )

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Payment:
        """From a PaymentsTable item (already deserialised): only the safe details are read."""
        method = str(item.get("method", ""))
        details = {
            "card": {"brand": item.get("card_brand"), "last4": item.get("card_last4")},
            "bank": {"country": item.get("iban_country"), "last4": item.get("iban_last4")},
            "wallet": {"wallet_id": item.get("wallet_id")},
        }.get(method, {})
        return cls(
            payment_id=str(item["payment_id"]),
            status=str(item.get("status", "")),
            method=method,
            account_id=str(item.get("account_id", "")),
            amount_minor=int(item.get("amount_minor", 0)),
            currency=str(item.get("currency", "")),
            created_at=timestamp(item.get("created_at")),
            updated_at=timestamp(item.get("updated_at")),  # MarkFailed writes EnteredTime
            reason=item.get("reason"),
            details=details,
            error=item.get("error"),
            cause=item.get("cause"),
            execution_arn=item.get("execution_arn"),
        )


@dataclass(frozen=True)
class PayRequest:
    """What the user asked to pay. The amount is text: parsed against the currency, here."""

    method: str
    amount: str
    currency: str
    account_id: str
    card_number: str = DEFAULT_CARD
    exp_month: int = 12
    exp_year: int = field(default_factory=lambda: datetime.now(UTC).year + 3)
    cvc: str = "123"
    iban: str = DEFAULT_IBAN
    wallet_id: str = DEFAULT_WALLET
    idempotency_key: str | None = None

    def body(self) -> dict[str, Any]:
        """The API request body; a bad amount/currency/method is a UsageError before any call."""
        if self.method not in METHODS:
            raise UsageError(
                f"unknown payment method {self.method!r}", hint="use card, bank or wallet"
            )
        currency = self.currency.upper()
        try:
            amount_minor = parse_amount(self.amount, currency)
        except MoneyError as exc:
            raise to_paycli_error(exc) from exc
        if self.idempotency_key is not None:
            inputs.idempotency_key(self.idempotency_key)
        inputs.account_id(self.account_id)
        instruments: dict[str, dict[str, Any]] = {
            "card": {
                "number": inputs.digits(self.card_number),
                "exp_month": self.exp_month,
                "exp_year": self.exp_year,
                "cvc": self.cvc,
            },
            "bank": {"iban": inputs.digits(self.iban)},
            "wallet": {"wallet_id": self.wallet_id},
        }
        instrument = instruments[self.method]
        return {
            "amount_minor": amount_minor,
            "currency": currency,
            "account_id": self.account_id,
            self.method: instrument,
        }


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
_INSTRUMENT_OPTIONS: Final = {"card": "card", "bank": "iban", "wallet": "wallet"}


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
    wanted = _INSTRUMENT_OPTIONS.get(method)
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
    """Payments on one target: the API for writes, the PaymentsTable for reads."""

    def __init__(
        self,
        api: ApiClient | None,
        dynamodb: DynamoDBClient,
        payments_table: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`api` may be None for read-only use; clock/sleep are injectable for wait tests."""
        self._api = api
        self._ddb = dynamodb
        self._table = payments_table
        self._clock = clock
        self._sleep = sleep

    def pay(self, request: PayRequest) -> PayResult:
        """POST /payments/{method} with an Idempotency-Key (generated when none was given)."""
        body = request.body()  # validates before anything leaves the machine
        if self._api is None:
            raise UsageError("this PaymentsService has no API client")
        key = new_idempotency_key() if request.idempotency_key is None else request.idempotency_key
        response = self._api.request(
            "POST", f"/payments/{request.method}", body=body, headers={"Idempotency-Key": key}
        )
        replayed = response.headers.get("idempotent-replayed", "").lower() == "true"
        return PayResult(Payment.from_view(response.body), key, replayed)

    def get(self, payment_id: str) -> Payment:
        """One payment by id (strongly consistent: `pay` then `get` sees the write)."""
        reply = self._ddb.get_item(
            TableName=self._table, Key={"payment_id": {"S": payment_id}}, ConsistentRead=True
        )
        if "Item" not in reply:
            raise NotFoundError(
                f"no payment {payment_id}", hint="list them: `paycli payments list`"
            )
        return Payment.from_item(from_item(reply["Item"]))

    def wait(
        self,
        payment_id: str,
        *,
        timeout: float = 60.0,
        on_change: Callable[[Payment], None] | None = None,
    ) -> Payment:
        """Poll the payment until it is terminal (SUCCEEDED/DECLINED/FAILED) or time runs out.

        Starts at 100 ms and backs off to 1 s, so a quick payment is seen quickly and a slow
        one costs at most one GetItem a second.
        """
        deadline = self._clock() + timeout
        delay, last_status = 0.1, ""
        while True:
            payment = self.get(payment_id)
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
