"""DeductAmount against moto: exactly one debit, declines that leave the balance alone.

Most tests run twice: with the payload the state machine sends ({"payment_id", "account_id"},
one BatchGetItem per attempt) and with {"payment_id"} alone (the fallback that reads the
payment first: an execution started by the earlier definition, a manual invoke).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from contention_support import account_keeps_changing
from handler_harness import Stack, pay
from paystack.domain.accounts import find_account, ledger_entries
from paystack.domain.backoff import Backoff
from paystack.domain.dynamo import iso_timestamp, utc_now
from paystack.domain.errors import PaymentNotFoundError
from paystack.domain.settlement import (
    MAX_ATTEMPTS,
    AccountMismatchError,
    SettlementConflictError,
    settle_payment,
)

Deduct = Callable[[str], dict[str, Any]]


@pytest.fixture
def demo(stack: Stack) -> Stack:
    """The stack with acc_demo holding 100.00 USD."""
    stack.account("acc_demo", 10_000)
    return stack


@pytest.fixture(params=["state machine payload", "payment_id only"])
def deduct(demo: Stack, request: pytest.FixtureRequest) -> Deduct:
    """Invoke DeductAmount for a payment with one of the two payload shapes. The account_id is
    the stored payment's, which is what ValidatePayment returns and the ASL passes on."""

    def invoke(payment_id: str) -> dict[str, Any]:
        if request.param == "payment_id only":
            return demo.deduct(payment_id)
        account_id = demo.payment_item(payment_id)["account_id"]["S"]
        payload = {"payment_id": payment_id, "account_id": account_id}
        return demo.invoke("DeductAmountFunction", payload)

    return invoke


def approved(stack: Stack, key: str = "k", amount: int = 1250) -> str:
    """A payment through ingress and ValidatePayment, APPROVED."""
    payment_id = pay(stack, key=key, amount_minor=amount)
    assert stack.validate(payment_id)["outcome"] == "APPROVED"
    return payment_id


def assert_ledger_explains_balance(stack: Stack, account_id: str) -> None:
    """The sum of an account's ledger entries equals its balance."""
    entries = ledger_entries(stack.ddb, stack.tables, account_id)
    assert sum(entry.amount_minor for entry in entries) == stack.balance(account_id)


def test_debits_once_when_invoked_twice(demo: Stack, deduct: Deduct) -> None:
    """The second DeductAmount (a retry after a lost response) returns the same outcome and
    debits nothing: one debit, one ledger entry."""
    payment_id = approved(demo)
    first = deduct(payment_id)
    second = deduct(payment_id)
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
def test_concurrent_duplicate_invocations_debit_once(demo: Stack, deduct: Deduct) -> None:
    """Eight executions of DeductAmount for one payment at once (duplicate deliveries):
    every one reports SUCCEEDED, the account is debited exactly once."""
    payment_id = approved(demo)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: deduct(payment_id), range(8)))
    assert {r["outcome"] for r in results} == {"SUCCEEDED"}
    assert demo.balance("acc_demo") == 8_750
    assert len(ledger_entries(demo.ddb, demo.tables, "acc_demo")) == 2


@pytest.mark.usefixtures("serialised_moto")
def test_concurrent_payments_on_one_account_all_settle_exactly(demo: Stack, deduct: Deduct) -> None:
    """Ten different payments debit one account concurrently: the version guard retries the
    losers, so all settle and each ledger entry's balance_after is exact."""
    ids = [approved(demo, key=f"k{i}", amount=100) for i in range(10)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(deduct, ids))
    assert {r["outcome"] for r in results} == {"SUCCEEDED"}
    assert demo.balance("acc_demo") == 9_000
    afters = sorted(r["balance_after_minor"] for r in results)
    assert afters == list(range(9_000, 10_000, 100))
    assert_ledger_explains_balance(demo, "acc_demo")


