"""What the real payment.asl.json hands DeductAmount, on moto's Step Functions interpreter.

DeductAmount reads the payment and its account in one BatchGetItem only if the state machine
passes ValidatePayment's account_id on; a payload of {"payment_id"} alone would still settle
(the fallback), so the execution's own history is what proves the wiring.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from state_machine_support import (
    CARD_OK,
    TEMPLATE,
    TIME_SCALE,
    Env,
    balance,
    create_account,
    post_card_payment,
    start_from_queue,
    wait_terminal,
)

from paycli.local.stack import LocalStack


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    stack = LocalStack(time_scale=TIME_SCALE, log_dir=tmp_path_factory.mktemp("logs"))
    stack.start()
    try:
        yield Env(stack, stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1"))
    finally:
        stack.stop()


def lambda_payloads(env: Env, execution_arn: str) -> list[dict[str, Any]]:
    """The Payload of every lambda:invoke the execution scheduled, in order."""
    history = env.stack.client("stepfunctions").get_execution_history(executionArn=execution_arn)
    payloads = []
    for event in history["events"]:
        details = event.get("taskScheduledEventDetails")
        if details and details["resourceType"] == "lambda":
            payloads.append(json.loads(details["parameters"])["Payload"])
    return payloads


def test_deduct_amount_receives_the_payments_account_id(env: Env) -> None:
    """ValidatePayment's account_id flows through ResultSelector into DeductAmount's payload,
    and the payment settles once."""
    account_id = create_account(env, 10_000)
    payment_id = post_card_payment(env, account_id, CARD_OK, 1_250)

    execution_arn = start_from_queue(env, payment_id)
    execution = wait_terminal(env, execution_arn)

    assert execution["status"] == "SUCCEEDED", execution
    validate, deduct = lambda_payloads(env, execution_arn)
    assert set(validate) == {"payment_id", "execution_arn"}
    assert deduct == {"payment_id": payment_id, "account_id": account_id}
    assert balance(env, account_id) == 8_750
