"""Suites 2 and 3 on the real daemon, through the signed HTTP API as any client sends it:
contention (50 payments of 10.00 at once on 100.00) and idempotency (one key, 20 requests at
once). CI runs each once; `PAYCLI_SUITE_ROUNDS=5 .venv/bin/python -m pytest
tests/e2e/test_money_suites.py` repeats them (README, Hostile-input suites)."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_support import TEST_CARDS, LocalStackHandle, Response
from waiting import wait_until

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("PAYCLI_SUITE_ROUNDS", "1"))


def _debits(local_stack: LocalStackHandle, account_id: str) -> list[dict[str, Any]]:
    items = local_stack.client("dynamodb").query(
        TableName=local_stack.outputs["LedgerTableName"],
        KeyConditionExpression="account_id = :a AND begins_with(entry_id, :d)",
        ExpressionAttributeValues={":a": {"S": account_id}, ":d": {"S": "debit#"}},
        ConsistentRead=True,
    )["Items"]
    return list(items)


def _payments_of(local_stack: LocalStackHandle, account_id: str) -> list[dict[str, Any]]:
    items = local_stack.client("dynamodb").query(
        TableName=local_stack.outputs["PaymentsTableName"],
        IndexName="ByAccount",
        KeyConditionExpression="account_id = :a",
        ExpressionAttributeValues={":a": {"S": account_id}},
    )["Items"]
    return list(items)


def _pay_until_answered(local_stack: LocalStackHandle, account: str, key: str) -> Response:
    """A client that retries what the API says to retry (409 in flight, 503 busy), same key;
    the last answer after 10 s of retrying."""
    answers: list[Response] = []

    def answered() -> bool:
        answers.append(local_stack.pay_card(account, 1_000, TEST_CARDS["approved"], key=key))
        return answers[-1].status not in (409, 503)

    wait_until(answered, timeout=10, interval=0.05, fail=False, what=f"an answer for key {key}")
    return answers[-1]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_contention_50_payments_on_100_leave_exactly_10_debits(
    local_stack: LocalStackHandle, round_: int
) -> None:
    """50 payments of 10.00 sent at once against 100.00: exactly 10 SUCCEEDED, 40 DECLINED
    insufficient_funds, balance 0.00, ten ledger debits."""
    account = local_stack.create_account(10_000)
    with ThreadPoolExecutor(50) as pool:
        keys = [uuid.uuid4().hex for _ in range(50)]
        answers = list(pool.map(lambda k: _pay_until_answered(local_stack, account, k), keys))
    assert Counter(a.status for a in answers) == {202: 50}
    views = [
        local_stack.wait_for_payment(a.json()["payment_id"], {"SUCCEEDED", "DECLINED", "FAILED"},
                                     timeout=120)
        for a in answers
    ]  # fmt: skip
    outcomes = Counter((v["status"], v["reason"]) for v in views)
    assert outcomes == {("SUCCEEDED", None): 10, ("DECLINED", "insufficient_funds"): 40}
    assert local_stack.balance(account) == 0
    assert len(_debits(local_stack, account)) == 10


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_key_sent_20_times_at_once_makes_one_payment_and_one_debit(
    local_stack: LocalStackHandle, round_: int
) -> None:
    """20 concurrent requests with one Idempotency-Key (a client's retries racing): one
    payment, every answer its 202 (after the 409s are retried), one debit; the same key with
    another body is 422 and changes nothing."""
    account = local_stack.create_account(10_000)
    key = f"idem-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _pay_until_answered(local_stack, account, key),
                                range(20)))  # fmt: skip
    assert {a.status for a in answers} == {202}
    payment_ids = {a.json()["payment_id"] for a in answers}
    assert len(payment_ids) == 1
    (payment_id,) = payment_ids
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    local_stack.wait_for_payment(payment_id, {"SUCCEEDED"}, timeout=60)
    assert len(_payments_of(local_stack, account)) == 1
    assert len(_debits(local_stack, account)) == 1
    assert local_stack.balance(account) == 9_000

    record_before = local_stack.client("dynamodb").get_item(
        TableName=local_stack.outputs["IdempotencyTableName"],
        Key={"idempotency_key": {"S": key}},
        ConsistentRead=True,
    )["Item"]
    other = local_stack.pay_card(account, 2_000, TEST_CARDS["approved"], key=key)
    assert other.status == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    record_after = local_stack.client("dynamodb").get_item(
        TableName=local_stack.outputs["IdempotencyTableName"],
        Key={"idempotency_key": {"S": key}},
        ConsistentRead=True,
    )["Item"]
    assert record_after == record_before
    assert len(_payments_of(local_stack, account)) == 1
    assert local_stack.balance(account) == 9_000
    assert len(_debits(local_stack, account)) == 1
