"""Lambda execution environments as worker processes (paycli/local/workers.py) over moto: the
real handler runs in its own process with its function's environment, its boto3 calls reach the
same moto backends, its lines reach the log store, a crash is Lambda's Runtime.ExitError and
the next invocation gets a fresh worker, and no process outlives the runner."""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from waiting import wait_until

from paycli.local.logstore import read_log_file
from paycli.local.model import FunctionSpec
from paycli.local.runner import LambdaRunner

HANDLER = """
import json
import os
import time
from pathlib import Path

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE"])
IMPORTED_IN = os.getpid()
print("cold start in", IMPORTED_IN)


def handler(event, context):
    if event.get("crash"):
        os._exit(7)
    TABLE.put_item(Item={"k": context.aws_request_id, "pid": os.getpid()})
    print(json.dumps({"level": "INFO", "message": "stored", "colour": os.environ["COLOUR"]}))
    return {"pid": os.getpid(), "imported_in": IMPORTED_IN, "colour": os.environ["COLOUR"]}


def pause(event, context):
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}


def meet(event, context):
    # Each invocation leaves a mark and waits for the other's: two at once see both.
    marks = Path(event["dir"])
    (marks / context.aws_request_id).touch()
    deadline = time.monotonic() + 2
    while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"saw": len(list(marks.iterdir())), "pid": os.getpid()}
"""


def _running(pid: int) -> bool:
    """Not yet exited (a zombie has exited; its parent has not reaped it yet)."""
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        yield ddb.create_table(
            TableName="marks",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def _spec(code: Path, attr: str = "handler") -> FunctionSpec:
    return FunctionSpec(
        logical_id="WorkerFunction",
        function_name="worker-fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:worker-fn",
        code_dir=code,
        handler=f"app.{attr}",
        environment={"TABLE": "marks", "COLOUR": "teal"},
        timeout=10,
    )


@pytest.fixture
def code(tmp_path: Path) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text(textwrap.dedent(HANDLER), encoding="utf-8")
    return tmp_path / "code"


def _invoke(runner: LambdaRunner, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    result = runner.invoke("worker-fn", json.dumps(event).encode())
    return json.loads(result.payload), result.function_error


def test_the_handler_runs_in_its_own_process_against_the_same_backends(
    table: Any, code: Path, tmp_path: Path
) -> None:
    """The handler's module state lives in a worker (not this process), sees its function's
    environment, writes through boto3 into the moto table this process reads, and its lines
    reach the log store and the JSONL file `paycli logs` reads."""
    runner = LambdaRunner(log_dir=tmp_path / "logs", lambda_workers=1)
    runner.register(_spec(code))
    try:
        first, error = _invoke(runner, {})
        second, _ = _invoke(runner, {})
    finally:
        runner.close()
    assert error is None
    assert first["pid"] != os.getpid()
    assert first["imported_in"] == first["pid"] == second["pid"]  # warm: imported once
    assert first["colour"] == "teal"
    assert {item["pid"] for item in table.scan()["Items"]} == {first["pid"]}
    lines = read_log_file(tmp_path / "logs" / "handler-logs.jsonl", "worker-fn")
    assert [r["message"] for r in lines if r["stream"] == "stdout"] == [
        f"cold start in {first['pid']}",
        "stored",
        "stored",
    ]
    assert [r.get("fields", {}).get("colour") for r in lines if r["message"] == "stored"] == [
        "teal",
        "teal",
    ]


def test_a_crash_is_a_runtime_exit_error_then_a_fresh_worker_serves_the_retry(
    table: Any, code: Path
) -> None:
    """A worker that exits mid-invocation: the invocation gets Lambda's Runtime.ExitError
    (FunctionError Unhandled), the crash is counted, the dead process is reaped, and the
    invocation retried (as a caller's Retry would) succeeds on a new worker."""
    runner = LambdaRunner(lambda_workers=1)
    runner.register(_spec(code))
    try:
        warm, _ = _invoke(runner, {})
        crashed, error = _invoke(runner, {"crash": True})
        assert error == "Unhandled"
        assert crashed["errorType"] == "Runtime.ExitError"
        assert "exit status 7" in crashed["errorMessage"]
        assert not _alive(warm["pid"])
        assert runner.worker_stats.to_json()["crashes"] == 1
        retried, error = _invoke(runner, {})
        assert error is None
        assert retried["pid"] not in (warm["pid"], os.getpid())
        assert retried["imported_in"] == retried["pid"]  # a cold start in the new worker
    finally:
        runner.close()
    assert not _alive(retried["pid"])


def test_a_worker_killed_while_idle_costs_no_invocation(table: Any, code: Path) -> None:
    """A worker killed between invocations is noticed when next needed: reported, replaced,
    and the invocation that needed it succeeds."""
    runner = LambdaRunner(lambda_workers=1)
    runner.register(_spec(code))
    try:
        warm, _ = _invoke(runner, {})
        os.kill(warm["pid"], 9)
        wait_until(lambda: not _running(warm["pid"]), timeout=5, what="the worker exited")
        after, error = _invoke(runner, {})
        assert error is None
        assert after["pid"] != warm["pid"]
        assert runner.worker_stats.to_json()["crashes"] == 1
    finally:
        runner.close()


def test_workers_per_function_is_its_concurrency(table: Any, code: Path, tmp_path: Path) -> None:
    """Two workers per function run two invocations of it at once (each sees the other's
    mark); one worker runs them one after the other (each sees only its own)."""
    for workers, expected in ((2, [2, 2]), (1, [1, 2])):
        marks = tmp_path / f"marks-{workers}"
        marks.mkdir()
        runner = LambdaRunner(lambda_workers=workers)
        runner.register(_spec(code, "meet"))
        results: list[dict[str, Any]] = []

        def call(
            runner: LambdaRunner = runner,
            marks: Path = marks,
            results: list[dict[str, Any]] = results,
        ) -> None:
            results.append(_invoke(runner, {"dir": str(marks)})[0])

        try:
            threads = [threading.Thread(target=call) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            runner.close()
        assert sorted(r["saw"] for r in results) == expected
        assert len({r["pid"] for r in results}) == workers
        assert not any(_alive(r["pid"]) for r in results)


def test_waiting_for_a_busy_worker_is_not_part_of_the_timeout(table: Any, code: Path) -> None:
    """With one (warm) worker, a second invocation queues behind the first (1.2 s each,
    Timeout 2 s): it runs 1.2 s and succeeds, as in process, where waiting for the sandbox is
    not timed either. Counting the wait made payments FAILED with TimeoutError under load."""
    runner = LambdaRunner(lambda_workers=1)
    runner.register(dataclasses.replace(_spec(code, "pause"), timeout=2))
    results: list[tuple[dict[str, Any], str | None]] = []
    try:
        assert _invoke(runner, {"seconds": 0}) == ({"slept": 0}, None)  # the cold start
        threads = [
            threading.Thread(target=lambda: results.append(_invoke(runner, {"seconds": 1.2})))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        runner.close()
    assert results == [({"slept": 1.2}, None), ({"slept": 1.2}, None)]
