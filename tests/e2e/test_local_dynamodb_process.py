"""The local stack with emulated DynamoDB in its own process (`paycli local up
--dynamodb-process`): payments settle with every DynamoDB request (the CLI's endpoint, the
interpreter, the handlers in workers) answered there; a killed DynamoDB process is reported
and DynamoDB requests fail at once with one clear error; `down` and a killed daemon leave no
process behind."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from e2e_support import (
    TEST_CARDS,
    LocalStackHandle,
    child_processes,
    start_local_stack,
    stop_local_stack,
)
from waiting import wait_until

from paycli.local import control
from paycli.local.state import pid_alive


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStackHandle]:
    """A deployed stack with DynamoDB in its own process and one worker per function."""
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    monkeypatch.setenv("PAYCLI_DYNAMODB_PROCESS", "1")  # what `local up --dynamodb-process` sets
    monkeypatch.setenv("PAYCLI_LAMBDA_WORKERS", "1")
    handle = start_local_stack(tmp_path)
    try:
        yield handle
    finally:
        control.down()


def _settle_one(stack: LocalStackHandle, account: str) -> dict[str, object]:
    response = stack.pay_card(account, 250, TEST_CARDS["approved"])
    assert response.status == 202, response.json()
    return stack.wait_for_payment(response.json()["payment_id"], {"SUCCEEDED", "FAILED"})


def test_payments_settle_with_dynamodb_in_its_own_process(stack: LocalStackHandle) -> None:
    """The account (written over the CLI's endpoint), the handlers' reads and writes (from
    workers) and the state machine's updateItem all reach the one DynamoDB process: the payment
    settles and the balance read back over the endpoint is debited; `down` stops it."""
    account = stack.create_account(10_000)
    assert _settle_one(stack, account)["status"] == "SUCCEEDED"
    assert stack.balance(account) == 10_000 - 250
    health = control.health()["dynamodb_process"]
    assert health["alive"] is True
    assert health["patches"] > 0  # moto in there is patched as the daemon's is
    assert health["requests"] > 0  # the daemon's own DynamoDB calls went there too
    assert child_processes(stack.pid, "paycli.local.dynamodb_process") == [health["pid"]]
    stop_local_stack(stack)
    assert not pid_alive(health["pid"])


def test_a_killed_dynamodb_process_is_reported_and_requests_fail_clearly(
    stack: LocalStackHandle,
) -> None:
    """SIGKILL to the DynamoDB process: health says it died and how, a DynamoDB call over the
    endpoint fails at once naming the process and the remedy (not a hang, not retried), and
    `down` still stops everything."""
    account = stack.create_account(1_000)
    pid = control.health()["dynamodb_process"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), timeout=10, what="the DynamoDB process gone")
    with pytest.raises(ClientError) as caught:
        stack.balance(account)
    assert caught.value.response["Error"]["Code"] == "LocalDynamoDbProcessExited"
    assert f"pid {pid}" in str(caught.value)
    assert "paycli local down" in str(caught.value)
    health = control.health()["dynamodb_process"]
    assert health["alive"] is False
    assert health["exit"] == "signal 9"
    assert f"DynamoDB process (pid {pid}) exited" in str(control.status().problem)
    workers = child_processes(stack.pid, "paycli.local.worker")
    stop_local_stack(stack)
    assert not any(pid_alive(p) for p in workers)


def test_the_dynamodb_process_dies_with_a_killed_daemon(stack: LocalStackHandle) -> None:
    """SIGKILL to the daemon (no clean-up runs): the kernel ends its DynamoDB process too."""
    account = stack.create_account(1_000)
    _settle_one(stack, account)
    children = child_processes(stack.pid, "paycli.local.dynamodb_process")
    assert len(children) == 1
    os.kill(stack.pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(stack.pid), timeout=10, what="the daemon gone")
    wait_until(lambda: not pid_alive(children[0]), timeout=10, what="DynamoDB gone with its daemon")
