"""The load driver's plan and bookkeeping, without a stack: a fake API and a fake table.

The driver against the real local stack is tests/e2e/test_load_cli.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from paycli.core.errors import ConflictError, UsageError
from paycli.core.load import (
    LoadDriver,
    LoadPlan,
    open_loop,
    parse_weights,
    percentile,
    plan_payments,
)
from paycli.core.payments import Payment, PayRequest, PayResult

ACCOUNTS = ("acc_a", "acc_b", "acc_c", "acc_d")


def test_weights_parse_and_bad_entries_are_named() -> None:
    """`card=80,bank=15` parses; an unknown name, a missing weight, a repeat are usage errors."""
    assert parse_weights("card=80, bank=15", "mix", {"card", "bank"}) == {"card": 80, "bank": 15}
    for text, fragment in [
        ("card=80,foo=1", "unknown mix entry 'foo'"),
        ("card", "bad mix entry 'card'"),
        ("card=x", "bad mix entry"),
        ("card=1,card=2", "twice"),
        ("card=0", "no positive weight"),
    ]:
        with pytest.raises(UsageError, match=fragment):
            parse_weights(text, "mix", {"card", "bank"})


def test_plan_check_names_every_bad_setting_at_once() -> None:
    plan = LoadPlan(count=0, concurrency=0, rate=-1, same_key_share=1.5, mix={"cheque": 1})
    with pytest.raises(UsageError) as caught:
        plan.check()
    message = caught.value.message
    for fragment in ("--count", "--concurrency", "--rate", "same-key share", "the mix"):
        assert fragment in message


def test_plan_is_the_same_for_a_seed_and_follows_the_mix() -> None:
    """Same seed, same requests (apart from the run id in the keys); the shares hold roughly."""
    plan = LoadPlan(
        count=2000,
        mix={"card": 80, "bank": 15, "wallet": 5},
        cards={"4242424242424242": 9, "4000000000000002": 1},
        same_key_share=0.1,
        hot_share=0.5,
        seed=7,
        run_id="r1",
    )
    first = plan_payments(plan, ACCOUNTS)
    again = plan_payments(plan, ACCOUNTS)
    assert [p.request for p in first] == [p.request for p in again]
    other_run = plan_payments(LoadPlan(**{**plan.__dict__, "run_id": "r2"}), ACCOUNTS)
    assert {p.request.idempotency_key for p in first}.isdisjoint(
        p.request.idempotency_key for p in other_run
    )
    assert len({p.request.idempotency_key for p in first}) == 2000
    methods = Counter(p.request.method for p in first)
    assert 1450 < methods["card"] < 1750
    assert methods["wallet"] < 200
    declined = sum(p.request.card_number == "4000000000000002" for p in first)
    assert 120 < declined < 280
    hot = sum(p.request.account_id == ACCOUNTS[0] for p in first)
    assert 1050 < hot < 1450  # half on the hot account, plus its share of the rest
    assert 120 < sum(p.resend for p in first) < 280
    assert all(100 <= p.amount_minor <= 999 for p in first)
    assert all(
        p.request.amount == f"{p.amount_minor // 100}.{p.amount_minor % 100:02d}" for p in first
    )


def test_open_loop_sends_each_index_once_and_stops_when_asked() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def send(index: int) -> None:
        with lock:
            seen.append(index)

    open_loop(50, 0, 4, send)
    assert sorted(seen) == list(range(50))

    stop = threading.Event()
    stop.set()
    seen.clear()
    open_loop(50, 1.0, 2, send, stop=stop)
    assert seen == []


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 or percentile(values, 50) == 51.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 50) != percentile([], 50)  # NaN for no data


class FakeStack:
    """The API accepts (or refuses) a payment and the table settles it at once; BatchGetItem
    hands back some keys as unprocessed the first time, as DynamoDB may."""

    def __init__(self, refuse_every: int = 0, never_settle: str | None = None) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.refuse_every = refuse_every
        self.never_settle = never_settle
        self.calls = 0
        self.lock = threading.Lock()

    def pay(self, request: PayRequest) -> PayResult:
        key = request.idempotency_key or ""
        with self.lock:
            self.calls += 1
            if self.refuse_every and self.calls % self.refuse_every == 0:
                raise ConflictError("idempotency key reused with another body")
            replayed = key in self.by_key
            payment_id = self.by_key.setdefault(key, f"pay_{len(self.by_key):04d}")
            status = "PENDING" if request.account_id == self.never_settle else "SUCCEEDED"
            self.items[payment_id] = {
                "payment_id": {"S": payment_id},
                "status": {"S": status},
                "updated_at": {"S": "2000-01-01T00:00:00.000Z"},
            }
        view = {"payment_id": payment_id, "status": "PENDING", "method": request.method}
        return PayResult(Payment.from_view(view), key, replayed)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        served, unprocessed = keys[: len(keys) // 2 + 1], keys[len(keys) // 2 + 1 :]
        with self.lock:
            found = [self.items[k["payment_id"]["S"]] for k in served]
        reply: dict[str, Any] = {"Responses": {table: found}}
        if unprocessed:
            reply["UnprocessedKeys"] = {table: {"Keys": unprocessed}}
        return reply


def test_driver_counts_outcomes_refusals_resends_and_unfinished() -> None:
    """Every accepted payment is read until terminal; refusals are errors, not outcomes; a
    payment that never settles is reported unfinished after the timeout; same-key resends get
    the same payment back."""
    fake = FakeStack(refuse_every=10, never_settle="acc_d")
    driver = LoadDriver(fake.pay, fake, "payments")  # type: ignore[arg-type]
    progress: list[int] = []
    outcomes: list[str] = []
    plan = LoadPlan(
        count=40,
        concurrency=4,
        account_ids=ACCOUNTS,
        same_key_share=0.3,
        timeout=0.2,
        poll_interval=0.01,
    )
    report = driver.run(
        plan,
        on_progress=lambda p: progress.append(p.terminal),
        on_outcome=lambda o: outcomes.append(o.payment_id),
    )
    assert report.errors
    assert sum(report.errors.values()) + report.accepted == 40
    stuck = sum(1 for p in report.payments if p.account_id == "acc_d")
    assert stuck > 0
    assert report.unfinished == stuck
    assert report.outcomes.get("PENDING") == stuck
    assert report.completed == report.accepted - stuck == len(outcomes)
    assert len(set(outcomes)) == len(outcomes)  # each terminal payment reported once
    assert report.same_key_resends > 0
    assert report.same_key_mismatches == 0
    assert progress == sorted(progress)
    assert progress[-1] == report.completed
    assert report.ok is False
    assert report.view()["latency_s"]["p50"] == 0.0  # settled "before" the 202: clamped to 0
