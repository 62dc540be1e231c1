"""Test accounts with balances: create, get, list, on either target.

The writes are paystack's own account helpers (account + `opening` ledger entry in one
transaction), so the CLI and the Lambda code share one definition of an account. This module
only parses the user's decimal balance and maps domain errors to paycli's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from paystack.domain import accounts as domain
from paystack.domain import errors as domain_errors
from paystack.domain.dynamo import TableNames
from paystack.domain.money import NonPositiveAmountError, parse_amount

from paycli.core.errors import to_paycli_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Account = domain.Account
T = TypeVar("T")


@contextmanager
def _domain_errors() -> Iterator[None]:
    """paystack's errors as paycli's, through the one error map (core.errors)."""
    try:
        yield
    except domain_errors.PaymentError as exc:
        raise to_paycli_error(exc) from exc


def parse_balance(text: str, currency: str) -> int:
    """An opening balance in major units ("100.00") as minor units; zero is allowed."""
    with _domain_errors():
        try:
            return parse_amount(text.strip(), currency)
        except NonPositiveAmountError:  # the amount grammar has no sign: this is exactly zero
            return 0


class AccountsService:
    """Accounts on one target, through the paystack helpers."""

    def __init__(self, dynamodb: DynamoDBClient, accounts_table: str, ledger_table: str) -> None:
        """The client and the two table names from the stack outputs."""
        self._ddb = dynamodb
        self._tables = TableNames(accounts=accounts_table, ledger=ledger_table)

    def _call(self, fn: Callable[[], T]) -> T:
        with _domain_errors():
            return fn()

    def create(self, balance: str, currency: str = "USD", account_id: str | None = None) -> Account:
        """A new account with an opening balance; an existing id is a ConflictError."""
        currency = currency.upper()
        minor = parse_balance(balance, currency)
        new_id = f"acc_{uuid.uuid4().hex[:12]}" if account_id is None else account_id
        return self._call(
            lambda: domain.create_account(self._ddb, self._tables, new_id, minor, currency)
        )

    def get(self, account_id: str) -> Account:
        """One account (consistent read) or NotFoundError."""
        return self._call(lambda: domain.get_account(self._ddb, self._tables, account_id))

    def find(self, account_id: str) -> Account | None:
        """The account, or None (the demo reuses its account when it exists)."""
        return self._call(lambda: domain.find_account(self._ddb, self._tables, account_id))

    def list_accounts(self) -> list[Account]:
        """Every account, sorted by id (an unfiltered listing of a few test accounts)."""
        return self._call(lambda: domain.list_accounts(self._ddb, self._tables))
