"""ValidatePayment against moto: each Stripe test card, the business rules, idempotency."""

from __future__ import annotations

import pytest
from handler_harness import Stack, pay
from paystack.domain.errors import PaymentNotFoundError
from paystack.domain.methods import IssuerUnavailableError


@pytest.fixture
def demo(stack: Stack) -> Stack:
    """The stack with acc_demo holding 100.00 USD."""
    stack.account("acc_demo", 10_000)
    return stack


def status_of(stack: Stack, payment_id: str) -> tuple[str, str | None]:
    """(status, reason) as stored."""
    item = stack.payment_item(payment_id)
    return item["status"]["S"], item.get("reason", {}).get("S")


def test_approves_the_success_card(demo: Stack) -> None:
    """4242 4242 4242 4242: APPROVED, payment PROCESSING with the execution ARN; the result
    names the payment's account for DeductAmount."""
    payment_id = pay(demo)
    result = demo.validate(payment_id)
    assert result == {
        "payment_id": payment_id, "outcome": "APPROVED", "reason": None, "account_id": "acc_demo"
    }  # fmt: skip
    item = demo.payment_item(payment_id)
    assert item["status"]["S"] == "PROCESSING"
    assert item["execution_arn"]["S"].startswith("arn:aws:states:")


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
    ],
)
def test_declines_stripe_decline_cards(demo: Stack, number: str, reason: str) -> None:
    """Decline test cards end DECLINED with Stripe's reason; nothing is debited."""
    payment_id = pay(demo, number)
    result = demo.validate(payment_id)
    assert result == {
        "payment_id": payment_id, "outcome": "DECLINED", "reason": reason, "account_id": "acc_demo"
    }  # fmt: skip
    assert status_of(demo, payment_id) == ("DECLINED", reason)
    assert demo.balance("acc_demo") == 10_000


def test_processing_error_card_raises_for_the_retry(demo: Stack) -> None:
    """4000 0000 0000 0119 raises IssuerUnavailableError (the ASL retries it by name) and
    leaves the payment PROCESSING for MarkFailed to set FAILED."""
    payment_id = pay(demo, "4000000000000119")
    with pytest.raises(IssuerUnavailableError) as caught:
        demo.validate(payment_id)
    assert type(caught.value).__name__ == "IssuerUnavailableError"
    assert status_of(demo, payment_id) == ("PROCESSING", None)


def test_other_valid_cards_approve(demo: Stack) -> None:
    """A valid card not in the issuer's table approves."""
    assert demo.validate(pay(demo, "5555555555554444"))["outcome"] == "APPROVED"


def test_settled_payment_returns_its_outcome_unchanged(demo: Stack) -> None:
    """A second ValidatePayment (duplicate message, redrive) of a settled payment changes
    nothing and reports the stored outcome."""
    declined = pay(demo, "4000000000000002", key="a")
    demo.validate(declined)
    before = demo.payment_item(declined)
    assert demo.validate(declined) == {
        "payment_id": declined, "outcome": "DECLINED", "reason": "generic_decline",
        "account_id": "acc_demo",
    }  # fmt: skip
    assert demo.payment_item(declined) == before
    succeeded = pay(demo, key="b")
    demo.validate(succeeded)
    demo.deduct(succeeded)
    before = demo.payment_item(succeeded)
    assert demo.validate(succeeded) == {
        "payment_id": succeeded, "outcome": "SUCCEEDED", "reason": None, "account_id": "acc_demo"
    }  # fmt: skip
    assert demo.payment_item(succeeded) == before


def test_failed_payment_is_revalidated_on_redrive(demo: Stack) -> None:
    """A FAILED payment (MarkFailed ran) goes back to PROCESSING and loses its error."""
    payment_id = pay(demo)
    demo.ddb.update_item(
        TableName=demo.tables.payments,
        Key={"payment_id": {"S": payment_id}},
        UpdateExpression="SET #s = :f, reason = :r, #e = :e, cause = :c",
        ExpressionAttributeNames={"#s": "status", "#e": "error"},
        ExpressionAttributeValues={
            ":f": {"S": "FAILED"}, ":r": {"S": "processing_error"},
            ":e": {"S": "IssuerUnavailableError"}, ":c": {"S": "boom"},
        },
    )  # fmt: skip
    assert demo.validate(payment_id)["outcome"] == "APPROVED"
    item = demo.payment_item(payment_id)
    assert item["status"]["S"] == "PROCESSING"
    assert not {"reason", "error", "cause"} & set(item)


def test_currency_mismatch_declines(demo: Stack) -> None:
    """An account whose currency changed after ingress accepted the payment: declined.

    (Ingress refuses a mismatch outright; this is ValidatePayment's own, later check.)"""
    demo.account("acc_eur", 10_000, "USD")
    payment_id = pay(demo, account_id="acc_eur")
    demo.ddb.update_item(
        TableName=demo.tables.accounts,
        Key={"account_id": {"S": "acc_eur"}},
        UpdateExpression="SET currency = :eur",
        ExpressionAttributeValues={":eur": {"S": "EUR"}},
    )
    assert demo.validate(payment_id)["reason"] == "currency_mismatch"
    assert status_of(demo, payment_id) == ("DECLINED", "currency_mismatch")


def test_limit_lowered_after_ingress_declines(demo: Stack) -> None:
    """ValidatePayment applies MAX_AMOUNT_MINOR itself (the limit may change in between)."""
    payment_id = pay(demo)
    demo.environments["ValidatePaymentFunction"]["MAX_AMOUNT_MINOR"] = "1000"
    assert demo.validate(payment_id)["reason"] == "amount_too_large"


@pytest.mark.parametrize("payment_id", ["pay_" + "f" * 32, "not-a-payment-id"])
def test_unknown_payment_raises(demo: Stack, payment_id: str) -> None:
    """A payment id that does not exist is an error (the Catch handles it), and the
    conditional PROCESSING write creates nothing."""
    with pytest.raises(PaymentNotFoundError):
        demo.validate(payment_id)
    assert demo.items(demo.tables.payments) == []
