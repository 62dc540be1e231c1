"""DeductAmount: debit the account and settle the payment in one transaction, exactly once.

Runs more than once for one payment when Step Functions retries a lost Lambda response, when
a duplicate SQS message starts a second execution, or on a redrive. The transaction makes
that safe: the debit, the SUCCEEDED status and the `debit#{payment_id}` ledger entry are
written together or not at all, and each carries a condition.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from paystack.domain.accounts import Account, debit_entry_id, find_account
from paystack.domain.backoff import Backoff
from paystack.domain.dynamo import (
    TableNames,
    cancellation_reasons,
    cancelled_item,
    from_item,
    iso_timestamp,
    normalize_timestamp,
    to_item,
    to_value,
    transact,
)
from paystack.domain.payment import Payment, Status, payment_from_attributes
from paystack.domain.store import (
    NOT_SETTLED,
    NOT_SETTLED_VALUES,
    find_payment_and_account,
    get_payment,
    mark_declined,
    payment_not_found,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# Optimistic-concurrency attempts when other payments debit the same account meanwhile, with
# full-jitter exponential backoff between them (base doubles per attempt: 5 ms .. 640 ms).
MAX_ATTEMPTS = 8
BACKOFF = Backoff(base_seconds=0.005)


class SettlementConflictError(Exception):
    """The account kept changing under us for MAX_ATTEMPTS tries: a technical failure (the
    state machine marks the payment FAILED; a redrive settles it later)."""


class AccountMismatchError(Exception):
    """DeductAmount was told one account and the stored payment names another: a bug upstream
    (the payload is built from the payment itself). Nothing is debited on a guess; the state
    machine marks the payment FAILED and parks it in the DLQ."""


def settle_payment(
    ddb: DynamoDBClient,
    tables: TableNames,
    payment_id: str,
    now: datetime,
    *,
    account_id: str | None = None,
    backoff: Backoff = BACKOFF,
) -> dict[str, Any]:
    """{"payment_id", "outcome": SUCCEEDED|DECLINED, "reason", "balance_after_minor"}.

    `account_id` is the payment's account as ValidatePayment returned it (the state machine
    passes it on): then each attempt reads the payment and the account in one BatchGetItem.
    Without it (an execution started before the state machine passed it, a manual invoke) the
    first attempt reads the payment, then its account; later attempts batch both.
    """
    for attempt in range(MAX_ATTEMPTS):
        payment, account = _read_payment_and_account(ddb, tables, payment_id, account_id)
        if payment.settled:
            return _settled_outcome(ddb, tables, payment)
        result = _try_settle(ddb, tables, payment, account, now)
        if result is not None:
            return result
        account_id = payment.account_id
        if attempt + 1 < MAX_ATTEMPTS:  # jitter spreads payments racing for one hot account
            backoff.pause(attempt + 1)
    raise SettlementConflictError(f"account of payment {payment_id} kept changing; try again")


def _read_payment_and_account(
    ddb: DynamoDBClient, tables: TableNames, payment_id: str, account_id: str | None
) -> tuple[Payment, Account | None]:
    """The payment (PaymentNotFoundError if none) and its account (None if none), both
    strongly consistent: a retry must see the previous attempt's writes. For a settled payment
    read without `account_id`, the account is not read (it is not needed) and is None."""
    if account_id is None:
        payment = get_payment(ddb, tables, payment_id)
        if payment.settled:
            return payment, None
        return payment, find_account(ddb, tables, payment.account_id)
    found, account = find_payment_and_account(ddb, tables, payment_id, account_id)
    if found is None:
        raise payment_not_found(payment_id)
    if found.account_id != account_id:
        raise AccountMismatchError(
            f"payment {payment_id} belongs to account {found.account_id!r}, "
            f"not {account_id!r} as the payload says"
        )
    return found, account


def _try_settle(
    ddb: DynamoDBClient,
    tables: TableNames,
    payment: Payment,
    account: Account | None,
    now: datetime,
) -> dict[str, Any] | None:
    """One transaction attempt with the account as just read; None when the account changed
    meanwhile (retry)."""
    if account is None:
        return _decline(ddb, tables, payment, "account_not_found", now)
    if account.currency != payment.currency:
        return _decline(ddb, tables, payment, "currency_mismatch", now)
    if account.balance_minor < payment.amount_minor:
        return _decline(ddb, tables, payment, "insufficient_funds", now)
    balance_after = account.balance_minor - payment.amount_minor
    cancelled = transact(ddb, _settlement_items(tables, payment, account, now))
    if cancelled is not None:
        return _after_cancellation(ddb, tables, payment, cancelled, now)
    return _outcome(payment.payment_id, Status.SUCCEEDED, None, balance_after)


def _settlement_items(
    tables: TableNames, payment: Payment, account: Account, now: datetime
) -> list[TransactWriteItemTypeDef]:
    """The three writes of a settlement, each with its guard.

    Their time is never before the account's last change: `now` is taken once per invocation,
    so a settlement that lost the race for the account to a later-started one (and retried)
    would otherwise enter the ledger after it with an earlier time, and concurrent Lambdas'
    clocks differ. The version guard makes the account's updated_at the previous entry's time,
    so the ledger's times follow its balance chain (paycli audit: ledger_out_of_order)."""
    stamp_text = max(iso_timestamp(now), normalize_timestamp(account.updated_at))
    stamp = to_value(stamp_text)
    amount = to_value(payment.amount_minor)
    balance_after = account.balance_minor - payment.amount_minor
    return [
        {
            # Guard: version unchanged since we read the balance (a concurrent debit of another
            # payment), balance covers the amount, currency matches. The version check also makes
            # the ledger's balance_after_minor exact.
            "Update": {
                "TableName": tables.accounts,
                "Key": {"account_id": {"S": account.account_id}},
                "UpdateExpression": "SET balance_minor = balance_minor - :amount, "
                "version = version + :one, updated_at = :now",
                "ConditionExpression": "version = :version AND balance_minor >= :amount "
                "AND currency = :currency",
                "ExpressionAttributeValues": {
                    ":amount": amount,
                    ":one": to_value(1),
                    ":now": stamp,
                    ":version": to_value(account.version),
                    ":currency": to_value(payment.currency),
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {
            # Guard: not settled. A second DeductAmount for the same payment (Step Functions
            # retry after a lost response, duplicate execution, redrive) cancels the whole
            # transaction here, so the account is never debited twice.
            "Update": {
                "TableName": tables.payments,
                "Key": {"payment_id": {"S": payment.payment_id}},
                "UpdateExpression": "SET #status = :status, updated_at = :now "
                "REMOVE reason, #error, cause",
                "ConditionExpression": NOT_SETTLED,
                "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                "ExpressionAttributeValues": {
                    **NOT_SETTLED_VALUES,
                    ":status": to_value(Status.SUCCEEDED.value),
                    ":now": stamp,
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {
            # Guard: one ledger entry per payment, even if the status were ever rewritten.
            "Put": {
                "TableName": tables.ledger,
                "Item": to_item(
                    {
                        "account_id": account.account_id,
                        "entry_id": debit_entry_id(payment.payment_id),
                        "amount_minor": -payment.amount_minor,
                        "currency": payment.currency,
                        "balance_after_minor": balance_after,
                        "payment_id": payment.payment_id,
                        "created_at": stamp_text,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(entry_id)",
            }
        },
    ]


def _after_cancellation(
    ddb: DynamoDBClient, tables: TableNames, payment: Payment, exc: ClientError, now: datetime
) -> dict[str, Any] | None:
    """Tell the reasons apart: settled already (return its outcome, never debit), balance
    or currency no longer fit (decline, balance untouched), or a race (None: retry)."""
    reasons = [reason.get("Code") for reason in cancellation_reasons(exc)]
    account_reason, payment_reason, ledger_reason = [*reasons, None, None, None][:3]
    if "ConditionalCheckFailed" in (payment_reason, ledger_reason):
        return _settled_outcome(ddb, tables, _payment_as_found(ddb, tables, payment, exc))
    if account_reason == "ConditionalCheckFailed":
        old = cancelled_item(exc, 0)
        if not old:
            return _decline(ddb, tables, payment, "account_not_found", now)
        account = from_item(old)
        if account.get("currency") != payment.currency:
            return _decline(ddb, tables, payment, "currency_mismatch", now)
        if account.get("balance_minor", 0) < payment.amount_minor:
            return _decline(ddb, tables, payment, "insufficient_funds", now)
        return None  # the version moved: another debit landed first; re-read and retry
    if "TransactionConflict" in reasons:
        return None
    raise exc


def _payment_as_found(
    ddb: DynamoDBClient, tables: TableNames, payment: Payment, exc: ClientError
) -> Payment:
    """The payment as the cancelled transaction found it: the ALL_OLD copy its failed NOT_SETTLED
    condition returns (a duplicate settled it first), else read again."""
    old = cancelled_item(exc, 1)
    if old:
        return payment_from_attributes(from_item(old))
    return get_payment(ddb, tables, payment.payment_id)


def _decline(
    ddb: DynamoDBClient, tables: TableNames, payment: Payment, reason: str, now: datetime
) -> dict[str, Any]:
    """DECLINED with `reason`, the balance untouched; or the settled outcome if a duplicate
    execution settled it first."""
    settled = mark_declined(ddb, tables, payment.payment_id, reason, now)
    if settled is not None:
        return _settled_outcome(ddb, tables, settled)
    return _outcome(payment.payment_id, Status.DECLINED, reason, None)


def _settled_outcome(ddb: DynamoDBClient, tables: TableNames, payment: Payment) -> dict[str, Any]:
    """The stored outcome, with the balance the settlement left (from its ledger entry)."""
    balance_after = None
    if payment.status == Status.SUCCEEDED:
        item = ddb.get_item(
            TableName=tables.ledger,
            Key={
                "account_id": {"S": payment.account_id},
                "entry_id": {"S": debit_entry_id(payment.payment_id)},
            },
            ConsistentRead=True,
        ).get("Item")
        balance_after = None if item is None else from_item(item)["balance_after_minor"]
    return _outcome(payment.payment_id, payment.status, payment.reason, balance_after)


def _outcome(
    payment_id: str, status: str, reason: str | None, balance_after: int | None
) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "outcome": str(status),
        "reason": reason,
        "balance_after_minor": balance_after,
    }
