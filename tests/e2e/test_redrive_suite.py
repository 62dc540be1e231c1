"""Suite 4, redrive, on the real daemon and the real CLI (a stack of this module's own): a
receive-send-delete redrive (`dlq redrive --max`'s loop) killed halfway, then `dlq redrive`
(SQS's move task, which the local stack implements) run again, and run twice at once, ends with
the DLQ empty, no message lost and no payment debited twice (the killed run's copies of
payments it already sent are moved too, as SQS would: their second execution ends in
AlreadySettled); `executions redrive
--failed` killed, rerun and run twice at once restarts each payment at most once per run.

`PAYCLI_REDRIVE_PAYMENTS=200 .venv/bin/python -m pytest tests/e2e/test_redrive_suite.py` is the
long run (README, Hostile-input suites)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import TEST_CARDS, LocalStackHandle, local_stack_at
from queues import queue_counts
from waiting import wait_until

from paycli.core.errors import ExitCode
from paycli.core.executions import payment_id_from_input

pytestmark = pytest.mark.e2e

VENV_BIN = Path(sys.executable).parent
PAYMENTS = int(os.environ.get("PAYCLI_REDRIVE_PAYMENTS", "20"))  # per batch
KILLED_DLQ_RUN = """
import os, sys, boto3
from paycli.core.dlq import DlqService, settled_payments
endpoint, region, key, secret, queue, dlq, table = sys.argv[1:8]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
          aws_secret_access_key=secret)
sqs, ddb = boto3.client("sqs", **kw), boto3.client("dynamodb", **kw)
# The loop (`dlq redrive --max`'s path), killed right after its first batch was sent, before
# the DLQ copies are deleted.
sqs.meta.events.register("after-call.sqs.SendMessageBatch", lambda **_: os._exit(137))
DlqService(sqs, queue, dlq, move_task_supported=False, move_visibility=3,
           settled=lambda ids: settled_payments(ddb, table, ids)).redrive()
"""
KILLED_MOVE_TASK_RUN = """
import os, sys, boto3
from paycli.core.dlq import DlqService
endpoint, region, key, secret, queue, dlq = sys.argv[1:7]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
          aws_secret_access_key=secret)
sqs = boto3.client("sqs", **kw)
# `dlq redrive`'s move task, the CLI killed as soon as SQS has started it.
sqs.meta.events.register("after-call.sqs.StartMessageMoveTask", lambda **_: os._exit(137))
DlqService(sqs, queue, dlq, move_task_supported=True).redrive()
"""
KILLED_EXECUTIONS_RUN = """
import os, sys, boto3
from paycli.core.executions import ExecutionsService
from paycli.core.payments import PaymentsService
endpoint, region, key, secret, machine, table = sys.argv[1:7]
kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
          aws_secret_access_key=secret)
sfn, ddb = boto3.client("stepfunctions", **kw), boto3.client("dynamodb", **kw)
# Killed right after its first restart started.
sfn.meta.events.register("after-call.sfn.StartExecution", lambda **_: os._exit(137))
service = ExecutionsService(sfn, machine, PaymentsService(None, ddb, table),
                            redrive_supported=False)
service.redrive(service.failed_since(None))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    with local_stack_at(tmp_path_factory.mktemp("paycli-redrive-home")) as handle:
        yield handle


def _credentials(stack: LocalStackHandle) -> list[str]:
    return [stack.endpoint, stack.region, stack.access_key, stack.secret_key]


