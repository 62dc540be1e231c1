"""Ingress: turn a payment request into a PENDING payment and a queue message, exactly once
per Idempotency-Key.

Why not Powertools' Idempotency utility: it stores its record in a separate write before and
after the handler, so a crash between them leaves an INPROGRESS record and no payment, or a
payment and no record. Here the idempotency record and the payment are one DynamoDB
transaction: either both exist or neither does, and the stored 202 body is known before the
write because the payment_id is minted first. The same transaction checks the account (it
exists, in the payment's currency), so an accepted payment costs one DynamoDB request.
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
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from paystack.domain.accounts import ACCOUNT_ID_RE, account_not_found
from paystack.domain.backoff import Backoff
from paystack.domain.dynamo import (
    TableNames,
    cancellation_reasons,
    cancelled_item,
    from_item,
    iso_timestamp,
    to_item,
    to_value,
    transact,
)
from paystack.domain.errors import (
    AccountBusyError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    InvalidInputError,
)
from paystack.domain.money import AmountTooLargeError, check_minor_units
from paystack.domain.payment import (
    METHOD_TABLE,
    METHODS,
    Details,
    Method,
    Payment,
    Status,
    WalletDetails,
    payment_to_attributes,
    payment_view,
)
from paystack.domain.redact import field_names_text, find_pans
from paystack.domain.store import find_payment

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef
    from mypy_boto3_sqs.client import SQSClient

IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,255}")
_ALLOWED_FIELDS = frozenset({"amount_minor", "currency", "account_id", *METHODS})
#: The fields of each method's object: one rule for the whole body, so an unknown field is
#: refused at any depth (stack/openapi.yaml says additionalProperties: false everywhere).
METHOD_FIELDS: Final = {str(method): spec.request_fields for method, spec in METHOD_TABLE.items()}

# The intake transaction's items, which are also the indexes of its CancellationReasons. The
# record stays first: _existing_record reads reasons[RECORD] for the stored 202.
RECORD: Final = 0  # Put of the idempotency record
PAYMENT: Final = 1  # Put of the PENDING payment
ACCOUNT: Final = 2  # ConditionCheck of the account: it exists, in the payment's currency

# Transaction attempts while another transaction holds the account item (TransactionConflict on
# ACCOUNT: a settlement debiting it), with full-jitter backoff between them (ceilings 10, 20, 40,
# 80 ms); then AccountBusyError (503), which the CLI's ApiClient retries with the same key.
ACCOUNT_CONFLICT_ATTEMPTS: Final = 5
ACCOUNT_CONFLICT_BACKOFF: Final = Backoff(base_seconds=0.01)

# Reasons on the record that mean "this key is taken": handled by replay/422/409 before anything
# the account check says.
_KEY_TAKEN = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


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
    details: Details | None = None


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
    if find_pans(value):  # the key is stored: a card number must never be (convention 14)
        raise InvalidInputError(
            "the Idempotency-Key header must not contain a card number",
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
    _refuse_unknown(body, _ALLOWED_FIELDS, "")
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
    _refuse_unknown(details, METHOD_FIELDS[method], f"{method}.")
    checked = METHOD_TABLE[Method(method)].check(details, settings.fingerprint_key, now)
    if isinstance(checked, WalletDetails) and find_pans(checked.wallet_id):
        # The wallet id is stored as sent: a card number must never be.
        raise InvalidInputError(
            "wallet_id must not contain a card number", code="invalid_wallet_id"
        )
    return PaymentRequest(method, amount, currency, account_id, checked)


def _refuse_unknown(obj: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
    """InvalidInputError naming the unknown fields (only the names that are safe to repeat:
    a field name may be a card number)."""
    unknown = [str(name) for name in obj if name not in allowed]
    if unknown:
        names = field_names_text(unknown, prefix)
        raise InvalidInputError(f"unknown field(s): {names}", code="invalid_request")


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
    backoff: Backoff = ACCOUNT_CONFLICT_BACKOFF,
) -> Accepted:
    """Record the payment PENDING with its idempotency record, then enqueue it.

    One DynamoDB request when accepted: a transaction of the record, the payment and a check
    of the account. `fingerprint` is request_hash() of the raw request; `status_url` builds
    the 202 body's status_url from a payment_id. A key seen before is answered from its record
    (replay, IdempotencyKeyReusedError, IdempotencyKeyInFlightError) whatever the account check
    said; otherwise, with nothing written, AccountNotFoundError, InvalidInputError
    (currency_mismatch) or AccountBusyError.
    """
    payment = _pending_payment(request, idempotency_key, now)
    body = payment_view(payment) | {"status_url": status_url(payment.payment_id)}
    record = _record(
        payment,
        body,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        ttl_seconds=settings.ttl_seconds,
        now=now,
    )
    items = _intake_items(tables, payment, record, int(now.timestamp()))
    cancelled = _write_payment_and_record(ddb, items, request, backoff)
    if cancelled is not None:
        existing = _existing_record(ddb, tables, idempotency_key, cancelled, now)
        return _replay(ddb, sqs, tables, queue_url, record=existing, fingerprint=fingerprint)
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
        details=request.details,
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


def _intake_items(
    tables: TableNames, payment: Payment, record: dict[str, Any], epoch: int
) -> list[TransactWriteItemTypeDef]:
    """The intake transaction, in the order RECORD, PAYMENT, ACCOUNT.

    Guards: the record's condition makes a client's retry (lost 202, timeout, double click)
    and concurrent requests with one key create one payment only; an expired record (past
    expires_at but not yet removed by TTL, which lags by up to days) counts as absent. The
    payment's attribute_not_exists guards against a payment_id collision overwriting one. The
    account's ConditionCheck refuses, before anything is written, a payment the caller can fix
    at once (no such account, another currency); ALL_OLD tells the two apart.
    """
    return [
        {
            "Put": {
                "TableName": tables.idempotency,
                "Item": to_item(record),
                "ConditionExpression": "attribute_not_exists(idempotency_key) OR expires_at < :now",
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
        {
            # Not a write: the account is only read here. ValidatePayment and DeductAmount keep
            # their own checks for accounts changed after the payment was accepted.
            "ConditionCheck": {
                "TableName": tables.accounts,
                "Key": to_item({"account_id": payment.account_id}),
                "ConditionExpression": "attribute_exists(account_id) AND currency = :currency",
                "ExpressionAttributeValues": {":currency": to_value(payment.currency)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]


def _write_payment_and_record(
    ddb: DynamoDBClient,
    items: list[TransactWriteItemTypeDef],
    request: PaymentRequest,
    backoff: Backoff,
) -> ClientError | None:
    """Send the intake transaction: None once written, or the cancellation for
    _existing_record to answer (the key is taken, or an unexpected reason).

    Raises, with nothing written, AccountNotFoundError / InvalidInputError (currency_mismatch)
    when the account check failed on a fresh key, and AccountBusyError when the account stayed
    locked for ACCOUNT_CONFLICT_ATTEMPTS attempts.
    """
    for attempt in range(ACCOUNT_CONFLICT_ATTEMPTS):
        if attempt:
            backoff.pause(attempt)
        cancelled = transact(ddb, items)
        if cancelled is None or not _account_locked(cancelled, request):
            return cancelled
    raise AccountBusyError(
        f"account {request.account_id!r} is busy with other payments; nothing was recorded, "
        "retry shortly"
    )


def _account_locked(exc: ClientError, request: PaymentRequest) -> bool:
    """Read a cancellation: True when only the account's lock stopped it (retry it).

    Idempotency first: whatever the account check said, a taken key (ConditionalCheckFailed
    or TransactionConflict on RECORD) is answered from the record, so a client's retry of an
    accepted payment replays its 202 even if the account was deleted or changed since.

    TransactionConflict on ACCOUNT: another transaction is writing the account item, e.g.
    DeductAmount debiting it for an earlier payment; a ConditionCheck on that item is cancelled
    rather than queued on real DynamoDB. Our transaction wrote nothing and its items (payment_id,
    record) are the same on every attempt, so it is simply sent again: a busy account must not
    fail ingress. (The other way round, DeductAmount retries its own TransactionConflict.)
    """
    reasons = cancellation_reasons(exc)
    if _code(reasons, RECORD) in _KEY_TAKEN:
        return False
    if _code(reasons, ACCOUNT) == "ConditionalCheckFailed":
        raise _account_refusal(cancelled_item(exc, ACCOUNT), request)
    return _code(reasons, ACCOUNT) == "TransactionConflict"


def _code(reasons: list[dict[str, Any]], index: int) -> str:
    """The reason code of item `index` ("None" when it passed or the list is short)."""
    return str(reasons[index].get("Code")) if index < len(reasons) else "None"


def _account_refusal(old: Mapping[str, Any] | None, request: PaymentRequest) -> Exception:
    """The failed account check as the caller's error: ALL_OLD returns no item when there is
    no account, and the account as it is when its currency differs."""
    if not old:
        return account_not_found(request.account_id)
    currency = from_item(old).get("currency")
    return InvalidInputError(
        f"account {request.account_id!r} holds {currency}, not {request.currency}",
        code="currency_mismatch",
    )


def _existing_record(
    ddb: DynamoDBClient, tables: TableNames, idempotency_key: str, exc: ClientError, now: datetime
) -> dict[str, Any]:
    """The idempotency record that made the transaction fail.

    ConditionalCheckFailed on the record: it exists (ALL_OLD gives it to us). A
    TransactionConflict means a concurrent request with the same key is mid-write: read the
    record once; if it is not visible yet the client must retry (409). A conflict on the
    account alone never gets here (_write_payment_and_record retries it).
    """
    reasons = cancellation_reasons(exc)
    old = cancelled_item(exc, RECORD)
    if old is not None:
        return from_item(old)
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
