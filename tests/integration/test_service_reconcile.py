"""ReconcileService (what `paycli payments reconcile` calls) against moto tables and queues
built from the template: the age parsing, the dry run and the report the CLI prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from handler_harness import Stack, age, pay

from paycli.core.errors import UsageError
from paycli.core.reconcile import ReconcileService, parse_age


@pytest.fixture
def service(stack: Stack) -> ReconcileService:
    stack.account("acc_demo", 10_000)
    return ReconcileService(stack.ddb, stack.sqs, stack.tables.payments, stack.queue_url)


def test_parse_age_reads_the_documented_forms() -> None:
    assert parse_age("0s") == timedelta(0)
    assert parse_age("15m") == timedelta(minutes=15)
    assert parse_age(" 2H ") == timedelta(hours=2)
    assert parse_age("1d") == timedelta(days=1)
    for bad in ("", "15", "-5m", "1.5h", "2w", "soon", "9999999d", "99999999999d"):
        with pytest.raises(UsageError, match="--older-than"):
            parse_age(bad)


def test_dry_run_lists_without_sending_and_a_run_sends(
    service: ReconcileService, stack: Stack
) -> None:
    """The dry run names the stale payment and sends nothing; the real run sends ingress's
    body for it only (the fresh one is younger than --older-than)."""
    old, fresh = pay(stack, key="old"), pay(stack, key="fresh")
    stack.drain()
    age(stack, old, datetime.now(UTC) - timedelta(hours=2))
    dry = service.run("1h", dry_run=True).view()
    assert (dry["dry_run"], dry["scanned"], dry["requeued"]) == (True, 1, 0)
    assert dry["older_than_seconds"] == 3600
    assert [p["payment_id"] for p in dry["payments"]] == [old]
    assert dry["payments"][0]["status"] == "PENDING"
    assert stack.drain() == []
    done = service.run("1h").view()
    assert (done["scanned"], done["requeued"]) == (1, 1)
    assert stack.drain() == [json.dumps({"payment_id": old})]
    assert fresh not in json.dumps(done)


def test_older_than_zero_takes_everything_unsettled_up_to_the_limit(
    service: ReconcileService, stack: Stack
) -> None:
    """`--older-than 0s` is the operator's "now": every PENDING payment, bounded by --limit."""
    ids = [pay(stack, key=f"k{i}") for i in range(3)]
    stack.drain()
    now = datetime.now(UTC) + timedelta(seconds=1)
    report = service.run("0s", limit=2, now=now).view()
    assert (report["scanned"], report["requeued"], report["limit"]) == (2, 2, 2)
    assert {p["payment_id"] for p in report["payments"]} <= set(ids)
    with pytest.raises(UsageError):
        service.run("0s", limit=0)
