"""Ingress: turn a payment request into a PENDING payment and a queue message, exactly once
per Idempotency-Key.

Why not Powertools' Idempotency utility: it stores its record in a separate write before and
after the handler, so a crash between them leaves an INPROGRESS record and no payment, or a
payment and no record. Here the idempotency record and the payment are one DynamoDB
transaction: either both exist or neither does, and the stored 202 body is known before the
write because the payment_id is minted first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from paystack.domain.accounts import ACCOUNT_ID_RE, find_account
from paystack.domain.dynamo import (
    TableNames,
    cancellation_reasons,
    error_code,
    from_item,
    iso_timestamp,
    to_item,
    to_value,
)
from paystack.domain.errors import (
    AccountNotFoundError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    InvalidInputError,
)
from paystack.domain.methods import BankDetails, CardDetails, check_card, check_iban, check_wallet
from paystack.domain.money import AmountTooLargeError, check_minor_units
from paystack.domain.payment import METHODS, Payment, Status, payment_to_attributes, payment_view
from paystack.domain.store import find_payment

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,255}")
_ALLOWED_FIELDS = frozenset({"amount_minor", "currency", "account_id", *METHODS})


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    """Per-function configuration (environment) and the fingerprint key (secret)."""

    max_amount_minor: int
    ttl_seconds: int
    fingerprint_key: bytes


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A validated request: the PAN and CVC are already reduced to CardDetails."""

    method: str
    amount_minor: int
    currency: str
    account_id: str
    card: CardDetails | None = None
    bank: BankDetails | None = None
    wallet_id: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """The 202 answer: `replayed` when the key was seen before with the same request."""

    payment_id: str
    body: dict[str, Any]
    replayed: bool


def check_idempotency_key(value: str | None) -> str:
    """The Idempotency-Key header: required, 1-255 of [A-Za-z0-9_.:-]."""
    if value is None or value == "":
        raise InvalidInputError(
            "the Idempotency-Key header is required", code="missing_idempotency_key"
        )
    if not IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise InvalidInputError(
            "the Idempotency-Key header must be 1-255 letters, digits or _.:-",
            code="invalid_idempotency_key",
        )
    return value


