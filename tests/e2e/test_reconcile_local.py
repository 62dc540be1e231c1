"""The reconciler on the real local stack: the CLI's sweep and the daemon's schedule.

A payment is written PENDING straight into the stack's table, as if ingress had crashed after
its transaction and before SendMessage: nothing will ever process it unless it is re-enqueued.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e_support import LocalStackHandle
from typer.testing import CliRunner
from waiting import wait_until

from paycli.cli.app import app

pytestmark = pytest.mark.e2e


def write_stranded_payment(stack: LocalStackHandle, account_id: str, amount_minor: int) -> str:
    """A wallet payment stored PENDING a minute ago whose queue message was never sent."""
    from paystack.domain.dynamo import iso_timestamp, to_item  # noqa: PLC0415
    from paystack.domain.payment import (  # noqa: PLC0415
        Payment,
        WalletDetails,
        payment_to_attributes,
    )

    payment_id = f"pay_{uuid.uuid4().hex}"
    stamp = iso_timestamp(datetime.now(UTC) - timedelta(minutes=1))
    payment = Payment(
        payment_id=payment_id,
        status="PENDING",
        method="wallet",
        account_id=account_id,
        amount_minor=amount_minor,
        currency="USD",
        created_at=stamp,
        updated_at=stamp,
        idempotency_key=f"crashed-{payment_id}",
        details=WalletDetails("wal_demo0001"),
    )
    stack.client("dynamodb").put_item(
        TableName=stack.outputs["PaymentsTableName"], Item=to_item(payment_to_attributes(payment))
    )
    return payment_id


def test_cli_reconcile_picks_up_a_payment_ingress_never_enqueued(
    local_stack: LocalStackHandle,
) -> None:
    """`payments reconcile --older-than 0s` re-enqueues the stranded payment; the pipe and the
    state machine then settle it SUCCEEDED with the account debited once."""
    account = local_stack.create_account(10_000)
    payment_id = write_stranded_payment(local_stack, account, 2_500)
    # Stranded: stored PENDING with nothing queued for it (read back, no waiting).
    assert local_stack.wait_for_payment(payment_id, {"PENDING"})["status"] == "PENDING"
    result = CliRunner().invoke(
        app, ["payments", "reconcile", "--older-than", "0s", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert payment_id in [p["payment_id"] for p in report["payments"]]
    assert report["requeued"] == report["scanned"] >= 1
    view = local_stack.wait_for_payment(payment_id, {"SUCCEEDED", "DECLINED", "FAILED"})
    assert view["status"] == "SUCCEEDED"
    assert local_stack.balance(account) == 7_500


def test_the_daemon_runs_the_schedule_at_the_scaled_rate(local_stack: LocalStackHandle) -> None:
    """rate(5 minutes) at the e2e time scale (0.01) is every 3 s: the daemon's health counts
    the firings and `paycli logs --function reconcile` shows the function's own log line."""
    from paycli.local import control  # noqa: PLC0415

    def reconciled() -> bool:
        result = CliRunner().invoke(app, ["logs", "--function", "reconcile", "--json"])
        assert result.exit_code == 0, result.output
        messages = [json.loads(line)["message"] for line in result.stdout.splitlines() if line]
        return any("reconcile finished" in str(m) for m in messages)

    wait_until(reconciled, timeout=15, interval=0.5, what="the scheduled ReconcileFunction's log")
    (fired,) = control.health()["schedules"].values()
    assert fired >= 1
