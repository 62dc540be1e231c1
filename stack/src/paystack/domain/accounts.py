"""Accounts and their ledger: the balances payments are debited from.

Every balance change has a ledger entry (`opening` when the account is created,
`debit#{payment_id}` per settlement) written in the same transaction as the balance itself, so
the sum of an account's entries always equals its balance. `paycli accounts create/get/list`
call these functions with the client they built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from paystack.domain.dynamo import (
    TableNames,
    cancellation_reasons,
    find_by_id,
    from_item,
    iso_timestamp,
    to_item,
    transact,
    utc_now,
)
from paystack.domain.errors import AccountExistsError, AccountNotFoundError, InvalidInputError
from paystack.domain.money import MAX_MINOR_UNITS, currency_exponent
from paystack.domain.redact import find_pans

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb.client import DynamoDBClient

ACCOUNT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
OPENING_ENTRY_ID = "opening"


def debit_entry_id(payment_id: str) -> str:
    """The ledger entry of a payment's settlement: one per payment, by construction."""
    return f"debit#{payment_id}"


@dataclass(frozen=True, slots=True)
class Account:
    """An account with its balance in minor units of its single currency."""

    account_id: str
    balance_minor: int
    currency: str
    created_at: str
    updated_at: str
    version: int

    def view(self) -> dict[str, Any]:
        """The JSON shape `paycli accounts ... --json` prints."""
        return {
            "account_id": self.account_id,
            "balance_minor": self.balance_minor,
            "currency": self.currency,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One signed balance change and the balance it left."""

    account_id: str
    entry_id: str
    amount_minor: int
    currency: str
    balance_after_minor: int
    created_at: str
    payment_id: str | None = None


def account_from_attributes(attrs: Mapping[str, Any]) -> Account:
    """An AccountsTable item's attributes (numbers already converted to int) as an Account."""
    return Account(
        account_id=attrs["account_id"],
        balance_minor=attrs["balance_minor"],
        currency=attrs["currency"],
        created_at=attrs["created_at"],
        updated_at=attrs["updated_at"],
        version=attrs.get("version", 0),
    )


def _check_new_account(account_id: str, balance_minor: int, currency: str) -> None:
    """Input rules for a new account; raises InvalidInputError subclasses."""
    if not ACCOUNT_ID_RE.fullmatch(account_id):
        raise InvalidInputError(
            "account id must be 1-64 letters, digits or _.:-", code="invalid_account_id"
        )
    if find_pans(account_id):  # the id is stored and shown everywhere: never a card number
        raise InvalidInputError(
            "account id must not contain a card number", code="invalid_account_id"
        )
    currency_exponent(currency)
    if isinstance(balance_minor, bool) or not isinstance(balance_minor, int):
        raise InvalidInputError("balance must be an integer of minor units", code="invalid_amount")
    if not 0 <= balance_minor <= MAX_MINOR_UNITS:
        raise InvalidInputError(
            f"balance must be between 0 and {MAX_MINOR_UNITS} minor units", code="invalid_amount"
        )


def create_account(
    ddb: DynamoDBClient,
    tables: TableNames,
    account_id: str,
    balance_minor: int,
    currency: str,
    *,
    now: datetime | None = None,
) -> Account:
    """Create an account and its `opening` ledger entry in one transaction.

    Guard: attribute_not_exists on both items, so re-running `accounts create` (a retried
    command, a script run twice) never resets a balance; it raises AccountExistsError.
    """
    _check_new_account(account_id, balance_minor, currency)
    stamp = iso_timestamp(now or utc_now())
    account = Account(account_id, balance_minor, currency, stamp, stamp, 1)
    entry = {
        "account_id": account_id,
        "entry_id": OPENING_ENTRY_ID,
        "amount_minor": balance_minor,
        "currency": currency,
        "balance_after_minor": balance_minor,
        "created_at": stamp,
    }
    cancelled = transact(
        ddb,
        [
            {
                "Put": {
                    "TableName": tables.accounts,
                    "Item": to_item({**account.view(), "version": 1}),
                    "ConditionExpression": "attribute_not_exists(account_id)",
                }
            },
            {
                "Put": {
                    "TableName": tables.ledger,
                    "Item": to_item(entry),
                    "ConditionExpression": "attribute_not_exists(entry_id)",
                }
            },
        ],
    )
    if cancelled is not None:
        if any(
            reason.get("Code") == "ConditionalCheckFailed"
            for reason in cancellation_reasons(cancelled)
        ):
            raise AccountExistsError(f"account {account_id!r} already exists")
        raise cancelled
    return account


def find_account(ddb: DynamoDBClient, tables: TableNames, account_id: str) -> Account | None:
    """The account (strongly consistent read), or None."""
    key = ("account_id", account_id)
    return find_by_id(ddb, tables.accounts, key, ACCOUNT_ID_RE, account_from_attributes)


def get_account(ddb: DynamoDBClient, tables: TableNames, account_id: str) -> Account:
    """The account, or AccountNotFoundError."""
    account = find_account(ddb, tables, account_id)
    if account is None:
        raise account_not_found(account_id)
    return account


def account_not_found(account_id: str) -> AccountNotFoundError:
    """The error for an id with no account."""
    return AccountNotFoundError(f"account {account_id!r} does not exist")


def iter_accounts(ddb: DynamoDBClient, tables: TableNames) -> Iterator[Account]:
    """Every account, page by page. A Scan: accounts are few test fixtures, never filtered."""
    paginator = ddb.get_paginator("scan")
    for page in paginator.paginate(TableName=tables.accounts):
        for item in page.get("Items", []):
            yield account_from_attributes(from_item(item))


def list_accounts(ddb: DynamoDBClient, tables: TableNames) -> list[Account]:
    """All accounts sorted by id."""
    return sorted(iter_accounts(ddb, tables), key=lambda account: account.account_id)


def ledger_entries(ddb: DynamoDBClient, tables: TableNames, account_id: str) -> list[LedgerEntry]:
    """An account's ledger (Query on the key, consistent), in entry_id order."""
    paginator = ddb.get_paginator("query")
    entries: list[LedgerEntry] = []
    for page in paginator.paginate(
        TableName=tables.ledger,
        KeyConditionExpression="account_id = :a",
        ExpressionAttributeValues={":a": {"S": account_id}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            attrs = from_item(item)
            entries.append(
                LedgerEntry(
                    account_id=attrs["account_id"],
                    entry_id=attrs["entry_id"],
                    amount_minor=attrs["amount_minor"],
                    currency=attrs["currency"],
                    balance_after_minor=attrs["balance_after_minor"],
                    created_at=attrs["created_at"],
                    payment_id=attrs.get("payment_id"),
                )
            )
    return entries
