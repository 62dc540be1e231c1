"""Accounts (the functions `paycli accounts` calls) against moto tables from the template."""

from __future__ import annotations

import pytest
from handler_harness import Stack
from paystack.domain.accounts import (
    create_account,
    find_account,
    get_account,
    ledger_entries,
    list_accounts,
)
from paystack.domain.errors import AccountExistsError, AccountNotFoundError, InvalidInputError


def test_create_writes_account_and_opening_entry(stack: Stack) -> None:
    """One transaction: the account and an `opening` ledger entry equal to the balance."""
    account = create_account(stack.ddb, stack.tables, "acc_1", 10_000, "USD")
    assert (account.account_id, account.balance_minor, account.currency) == ("acc_1", 10_000, "USD")
    assert get_account(stack.ddb, stack.tables, "acc_1") == account
    (entry,) = ledger_entries(stack.ddb, stack.tables, "acc_1")
    assert (entry.entry_id, entry.amount_minor, entry.balance_after_minor) == (
        "opening", 10_000, 10_000,
    )  # fmt: skip
    assert account.view() == {
        "account_id": "acc_1", "balance_minor": 10_000, "currency": "USD",
        "created_at": account.created_at, "updated_at": account.updated_at,
    }  # fmt: skip


def test_create_twice_never_resets_a_balance(stack: Stack) -> None:
    """A re-run `accounts create` raises AccountExistsError and changes nothing."""
    create_account(stack.ddb, stack.tables, "acc_1", 10_000, "USD")
    with pytest.raises(AccountExistsError):
        create_account(stack.ddb, stack.tables, "acc_1", 99, "EUR")
    assert stack.balance("acc_1") == 10_000
    assert len(ledger_entries(stack.ddb, stack.tables, "acc_1")) == 1


@pytest.mark.parametrize(
    ("account_id", "balance", "currency"),
    [("", 1, "USD"), ("has space", 1, "USD"), ("a" * 65, 1, "USD"), ("acc", -1, "USD"),
     ("acc", 1, "usd"), ("acc", 1.5, "USD")],
)  # fmt: skip
def test_create_rejects_bad_input(
    stack: Stack, account_id: str, balance: object, currency: str
) -> None:
    """Bad ids, negative or float balances, unknown currencies: nothing written."""
    with pytest.raises(InvalidInputError):
        create_account(stack.ddb, stack.tables, account_id, balance, currency)  # type: ignore[arg-type]
    assert stack.items(stack.tables.accounts) == []
    assert stack.items(stack.tables.ledger) == []


def test_zero_balance_is_allowed(stack: Stack) -> None:
    """An empty account is a valid test fixture (every payment will be declined)."""
    assert create_account(stack.ddb, stack.tables, "acc_0", 0, "JPY").balance_minor == 0


def test_get_find_and_list(stack: Stack) -> None:
    """get raises for unknown ids, find returns None, list is sorted by id."""
    for account_id in ("acc_b", "acc_a", "acc_c"):
        create_account(stack.ddb, stack.tables, account_id, 100, "BHD")
    assert [a.account_id for a in list_accounts(stack.ddb, stack.tables)] == [
        "acc_a", "acc_b", "acc_c",
    ]  # fmt: skip
    assert find_account(stack.ddb, stack.tables, "acc_x") is None
    assert find_account(stack.ddb, stack.tables, "bad id") is None
    with pytest.raises(AccountNotFoundError):
        get_account(stack.ddb, stack.tables, "acc_x")


@pytest.mark.parametrize("account_id", ["4242424242424242", "acc_4000000000000002"])
def test_an_account_id_holding_a_card_number_is_refused_and_nothing_is_written(
    stack: Stack, account_id: str
) -> None:
    """The id is stored, listed and quoted in every payment: a card number must never be (the
    API then answers account_not_found to a payment naming one)."""
    with pytest.raises(InvalidInputError) as refused:
        create_account(stack.ddb, stack.tables, account_id, 1_000, "USD")
    assert refused.value.code == "invalid_account_id"
    assert account_id not in refused.value.message
    assert list_accounts(stack.ddb, stack.tables) == []
    assert stack.items(stack.tables.ledger) == []