def test_ledger_times_follow_the_balance_chain_when_an_earlier_started_settlement_commits_later(
    demo: Stack,
) -> None:
    """DeductAmount takes its time once per invocation; a settlement that started first but
    commits second (it lost the race for the account and retried, or its Lambda's clock is
    behind) is entered after the winner, so its time must not be earlier: the audit's
    ledger_out_of_order saw this under concurrent Lambda workers."""
    earlier, later = approved(demo, key="early"), approved(demo, key="late")
    started_first = utc_now()
    started_second = started_first + timedelta(seconds=5)
    settle_payment(demo.ddb, demo.tables, later, started_second, account_id="acc_demo")
    settle_payment(demo.ddb, demo.tables, earlier, started_first, account_id="acc_demo")
    entries = {e.entry_id: e for e in ledger_entries(demo.ddb, demo.tables, "acc_demo")}
    winner, loser = entries[f"debit#{later}"], entries[f"debit#{earlier}"]
    assert loser.balance_after_minor < winner.balance_after_minor  # entered second
    assert loser.created_at >= winner.created_at == iso_timestamp(started_second)
    assert demo.payment_item(earlier)["updated_at"]["S"] == loser.created_at
    assert find_account(demo.ddb, demo.tables, "acc_demo").updated_at == loser.created_at


def test_insufficient_funds_declines_and_leaves_the_balance(demo: Stack, deduct: Deduct) -> None:
    """Not enough balance: DECLINED insufficient_funds, balance and ledger untouched."""
    demo.account("acc_poor", 500)
    payment_id = pay(demo, key="p", account_id="acc_poor", amount_minor=1000)
    assert demo.validate(payment_id)["outcome"] == "APPROVED"
    result = deduct(payment_id)
    assert result == {
        "payment_id": payment_id, "outcome": "DECLINED", "reason": "insufficient_funds",
        "balance_after_minor": None,
    }  # fmt: skip
    assert demo.balance("acc_poor") == 500
    assert [e.entry_id for e in ledger_entries(demo.ddb, demo.tables, "acc_poor")] == ["opening"]
    item = demo.payment_item(payment_id)
    assert (item["status"]["S"], item["reason"]["S"]) == ("DECLINED", "insufficient_funds")
    assert deduct(payment_id) == result


def test_exact_balance_is_enough(demo: Stack, deduct: Deduct) -> None:
    """Paying the whole balance succeeds and leaves zero."""
    demo.account("acc_exact", 1000)
    payment_id = pay(demo, key="e", account_id="acc_exact", amount_minor=1000)
    demo.validate(payment_id)
    assert deduct(payment_id)["balance_after_minor"] == 0
    assert demo.balance("acc_exact") == 0


def test_declined_payment_is_never_debited(demo: Stack, deduct: Deduct) -> None:
    """DeductAmount on a payment ValidatePayment declined returns DECLINED, no debit."""
    payment_id = pay(demo, "4000000000000002")
    demo.validate(payment_id)
    assert deduct(payment_id)["outcome"] == "DECLINED"
    assert demo.balance("acc_demo") == 10_000


def test_missing_account_declines_and_debits_nothing(demo: Stack, deduct: Deduct) -> None:
    """The account vanished after ValidatePayment approved: DECLINED account_not_found, and
    a second run reports the same."""
    demo.account("acc_gone", 10_000)
    payment_id = pay(demo, key="g", account_id="acc_gone")
    assert demo.validate(payment_id)["outcome"] == "APPROVED"
    demo.ddb.delete_item(TableName=demo.tables.accounts, Key={"account_id": {"S": "acc_gone"}})
    result = deduct(payment_id)
    assert (result["outcome"], result["reason"]) == ("DECLINED", "account_not_found")
    assert deduct(payment_id) == result
    assert ledger_entries(demo.ddb, demo.tables, "acc_gone")[0].entry_id == "opening"


