"""The benchmark scripts still run and every payment they send settles exactly once.

Figures are never asserted (convention: benchmarks print, tests assert behaviour); what is
checked is that each script completes a small run, prints its JSON summary, and that the
pipeline it drove left nothing behind: all payments terminal, every execution SUCCEEDED, both
queues empty, no handler error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run benchmarks/NAME with ARGS; the JSON objects it printed, one per line."""
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert lines, completed.stdout[-2000:]
    return [json.loads(line) for line in lines]


def test_in_process_throughput_settles_every_payment_once() -> None:
    """throughput.py: N payments in, N SUCCEEDED executions out, queues drained."""
    (summary,) = run_script("throughput.py", "--n", "12", "--rate", "0", "--count-calls")
    assert summary["settled"] == 12
    assert summary["complete"] is True
    assert summary["executions_succeeded"] == 12
    assert summary["handler_errors"] == 0
    assert summary["QueueUrl_visible"] == summary["QueueUrl_in_flight"] == 0
    assert summary["DeadLetterQueueUrl_visible"] == 0
    calls = summary["aws_calls_per_payment"]
    assert calls["sqs.SendMessage"] == 1.0  # ingress enqueues each payment once
    assert "stepfunctions.StartExecution" not in calls  # the pipe calls the backend directly


def test_http_throughput_drives_the_real_daemon(tmp_path: Path) -> None:
    """http_throughput.py: the load driver's signed POSTs to a daemon it starts and stops
    itself; every payment read back SUCCEEDED."""
    (summary,) = run_script(
        "http_throughput.py", "--n", "8", "--clients", "2", env={"TMPDIR": str(tmp_path)}
    )
    assert summary["outcomes"] == {"SUCCEEDED": 8}
    assert summary["accepted"] == summary["completed"] == 8
    assert summary["daemon_cpu_ms_per_payment"] > 0


def test_moto_call_costs_print_for_each_operation() -> None:
    """moto_calls.py --only: one CPU figure per operation a payment makes (and those the
    speed patches are measured on: a receive with a backlog, an execution, a settlement)."""
    (summary,) = run_script("moto_calls.py", "--only", "--calls", "25")
    figures = summary["patched_cpu_ms_per_call"]
    assert set(figures) == {
        "dynamodb.GetItem",
        "dynamodb.UpdateItem",
        "dynamodb.TransactWriteItems",
        "dynamodb.TransactWriteItems(settlement)",
        "sqs.SendMessage",
        "sqs.ReceiveMessage(200 queued)",
        "sqs.GetQueueAttributes(200 queued)",
        "stepfunctions.execution",
    }
    assert all(value > 0 for value in figures.values())


def test_dlq_redrive_moves_every_message_by_task_and_by_loop(tmp_path: Path) -> None:
    """dlq_redrive.py: the move task and the receive-send-delete loop each move all N poison
    messages on a daemon it starts itself; each payment id reaches one execution."""
    (summary,) = run_script("dlq_redrive.py", "--n", "20", env={"TMPDIR": str(tmp_path)})
    assert set(summary) == {"task", "loop"}
    assert summary["task"]["method"] == "StartMessageMoveTask"
    assert summary["loop"]["method"] == "receive-send-delete"
    for figures in summary.values():
        assert (figures["moved"], figures["failed"], figures["executions"]) == (20, 0, 20)
        assert figures["lost"] == figures["duplicated"] == figures["dlq_after"] == 0