def request_hash(method: str, body: Mapping[str, Any], key: bytes) -> str:
    """Keyed HMAC-SHA256 of the canonical request (method + body with sorted keys, no
    whitespace). Keyed, because the body holds the PAN: a plain hash of it could be brute
    forced back to the card number from the idempotency table."""
    canonical = json.dumps(
        {"method": method, "body": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hmac.new(key, f"request:{canonical}".encode(), hashlib.sha256).hexdigest()


def parse_request(
    method: str, body: object, settings: IntakeSettings, now: datetime
) -> PaymentRequest:
    """Validate the request shape and the method's details; raises InvalidInputError (400)."""
    if method not in METHODS:
        raise InvalidInputError(
            f"unknown payment method {method!r}: use card, bank or wallet", code="invalid_method"
        )
    if not isinstance(body, Mapping):
        raise InvalidInputError("the request body must be a JSON object", code="invalid_request")
    unknown = sorted(set(body) - _ALLOWED_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown field(s): {', '.join(unknown)}", code="invalid_request")
    others = sorted(name for name in METHODS if name != method and name in body)
    if others:
        raise InvalidInputError(
            f"a {method} payment cannot carry {', '.join(others)} details", code="invalid_request"
        )
    currency = body.get("currency")
    if not isinstance(currency, str):
        raise InvalidInputError("currency must be an ISO 4217 code", code="invalid_currency")
    amount = check_minor_units(body.get("amount_minor"), currency)  # type: ignore[arg-type]
    if amount > settings.max_amount_minor:
        raise AmountTooLargeError(
            f"amount_minor {amount} exceeds the limit of {settings.max_amount_minor}"
        )
    account_id = body.get("account_id")
    if not isinstance(account_id, str) or not ACCOUNT_ID_RE.fullmatch(account_id):
        raise InvalidInputError(
            "account_id must be 1-64 letters, digits or _.:-", code="invalid_account_id"
        )
    details = body.get(method)
    if not isinstance(details, Mapping):
        raise InvalidInputError(
            f"a {method} payment needs a {method!r} object", code="invalid_request"
        )
    request = PaymentRequest(method, amount, currency, account_id)
    return _with_details(request, details, settings, now)


def _with_details(
    request: PaymentRequest, details: Mapping[str, Any], settings: IntakeSettings, now: datetime
) -> PaymentRequest:
    """Attach the method's validated, storable details."""
    key = settings.fingerprint_key
    if request.method == "card":
        return _replace(request, card=check_card(details, key, now))
    if request.method == "bank":
        return _replace(request, bank=check_iban(details, key))
    return _replace(request, wallet_id=check_wallet(details))


def _replace(request: PaymentRequest, **changes: Any) -> PaymentRequest:
    fields = {name: getattr(request, name) for name in PaymentRequest.__slots__}
    return PaymentRequest(**(fields | changes))


def new_payment_id() -> str:
    """Minted here, at ingress, and nowhere else: pay_ + 32 hex digits of a random UUID."""
    return f"pay_{uuid.uuid4().hex}"


def accept_payment(
    ddb: DynamoDBClient,
    sqs: SQSClient,
    tables: TableNames,
    *,
    queue_url: str,
    request: PaymentRequest,
    idempotency_key: str,
    fingerprint: str,
    status_url: Callable[[str], str],
    settings: IntakeSettings,
    now: datetime,
) -> Accepted:
    """Record the payment PENDING with its idempotency record, then enqueue it.

    `fingerprint` is request_hash() of the raw request; `status_url` builds the 202 body's
    status_url from a payment_id. Raises AccountNotFoundError (nothing written),
    IdempotencyKeyReusedError, IdempotencyKeyInFlightError, InvalidInputError (currency_mismatch).
    """
    account = find_account(ddb, tables, request.account_id)
    if account is None:
        raise AccountNotFoundError(f"account {request.account_id!r} does not exist")
    if account.currency != request.currency:
        # Refused here, before any write, rather than accepted and declined later: the caller
        # can fix it at once. ValidatePayment keeps its own check for accounts changed since.
        raise InvalidInputError(
            f"account {request.account_id!r} holds {account.currency}, not {request.currency}",
            code="currency_mismatch",
        )
    payment = _pending_payment(request, idempotency_key, now)
    body = payment_view(payment) | {"status_url": status_url(payment.payment_id)}
    try:
        _write_payment_and_record(
            ddb,
            tables,
            payment,
            _record(
                payment,
                body,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                ttl_seconds=settings.ttl_seconds,
                now=now,
            ),
            int(now.timestamp()),
        )
    except ClientError as exc:
        if error_code(exc) != "TransactionCanceledException":
            raise
        record = _existing_record(ddb, tables, idempotency_key, exc, now)
        return _replay(ddb, sqs, tables, queue_url, record=record, fingerprint=fingerprint)
    enqueue(sqs, queue_url, payment.payment_id)
    return Accepted(payment.payment_id, body, replayed=False)


def _pending_payment(request: PaymentRequest, idempotency_key: str, now: datetime) -> Payment:
    stamp = iso_timestamp(now)
    return Payment(
        payment_id=new_payment_id(),
        status=Status.PENDING,
        method=request.method,
        account_id=request.account_id,
        amount_minor=request.amount_minor,
        currency=request.currency,
        created_at=stamp,
        updated_at=stamp,
        idempotency_key=idempotency_key,
        card=request.card,
        bank=request.bank,
        wallet_id=request.wallet_id,
    )


def _record(
    payment: Payment,
    body: dict[str, Any],
    *,
    idempotency_key: str,
    fingerprint: str,
    ttl_seconds: int,
    now: datetime,
) -> dict[str, Any]:
    """The idempotency record: the request's hash and the exact 202 body to replay."""
    epoch = int(now.timestamp())
    return {
        "idempotency_key": idempotency_key,
        "request_hash": fingerprint,
        "payment_id": payment.payment_id,
        "response": json.dumps(body, separators=(",", ":")),
        "created_at": iso_timestamp(now),
        "expires_at": epoch + ttl_seconds,
    }


def _write_payment_and_record(
    ddb: DynamoDBClient, tables: TableNames, payment: Payment, record: dict[str, Any], epoch: int
) -> None:
    """One transaction: the idempotency record and the PENDING payment.

    Guards: the record's condition makes a client's retry (lost 202, timeout, double click)
    and concurrent requests with one key create one payment only; an expired record (past
    expires_at but not yet removed by TTL, which lags by up to days) counts as absent. The
    payment's attribute_not_exists guards against a payment_id collision overwriting one.
    """
    ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": tables.idempotency,
                    "Item": to_item(record),
                    "ConditionExpression": "attribute_not_exists(idempotency_key) "
                    "OR expires_at < :now",
                    "ExpressionAttributeValues": {":now": to_value(epoch)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": tables.payments,
                    "Item": to_item(payment_to_attributes(payment)),
                    "ConditionExpression": "attribute_not_exists(payment_id)",
                }
            },
        ]
    )


