"""ValidatePayment: decide APPROVED or DECLINED for a stored payment, idempotently.

Step Functions may run this more than once for one payment: its own Retry (a lost Lambda
response, IssuerUnavailableError), a duplicate SQS message starting a second execution, or
`paycli dlq redrive` of a FAILED payment. Each run reads the payment afresh (through its
conditional PROCESSING write) and never changes a settled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from paystack.domain.accounts import find_account
from paystack.domain.dynamo import TableNames, error_code, from_item, iso_timestamp, to_value
from paystack.domain.methods import IBAN_LENGTHS, WALLET_ID_RE, SimulatedIssuer
from paystack.domain.payment import Payment, Status, payment_from_attributes
from paystack.domain.store import (
    NOT_SETTLED,
    NOT_SETTLED_VALUES,
    PAYMENT_ID_RE,
    mark_declined,
    outcome_of,
    payment_after_condition_failure,
    payment_not_found,
    validation_result,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

APPROVED = "APPROVED"


@dataclass(frozen=True, slots=True)
class ValidationSettings:
    """MAX_AMOUNT_MINOR from the environment and the issuer to ask."""

    max_amount_minor: int
    issuer: SimulatedIssuer


def validate_payment(
    ddb: DynamoDBClient,
    tables: TableNames,
    payment_id: str,
    *,
    execution_arn: str | None,
    settings: ValidationSettings,
    now: datetime,
) -> dict[str, Any]:
    """{"payment_id", "outcome": APPROVED|DECLINED|SUCCEEDED, "reason", "account_id"} (the
    ASL contract).

    Raises PaymentNotFoundError for an unknown id and IssuerUnavailableError for a technical
    issuer failure (the state machine retries it, then marks the payment FAILED).

    DynamoDB requests for a payment that is approved: the PROCESSING write (which also reads
    the payment) and the account read. The account cannot join the payment in one
    BatchGetItem: its id is only known once the payment has been read.
    """
    payment = _mark_processing(ddb, tables, payment_id, execution_arn, now)
    if payment.settled:
        return outcome_of(payment)
    reason = decline_reason(ddb, tables, payment, settings, now)
    if reason is None:
        return validation_result(payment, APPROVED, None)
    settled = mark_declined(ddb, tables, payment_id, reason, now)
    if settled is not None:
        return outcome_of(settled)
    return validation_result(payment, Status.DECLINED, reason)


def _mark_processing(
    ddb: DynamoDBClient,
    tables: TableNames,
    payment_id: str,
    execution_arn: str | None,
    now: datetime,
) -> Payment:
    """PROCESSING + the execution's ARN, clearing a previous failure's error/cause/reason; the
    payment as stored afterwards. This write is also the run's only read of the payment
    (ReturnValues=ALL_NEW), so there is no GetItem before it.

    Guard: attribute_exists and not settled. A duplicate execution (an SQS message delivered
    twice, a redrive, a Step Functions retry after a lost response) of a payment that is
    already settled, even one settled a moment ago by a concurrent run, fails the condition:
    the settled payment comes back unchanged (ALL_OLD) and is never reopened. No item at all
    means no such payment: PaymentNotFoundError, and nothing is created.
    """
    if not PAYMENT_ID_RE.fullmatch(payment_id):
        raise payment_not_found(payment_id)
    names = {"#status": "status", "#error": "error"}
    values = {
        **NOT_SETTLED_VALUES,
        ":processing": to_value(Status.PROCESSING.value),
        ":now": to_value(iso_timestamp(now)),
    }
    update = "SET #status = :processing, updated_at = :now"
    if execution_arn:
        update += ", execution_arn = :arn"
        values[":arn"] = to_value(execution_arn)
    try:
        response = ddb.update_item(
            TableName=tables.payments,
            Key={"payment_id": {"S": payment_id}},
            UpdateExpression=f"{update} REMOVE reason, #error, cause",
            ConditionExpression=NOT_SETTLED,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        return payment_after_condition_failure(ddb, tables, payment_id, exc)
    return payment_from_attributes(from_item(response["Attributes"]))


def decline_reason(
    ddb: DynamoDBClient,
    tables: TableNames,
    payment: Payment,
    settings: ValidationSettings,
    now: datetime,
) -> str | None:
    """The first business rule the payment breaks, or None to approve. Checked in order of
    cost: stored fields, then the account, then the issuer (a remote call on AWS)."""
    reason = _method_rule(payment, now) or _amount_rule(payment, settings.max_amount_minor)
    if reason is not None:
        return reason
    account = find_account(ddb, tables, payment.account_id)
    if account is None:
        return "account_not_found"
    if account.currency != payment.currency:
        return "currency_mismatch"
    if payment.card is not None:
        return settings.issuer.authorize(payment.card.bin, payment.card.last4)
    return None


def _amount_rule(payment: Payment, max_amount_minor: int) -> str | None:
    """Positive and within the limit, which may have been lowered since ingress."""
    if payment.amount_minor <= 0:
        return "invalid_amount"
    if payment.amount_minor > max_amount_minor:
        return "amount_too_large"
    return None


def _method_rule(payment: Payment, now: datetime) -> str | None:
    """Re-check what can be re-checked without the PAN: the card may have expired since
    ingress (a redrive weeks later), the stored details must match the method."""
    if payment.method == "card":
        card = payment.card
        if card is None:
            return "incorrect_number"
        expired = (card.exp_year, card.exp_month) < (now.year, now.month)
        return "expired_card" if expired else None
    if payment.method == "bank":
        valid = payment.bank is not None and payment.bank.country in IBAN_LENGTHS
        return None if valid else "invalid_iban"
    valid = payment.wallet_id is not None and WALLET_ID_RE.fullmatch(payment.wallet_id) is not None
    return None if valid else "invalid_wallet_id"