def _killed(script: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 137, done.stderr


def _paycli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "paycli"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(*processes: subprocess.Popen[str]) -> list[Any]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        outputs.append(json.loads(out))
    return outputs


def _dlq_counts(stack: LocalStackHandle) -> tuple[int, int]:
    return queue_counts(stack.client("sqs"), stack.outputs["DeadLetterQueueUrl"])


def _dead_lettered_payments(stack: LocalStackHandle, account: str, count: int) -> list[str]:
    """`count` accepted payments whose messages sit in the DLQ (the pipe paused, the messages
    moved over as SQS's redrive policy moves them): PENDING, never started."""
    from paycli.local import control  # noqa: PLC0415

    control.set_faults(paused=True)
    try:
        stack.wait_for_pipe_turns()  # the poll in flight ends; no poller receives again
        ids = []
        for _ in range(count):
            response = stack.pay_card(account, 100, TEST_CARDS["approved"])
            assert response.status == 202
            ids.append(response.json()["payment_id"])
        sqs = stack.client("sqs")
        moved: set[str] = set()

        def move_to_dlq() -> bool:
            messages = sqs.receive_message(
                QueueUrl=stack.outputs["QueueUrl"], MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            for message in messages:
                sqs.send_message(QueueUrl=stack.outputs["DeadLetterQueueUrl"],
                                 MessageBody=message["Body"])  # fmt: skip
                sqs.delete_message(QueueUrl=stack.outputs["QueueUrl"],
                                   ReceiptHandle=message["ReceiptHandle"])  # fmt: skip
                moved.add(json.loads(message["Body"])["payment_id"])
            return len(moved) >= count

        wait_until(
            move_to_dlq, timeout=60, what=lambda: f"{count} queued messages (seen {len(moved)})"
        )
    finally:  # never leave the pipe paused for the next test
        control.set_faults(paused=False)
    assert moved == set(ids)
    return ids


def _wait_statuses(stack: LocalStackHandle, ids: list[str], wanted: set[str]) -> None:
    for payment_id in ids:
        stack.wait_for_payment(payment_id, wanted, timeout=120)


def _succeeded(
    stack: LocalStackHandle, ids: list[str], *, at_least: int, timeout: float = 60
) -> list[str]:
    """The payments of `ids` that are SUCCEEDED, once at least `at_least` are (or at the
    deadline, so the caller's assertion says how many)."""
    done: list[str] = []

    def enough() -> bool:
        done[:] = [
            p for p in ids if stack.request("GET", f"/payments/{p}").json()["status"] == "SUCCEEDED"
        ]
        return len(done) >= at_least

    wait_until(enough, timeout=timeout, interval=0.2, fail=False, what="SUCCEEDED payments")
    return done


def _executions_per_payment(stack: LocalStackHandle) -> Counter[str]:
    sfn = stack.client("stepfunctions")
    counts: Counter[str] = Counter()
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=stack.outputs["StateMachineArn"]):
        for item in page["executions"]:
            described = sfn.describe_execution(executionArn=item["executionArn"])
            payment_id = payment_id_from_input(described.get("input"))
            if payment_id:
                counts[payment_id] += 1
    return counts


def _debits(stack: LocalStackHandle, account: str) -> Counter[str]:
    items = stack.client("dynamodb").query(
        TableName=stack.outputs["LedgerTableName"],
        KeyConditionExpression="account_id = :a AND begins_with(entry_id, :d)",
        ExpressionAttributeValues={":a": {"S": account}, ":d": {"S": "debit#"}},
        ConsistentRead=True,
    )["Items"]
    return Counter(item["payment_id"]["S"] for item in items)


def test_dlq_redrive_killed_rerun_and_concurrent_loses_nothing_and_debits_once(
    stack: LocalStackHandle,
) -> None:
    account = stack.create_account(10**8)
    first = _dead_lettered_payments(stack, account, PAYMENTS)
    out = stack.outputs
    _killed(KILLED_DLQ_RUN, *_credentials(stack), out["QueueUrl"], out["DeadLetterQueueUrl"],
            out["PaymentsTableName"])  # fmt: skip
    visible, hidden = _dlq_counts(stack)
    assert hidden == 10, "the killed run held its first batch"
    assert visible == PAYMENTS - 10
    # The killed run sent its first batch before it died: those payments settle on their own.
    sent_by_the_killed_run = _succeeded(stack, first, at_least=10)
    assert len(sent_by_the_killed_run) == 10
    # The rerun's move task starts once the killed run's hidden copies reappear, so it moves
    # them too: the ten already sent run again and end without a second debit.
    (rerun,) = _finish(_paycli("dlq", "redrive", "--json"))
    assert (rerun["method"], rerun["moved"], rerun["failed"]) == (
        "StartMessageMoveTask",
        PAYMENTS,
        0,
    )
    _wait_statuses(stack, first, {"SUCCEEDED"})
    assert _dlq_counts(stack) == (0, 0)

    second = _dead_lettered_payments(stack, account, PAYMENTS)
    runs = _finish_or_refused(_paycli("dlq", "redrive", "--json"),
                              _paycli("dlq", "redrive", "--json"))  # fmt: skip
    assert sum(run["moved"] for run in runs) == PAYMENTS
    _wait_statuses(stack, second, {"SUCCEEDED"})
    assert _dlq_counts(stack) == (0, 0)

    _wait_idle(stack)
    executions = _executions_per_payment(stack)
    twice = set(sent_by_the_killed_run)
    assert {executions[p] for p in twice} == {2}, "the killed run's copies run once more"
    assert {executions[p] for p in first + second if p not in twice} == {1}
    assert _debits(stack, account) == Counter(dict.fromkeys(first + second, 1))
    assert stack.balance(account) == 10**8 - 100 * 2 * PAYMENTS


def _finish_or_refused(*processes: subprocess.Popen[str]) -> list[Any]:
    """The reports of the runs that ran; a run refused because the other's move task was
    running (SQS allows one per queue) exits with CONFLICT and says so."""
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        if process.returncode == ExitCode.CONFLICT:
            assert "a message move task is already running" in err
            continue
        assert process.returncode == 0, err
        outputs.append(json.loads(out))
    assert outputs, "at least one run moved the messages"
    return outputs


def test_a_move_task_goes_on_when_the_cli_that_started_it_is_killed(
    stack: LocalStackHandle,
) -> None:
    """The task runs in SQS (here the daemon), not in the CLI: killed right after
    StartMessageMoveTask, the redrive still moves every message; each payment settles once."""
    account = stack.create_account(10**8)
    ids = _dead_lettered_payments(stack, account, PAYMENTS)
    out = stack.outputs
    _killed(KILLED_MOVE_TASK_RUN, *_credentials(stack), out["QueueUrl"],
            out["DeadLetterQueueUrl"])  # fmt: skip
    _wait_statuses(stack, ids, {"SUCCEEDED"})
    assert _dlq_counts(stack) == (0, 0)
    _wait_idle(stack)
    executions = _executions_per_payment(stack)
    assert {executions[p] for p in ids} == {1}
    assert _debits(stack, account) == Counter(dict.fromkeys(ids, 1))


def test_executions_redrive_killed_rerun_and_concurrent_restart_once_per_run(
    stack: LocalStackHandle,
) -> None:
    account = stack.create_account(10**8)
    ids = []
    for _ in range(5):
        response = stack.pay_card(account, 100, TEST_CARDS["processing_error"])
        ids.append(response.json()["payment_id"])
    _wait_statuses(stack, ids, {"FAILED"})
    _wait_idle(stack)  # the executions' ends (after MarkFailed) are written
    before = _executions_per_payment(stack)
    assert {before[p] for p in ids} == {1}

    out = stack.outputs
    _killed(KILLED_EXECUTIONS_RUN, *_credentials(stack), out["StateMachineArn"],
            out["PaymentsTableName"])  # fmt: skip
    _wait_idle(stack)
    after_kill = _executions_per_payment(stack)
    assert sum(after_kill[p] for p in ids) == len(ids) + 1  # one restart before the kill

    _finish(_paycli("executions", "redrive", "--failed", "--yes", "--json"))
    _wait_idle(stack)
    after_rerun = _executions_per_payment(stack)
    assert {after_rerun[p] - after_kill[p] for p in ids} == {1}, "one restart per payment"

    _finish(*(_paycli("executions", "redrive", "--failed", "--yes", "--json") for _ in range(2)))
    _wait_idle(stack)
    after_two = _executions_per_payment(stack)
    # Two runs at once: the same restart asked for twice starts once (its name); a run that
    # lists after the other's restart already failed again restarts that newer failure: at
    # most one restart per payment per run, never the old doubling.
    assert {after_two[p] - after_rerun[p] for p in ids} <= {1, 2}
    assert _debits(stack, account) == Counter()  # the card always fails: never debited


def _wait_idle(stack: LocalStackHandle, timeout: float = 60) -> None:
    sfn = stack.client("stepfunctions")
    wait_until(
        lambda: (
            not sfn.list_executions(
                stateMachineArn=stack.outputs["StateMachineArn"], statusFilter="RUNNING"
            )["executions"]
        ),
        timeout=timeout,
        interval=0.2,
        what="no RUNNING executions",
    )
