"""Ctrl-C in `paycli pay --wait` (a real process, SIGINT) while the payment waits for the
pipe (paused until the test resumes it): exit 130, the payment printed as last seen, and one
line saying it was accepted and settles on the stack, which it then does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner
from waiting import wait_until

from paycli.cli.app import app
from paycli.local import control

pytestmark = pytest.mark.e2e
runner = CliRunner()


def test_ctrl_c_while_pay_waits_says_the_payment_settles_anyway(
    local_stack: Any,
) -> None:
    """It used to say only 'stopped by Ctrl-C before it finished' (and typer alone, nothing)."""
    account = f"acc_{uuid.uuid4().hex[:10]}"
    created = runner.invoke(app, ["accounts", "create", "--id", account, "--balance", "10.00"])
    assert created.exit_code == 0, created.output
    # Paused until resumed: a timed pause could end (and the payment settle, and pay exit)
    # before the test pressed Ctrl-C; SIGINT in a Python that is shutting down kills it
    # (exit -2, no output), which a CI run once met.
    control.set_faults(paused=True)
    local_stack.wait_for_pipe_turns()  # the poll in flight ends; no poller receives again
    dynamodb, table = local_stack.client("dynamodb"), local_stack.outputs["PaymentsTableName"]

    def ours() -> list[dict[str, Any]]:
        items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
        return [i for i in items if i["account_id"]["S"] == account]

    try:
        args = ["pay", "card", "--amount", "1.00", "--account", account, "--wait", "--json"]
        with subprocess.Popen(
            [sys.executable, "-m", "paycli", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        ) as pay:  # fmt: skip
            wait_until(ours, timeout=60, what="the payment")
            pay.send_signal(signal.SIGINT)
            stdout, stderr = pay.communicate(timeout=60)
    finally:
        control.set_faults(paused=False)
    assert pay.returncode == 130, stderr
    shown = json.loads(stdout)
    assert shown["status"] == "PENDING"  # the pipe never received it: not started
    accepted = (
        f"Interrupted: stopped waiting: {shown['payment_id']} was accepted ({shown['status']}"
    )
    assert accepted in stderr
    assert f"Hint: `paycli payments get {shown['payment_id']}` shows its outcome" in stderr
    wait_until(
        lambda: ours()[0]["status"]["S"] == "SUCCEEDED", timeout=60, what="the payment to settle"
    )
