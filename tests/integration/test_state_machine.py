"""The real payment.asl.json on moto's Step Functions interpreter, with the real handlers behind
the in-process Lambda runner (issue 2).

Each payment enters through the real ingress handler (an API Gateway proxy event), which
records it PENDING and enqueues it; the test then takes that queue message and starts the
execution the way the EventBridge Pipe does: an explicit name and a JSON array of one SQS
record. Only AWS is emulated (moto); every product part runs for real.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from contention_support import account_keeps_changing
from paystack.domain.settlement import MAX_ATTEMPTS
from state_machine_support import (
    CARD_DECLINED,
    CARD_OK,
    CARD_PROCESSING_ERROR,
    TEMPLATE,
    TIME_SCALE,
    Env,
    balance,
    create_account,
    dlq_bodies,
    ledger_debits,
    payment,
    post_card_payment,
    start_from_queue,
    wait_terminal,
)

from paycli.local.stack import LocalStack


@pytest.fixture(scope="module", params=[True, False], ids=["speed-patches", "no-speed-patches"])
def env(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Env]:
    """The pipeline on moto with its speed patches and without (apply(speed=False)): the
    speed patches change how fast moto answers, never what it answers."""
    stack = LocalStack(
        time_scale=TIME_SCALE,
        log_dir=tmp_path_factory.mktemp("logs"),
        speed_patches=request.param,
    )
    stack.start()
    try:
        deployment = stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1")
        yield Env(stack, deployment)
    finally:
        stack.stop()


def test_card_payment_succeeds_and_debits_once(env: Env) -> None:
    """4242... runs Validate -> Deduct to SUCCEEDED; the balance drops by the amount once and
    one debit ledger entry explains it."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_OK, 1_250)
    assert payment(env, payment_id)["status"] == "PENDING"

    execution = wait_terminal(env, start_from_queue(env, payment_id))

    assert execution["status"] == "SUCCEEDED", execution
    assert payment(env, payment_id)["status"] == "SUCCEEDED"
    assert balance(env, account_id) == 8_750
    assert len(ledger_debits(env, account_id)) == 1


def test_declined_card_ends_declined_with_reason_and_balance_untouched(env: Env) -> None:
    """4000...0002 is a business decline: DECLINED with generic_decline, no debit."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_DECLINED, 1_250)

    execution = wait_terminal(env, start_from_queue(env, payment_id))

    assert execution["status"] == "SUCCEEDED", execution  # the workflow itself succeeded
    stored = payment(env, payment_id)
    assert stored["status"] == "DECLINED"
    assert stored["reason"] == "generic_decline"
    assert balance(env, account_id) == 10_000
    assert ledger_debits(env, account_id) == []


def test_processing_error_is_retried_then_failed_and_parked_in_dlq(env: Env) -> None:
    """4000...0119 raises IssuerUnavailableError: the ASL retries it (MaxAttempts 2, so three
    attempts), then Catch marks the payment FAILED and sends {"payment_id"} to the DLQ."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_PROCESSING_ERROR, 1_250)

    execution = wait_terminal(env, start_from_queue(env, payment_id))

    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "PaymentFailed"
    attempts = [
        r
        for r in env.stack.runner.logs(function="ValidatePaymentFunction", payment_id=payment_id)
        if r["stream"] == "report"
    ]
    assert [r.get("error_type") for r in attempts] == ["IssuerUnavailableError"] * 3
    stored = payment(env, payment_id)
    assert stored["status"] == "FAILED"
    assert stored["reason"] == "processing_error"
    assert stored["error"] == "IssuerUnavailableError"
    assert balance(env, account_id) == 10_000
    parked = [b for b in dlq_bodies(env) if b.get("payment_id") == payment_id]
    assert len(parked) == 1
    assert set(parked[0]) == {"payment_id", "_attributes"}
    assert parked[0]["_attributes"]["error"]["StringValue"] == "IssuerUnavailableError"


def test_handler_logs_are_captured_per_function_and_payment(env: Env) -> None:
    """Powertools log lines of each invocation land in the runner's log store, tagged with the
    function and the payment, so `paycli logs --payment` can show them."""
    account_id = create_account(env, 5_000)
    payment_id = post_card_payment(env, account_id, CARD_OK, 100)
    wait_terminal(env, start_from_queue(env, payment_id))

    records = env.stack.runner.logs(payment_id=payment_id)
    functions = {r["logical_id"] for r in records}
    assert functions == {"IngressFunction", "ValidatePaymentFunction", "DeductAmountFunction"}
    messages = [r["message"] for r in records if r["stream"] == "stdout"]
    assert "payment settled" in messages
    assert CARD_OK not in json.dumps(records)


def test_settlement_conflict_is_retried_by_the_state_machine(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a hot account DeductAmount runs out of attempts and raises SettlementConflictError;
    the ASL's Retry on that error invokes it again, which settles: SUCCEEDED, debited once."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_OK, 1_250)
    accounts = env.output("AccountsTableName")
    ddb = env.stack.client("dynamodb")

    with account_keeps_changing(monkeypatch, ddb, accounts, account_id, times=MAX_ATTEMPTS):
        execution = wait_terminal(env, start_from_queue(env, payment_id))

    assert execution["status"] == "SUCCEEDED", execution
    reports = [
        r
        for r in env.stack.runner.logs(function="DeductAmountFunction", payment_id=payment_id)
        if r["stream"] == "report"
    ]
    assert [r.get("error_type") for r in reports] == ["SettlementConflictError", None]
    assert payment(env, payment_id)["status"] == "SUCCEEDED"
    assert balance(env, account_id) == 8_750
    assert len(ledger_debits(env, account_id)) == 1