def _existing_record(
    ddb: DynamoDBClient, tables: TableNames, idempotency_key: str, exc: ClientError, now: datetime
) -> dict[str, Any]:
    """The idempotency record that made the transaction fail.

    ConditionalCheckFailed on the record: it exists (ALL_OLD gives it to us). A
    TransactionConflict means a concurrent request with the same key is mid-write: read the
    record once; if it is not visible yet the client must retry (409).
    """
    reasons = cancellation_reasons(exc)
    first = reasons[0] if reasons else {}
    if first.get("Code") == "ConditionalCheckFailed" and first.get("Item"):
        return from_item(first["Item"])
    item = ddb.get_item(
        TableName=tables.idempotency,
        Key={"idempotency_key": {"S": idempotency_key}},
        ConsistentRead=True,
    ).get("Item")
    if item is not None:
        record = from_item(item)
        if record["expires_at"] >= int(now.timestamp()):
            return record
    if any(reason.get("Code") == "TransactionConflict" for reason in reasons) or item is not None:
        raise IdempotencyKeyInFlightError(
            f"a request with Idempotency-Key {idempotency_key!r} is in progress; retry shortly"
        )
    raise exc


def _replay(
    ddb: DynamoDBClient,
    sqs: SQSClient,
    tables: TableNames,
    queue_url: str,
    *,
    record: dict[str, Any],
    fingerprint: str,
) -> Accepted:
    """Answer a repeated key: the stored 202 body if the request is the same, else 422.

    If the payment is still PENDING the message is sent again: the first attempt may have
    crashed between the transaction and SendMessage, and a payment must not be lost. A
    duplicate message is harmless (ValidatePayment and DeductAmount are idempotent).
    """
    if not hmac.compare_digest(str(record["request_hash"]), fingerprint):
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was already used with a different request; "
            "use a new key for a new payment"
        )
    payment_id = str(record["payment_id"])
    payment = find_payment(ddb, tables, payment_id)
    if payment is not None and payment.status == Status.PENDING:
        enqueue(sqs, queue_url, payment_id)
    return Accepted(payment_id, json.loads(record["response"]), replayed=True)


def enqueue(sqs: SQSClient, queue_url: str, payment_id: str) -> None:
    """The queue message: the payment id only, so no card data ever crosses SQS or Step
    Functions (ValidatePayment reads the stored, PAN-free details)."""
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"payment_id": payment_id}))
