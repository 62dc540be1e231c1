"""PaymentsTable reads and the conditional writes shared by ValidatePayment and DeductAmount.

Every write here carries a condition; its comment names the retry it makes harmless. A write
whose condition fails asks for the item it found (ReturnValuesOnConditionCheckFailure=ALL_OLD),
so learning why it failed costs no second read.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from paystack.domain.accounts import ACCOUNT_ID_RE, Account, account_from_attributes
from paystack.domain.dynamo import (
    TableNames,
    batch_get_consistent,
    condition_failure_item,
    error_code,
    find_by_id,
    from_item,
    iso_timestamp,
    to_value,
)
from paystack.domain.errors import PaymentNotFoundError
from paystack.domain.payment import Payment, Status, payment_from_attributes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from paystack.domain.dynamo import Item

PAYMENT_ID_RE = re.compile(r"pay_[0-9a-f]{32}")

# Shared by every write that must not touch a settled payment.
NOT_SETTLED = "attribute_exists(payment_id) AND NOT #status IN (:succeeded, :declined)"
NOT_SETTLED_VALUES: dict[str, AttributeValueTypeDef] = {
    ":succeeded": {"S": Status.SUCCEEDED.value},
    ":declined": {"S": Status.DECLINED.value},
}


def find_payment(ddb: DynamoDBClient, tables: TableNames, payment_id: str) -> Payment | None:
    """The payment (strongly consistent: a retry must see the previous attempt's write), or
    None. Ids that cannot be ours are answered without a call."""
    key = ("payment_id", payment_id)
    return find_by_id(ddb, tables.payments, key, PAYMENT_ID_RE, payment_from_attributes)


def get_payment(ddb: DynamoDBClient, tables: TableNames, payment_id: str) -> Payment:
    """The payment, or PaymentNotFoundError."""
    payment = find_payment(ddb, tables, payment_id)
    if payment is None:
        raise payment_not_found(payment_id)
    return payment


def payment_not_found(payment_id: str) -> PaymentNotFoundError:
    """The error for an id with no payment. The id is quoted when it is a well-formed payment
    id, else only its length is given: an id that failed validation may be anything a client
    typed, a card number included."""
    if PAYMENT_ID_RE.fullmatch(payment_id):
        return PaymentNotFoundError(f"payment {payment_id!r} does not exist")
    return PaymentNotFoundError(
        f"payment with a malformed id ({len(payment_id)} characters) does not exist"
    )


def find_payment_and_account(
    ddb: DynamoDBClient, tables: TableNames, payment_id: str, account_id: str
) -> tuple[Payment | None, Account | None]:
    """The payment and the account `account_id`, both strongly consistent, in one
    BatchGetItem instead of two GetItems; None for either that does not exist.

    The two items are read at (nearly) the same moment, not atomically: callers rely on the
    conditions of their own writes, not on the pair being a snapshot. `account_id` is the
    caller's claim: check it against `payment.account_id`. Ids that cannot be ours are not
    asked for.
    """
    keys: dict[str, list[Item]] = {tables.payments: [], tables.accounts: []}
    if PAYMENT_ID_RE.fullmatch(payment_id):
        keys[tables.payments].append({"payment_id": {"S": payment_id}})
    if ACCOUNT_ID_RE.fullmatch(account_id):
        keys[tables.accounts].append({"account_id": {"S": account_id}})
    if not any(keys.values()):
        return None, None
    found = batch_get_consistent(ddb, keys)
    payments = [payment_from_attributes(from_item(item)) for item in found[tables.payments]]
    accounts = [account_from_attributes(from_item(item)) for item in found[tables.accounts]]
    return (payments[0] if payments else None), (accounts[0] if accounts else None)


def payment_after_condition_failure(
    ddb: DynamoDBClient, tables: TableNames, payment_id: str, error: ClientError
) -> Payment:
    """The payment a NOT_SETTLED write found, from the error's ALL_OLD copy; read again only
    if the error carries none. PaymentNotFoundError if there is no such payment."""
    item = condition_failure_item(error)
    if item is None:
        return get_payment(ddb, tables, payment_id)
    return payment_from_attributes(from_item(item))


def mark_declined(
    ddb: DynamoDBClient, tables: TableNames, payment_id: str, reason: str, now: datetime
) -> Payment | None:
    """Set DECLINED with `reason` unless the payment is already settled.

    Guard: NOT status IN (SUCCEEDED, DECLINED). A duplicate execution (an SQS message sent
    twice, a redrive) that reaches a decline after another one settled must not overwrite it.
    Returns None if it wrote, else the settled payment as stored.
    """
    try:
        ddb.update_item(
            TableName=tables.payments,
            Key={"payment_id": {"S": payment_id}},
            UpdateExpression="SET #status = :declined, reason = :reason, updated_at = :now "
            "REMOVE #error, cause",
            ConditionExpression=NOT_SETTLED,
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues={
                **NOT_SETTLED_VALUES,
                ":reason": to_value(reason),
                ":now": to_value(iso_timestamp(now)),
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        return payment_after_condition_failure(ddb, tables, payment_id, exc)
    return None


def outcome_of(payment: Payment) -> dict[str, Any]:
    """ValidatePayment's result for a payment that is already settled."""
    return validation_result(payment, payment.status, payment.reason)


def validation_result(payment: Payment, outcome: str, reason: str | None) -> dict[str, Any]:
    """ValidatePayment's result (the ASL contract). `account_id` is the payment's, immutable
    since ingress: the state machine hands it to DeductAmount, which can then read the payment
    and the account in one request."""
    return {
        "payment_id": payment.payment_id,
        "outcome": str(outcome),
        "reason": reason,
        "account_id": payment.account_id,
    }
