"""DeductAmount against moto: exactly one debit, declines that leave the balance alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from handler_harness import Stack
from paystack.domain.accounts import ledger_entries
from test_handler_validate import pay


@pytest.fixture
def demo(stack: Stack) -> Stack:
    """The stack with acc_demo holding 100.00 USD."""
    stack.account("acc_demo", 10_000)
    return stack


def approved(stack: Stack, key: str = "k", amount: int = 1250) -> str:
    """A payment through ingress and ValidatePayment, APPROVED."""
    payment_id = pay(stack, key=key, amount_minor=amount)
    assert stack.validate(payment_id)["outcome"] == "APPROVED"
    return payment_id


def assert_ledger_explains_balance(stack: Stack, account_id: str) -> None:
    """The sum of an account's ledger entries equals its balance."""
    entries = ledger_entries(stack.ddb, stack.tables, account_id)
    assert sum(entry.amount_minor for entry in entries) == stack.balance(account_id)


def test_debits_once_when_invoked_twice(demo: Stack) -> None:
    """The second DeductAmount (a retry after a lost response) returns the same outcome and
    debits nothing: one debit, one ledger entry."""
    payment_id = approved(demo)
    first = demo.deduct(payment_id)
    second = demo.deduct(payment_id)
    assert first == {
        "payment_id": payment_id, "outcome": "SUCCEEDED", "reason": None,
        "balance_after_minor": 8_750,
    }  # fmt: skip
    assert second == first
    assert demo.balance("acc_demo") == 8_750
    entries = ledger_entries(demo.ddb, demo.tables, "acc_demo")
    assert [e.entry_id for e in entries] == [f"debit#{payment_id}", "opening"]
    assert entries[0].amount_minor == -1250
    assert entries[0].balance_after_minor == 8_750
    assert demo.payment_item(payment_id)["status"]["S"] == "SUCCEEDED"
    assert_ledger_explains_balance(demo, "acc_demo")


@pytest.mark.usefixtures("serialised_moto")
def test_concurrent_duplicate_invocations_debit_once(demo: Stack) -> None:
    """Eight executions of DeductAmount for one payment at once (duplicate deliveries):
    every one reports SUCCEEDED, the account is debited exactly once."""
    payment_id = approved(demo)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: demo.deduct(payment_id), range(8)))
    assert {r["outcome"] for r in results} == {"SUCCEEDED"}
    assert demo.balance("acc_demo") == 8_750
    assert len(ledger_entries(demo.ddb, demo.tables, "acc_demo")) == 2


@pytest.mark.usefixtures("serialised_moto")
def test_concurrent_payments_on_one_account_all_settle_exactly(demo: Stack) -> None:
    """Ten different payments debit one account concurrently: the version guard retries the
    losers, so all settle and each ledger entry's balance_after is exact."""
    ids = [approved(demo, key=f"k{i}", amount=100) for i in range(10)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(demo.deduct, ids))
    assert {r["outcome"] for r in results} == {"SUCCEEDED"}
    assert demo.balance("acc_demo") == 9_000
    afters = sorted(r["balance_after_minor"] for r in results)
    assert afters == list(range(9_000, 10_000, 100))
    assert_ledger_explains_balance(demo, "acc_demo")


def test_insufficient_funds_declines_and_leaves_the_balance(demo: Stack) -> None:
    """Not enough balance: DECLINED insufficient_funds, balance and ledger untouched."""
    demo.account("acc_poor", 500)
    payment_id = pay(demo, key="p", account_id="acc_poor", amount_minor=1000)
    assert demo.validate(payment_id)["outcome"] == "APPROVED"
    result = demo.deduct(payment_id)
    assert result == {
        "payment_id": payment_id, "outcome": "DECLINED", "reason": "insufficient_funds",
        "balance_after_minor": None,
    }  # fmt: skip
    assert demo.balance("acc_poor") == 500
    assert [e.entry_id for e in ledger_entries(demo.ddb, demo.tables, "acc_poor")] == ["opening"]
    item = demo.payment_item(payment_id)
    assert (item["status"]["S"], item["reason"]["S"]) == ("DECLINED", "insufficient_funds")
    assert demo.deduct(payment_id) == result


def test_exact_balance_is_enough(demo: Stack) -> None:
    """Paying the whole balance succeeds and leaves zero."""
    demo.account("acc_exact", 1000)
    payment_id = pay(demo, key="e", account_id="acc_exact", amount_minor=1000)
    demo.validate(payment_id)
    assert demo.deduct(payment_id)["balance_after_minor"] == 0
    assert demo.balance("acc_exact") == 0


def test_declined_payment_is_never_debited(demo: Stack) -> None:
    """DeductAmount on a payment ValidatePayment declined returns DECLINED, no debit."""
    payment_id = pay(demo, "4000000000000002")
    demo.validate(payment_id)
    assert demo.deduct(payment_id)["outcome"] == "DECLINED"
    assert demo.balance("acc_demo") == 10_000


def test_malformed_payload_is_an_error(demo: Stack) -> None:
    """A payload without payment_id is a bug upstream: it raises."""
    with pytest.raises(ValueError, match="payment_id"):
        demo.invoke("DeductAmountFunction", {})