def test_currency_changed_after_validation_declines(demo: Stack, deduct: Deduct) -> None:
    """The account's currency no longer matches the payment's: DECLINED currency_mismatch,
    balance untouched."""
    payment_id = approved(demo)
    demo.ddb.update_item(
        TableName=demo.tables.accounts,
        Key={"account_id": {"S": "acc_demo"}},
        UpdateExpression="SET currency = :eur",
        ExpressionAttributeValues={":eur": {"S": "EUR"}},
    )
    result = deduct(payment_id)
    assert (result["outcome"], result["reason"]) == ("DECLINED", "currency_mismatch")
    assert demo.balance("acc_demo") == 10_000


@pytest.mark.parametrize(
    "payload",
    [
        {"payment_id": "pay_" + "f" * 32},
        {"payment_id": "pay_" + "f" * 32, "account_id": "acc_demo"},
    ],
)
def test_unknown_payment_raises(demo: Stack, payload: dict[str, str]) -> None:
    """A payment id that does not exist is an error (the Catch handles it), with or without
    an account_id; nothing is written."""
    with pytest.raises(PaymentNotFoundError):
        demo.invoke("DeductAmountFunction", payload)
    assert demo.items(demo.tables.payments) == []
    assert demo.balance("acc_demo") == 10_000


def test_account_id_that_is_not_the_payments_raises(demo: Stack) -> None:
    """A payload naming another account than the stored payment's is a bug upstream: it
    raises before any write, and neither account is debited."""
    demo.account("acc_other", 10_000)
    payment_id = approved(demo)
    with pytest.raises(AccountMismatchError, match="acc_demo"):
        demo.invoke("DeductAmountFunction", {"payment_id": payment_id, "account_id": "acc_other"})
    assert (demo.balance("acc_demo"), demo.balance("acc_other")) == (10_000, 10_000)
    assert demo.payment_item(payment_id)["status"]["S"] == "PROCESSING"


def test_malformed_payload_is_an_error(demo: Stack) -> None:
    """A payload without payment_id, or with an account_id that is not a string, is a bug
    upstream: it raises."""
    with pytest.raises(ValueError, match="payment_id"):
        demo.invoke("DeductAmountFunction", {})
    payment_id = approved(demo)
    with pytest.raises(ValueError, match="account_id"):
        demo.invoke("DeductAmountFunction", {"payment_id": payment_id, "account_id": 7})
    assert demo.balance("acc_demo") == 10_000


def test_settlement_gives_up_after_max_attempts_on_a_hot_account(
    demo: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account changes before every settlement transaction: after MAX_ATTEMPTS tries
    settle_payment raises SettlementConflictError (the state machine retries it), having
    backed off with full jitter between tries (injected: no real sleeping) and written
    nothing: balance, ledger and payment status are as before."""
    payment_id = approved(demo)
    waits: list[float] = []
    backoff = Backoff(base_seconds=0.005, sleep=waits.append, uniform=lambda _low, high: high)
    with (
        account_keeps_changing(
            monkeypatch, demo.ddb, demo.tables.accounts, "acc_demo", times=MAX_ATTEMPTS
        ) as bumps,
        pytest.raises(SettlementConflictError),
    ):
        settle_payment(
            demo.ddb, demo.tables, payment_id, utc_now(), account_id="acc_demo", backoff=backoff
        )
    assert len(bumps) == MAX_ATTEMPTS
    assert waits == [0.005 * 2**n for n in range(MAX_ATTEMPTS - 1)]
    assert demo.balance("acc_demo") == 10_000
    assert [e.entry_id for e in ledger_entries(demo.ddb, demo.tables, "acc_demo")] == ["opening"]
    assert demo.payment_item(payment_id)["status"]["S"] == "PROCESSING"
    # One competing write fewer than the attempts: the last attempt settles it.
    with account_keeps_changing(
        monkeypatch, demo.ddb, demo.tables.accounts, "acc_demo", times=MAX_ATTEMPTS - 1
    ):
        result = settle_payment(
            demo.ddb, demo.tables, payment_id, utc_now(), account_id="acc_demo", backoff=backoff
        )
    assert result["outcome"] == "SUCCEEDED"
    assert demo.balance("acc_demo") == 8_750
