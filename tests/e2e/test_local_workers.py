"""The local stack with Lambda worker processes (`paycli local up --lambda-workers N`): payments
settle through handlers in workers; a killed worker is reported and replaced; `down` and a
killed daemon leave no worker process behind."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
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
    """A deployed stack with one worker per function, in a private PAYCLI_HOME."""
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    monkeypatch.setenv("PAYCLI_LAMBDA_WORKERS", "1")  # what `local up --lambda-workers 1` passes
    handle = start_local_stack(tmp_path)
    try:
        yield handle
    finally:
        control.down()


def _settle_one(stack: LocalStackHandle, account: str) -> dict[str, object]:
    response = stack.pay_card(account, 250, TEST_CARDS["approved"])
    assert response.status == 202, response.json()
    return stack.wait_for_payment(response.json()["payment_id"], {"SUCCEEDED", "FAILED"})


def test_payments_settle_in_workers_and_a_killed_worker_is_replaced(
    stack: LocalStackHandle,
) -> None:
    """Handlers run in worker processes (children of the daemon); killing them is reported in
    health and the next payment still succeeds on fresh workers; `down` leaves none behind."""
    account = stack.create_account(10_000)
    assert _settle_one(stack, account)["status"] == "SUCCEEDED"
    workers = child_processes(stack.pid, "paycli.local.worker")
    assert len(workers) >= 3  # ingress, validate, deduct at least: one process each
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in workers), timeout=10, what="workers gone")
    assert _settle_one(stack, account)["status"] == "SUCCEEDED"
    health = control.health()["lambda_workers"]
    assert health["per_function"] == 1
    # Each payment function's killed worker is found dead by the second payment; the
    # scheduled function's (every 3 s at this time scale) only on its next firing, which may
    # come after this line (it failed so once: 3 crashes of 4 killed).
    assert health["crashes"] >= 3
    assert stack.balance(account) == 10_000 - 2 * 250
    fresh = child_processes(stack.pid, "paycli.local.worker")
    assert fresh
    assert not set(fresh) & set(workers)
    stop_local_stack(stack)
    assert not any(pid_alive(p) for p in fresh)


def test_workers_die_with_a_killed_daemon(stack: LocalStackHandle) -> None:
    """SIGKILL to the daemon (no clean-up runs): its workers get SIGKILL from the kernel."""
    account = stack.create_account(1_000)
    _settle_one(stack, account)
    workers = child_processes(stack.pid, "paycli.local.worker")
    assert workers
    os.kill(stack.pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(stack.pid), timeout=10, what="the daemon gone")
    wait_until(
        lambda: not any(pid_alive(p) for p in workers),
        timeout=10,
        what="the workers gone with their daemon",
    )
