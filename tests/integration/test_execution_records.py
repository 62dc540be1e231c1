"""The execution_records patch: a state machine keeps its RUNNING executions and the newest
`executions_kept()` finished ones per terminal status (moto kept every one forever, in a list
that StartExecution and DescribeExecution walked)."""

from __future__ import annotations

import gc
import json
import sys
import uuid
import weakref
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from botocore.exceptions import ClientError
from waiting import wait_until

from paycli.local.patches import memory
from paycli.local.stack import LocalStack

ROLE = "arn:aws:iam::123456789012:role/sfn"
PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    local = LocalStack(time_scale=0.001)
    local.start()
    kept = memory.executions_kept()
    try:
        yield local
    finally:
        memory.set_executions_kept(kept)
        local.stop()


def machine(stack: LocalStack, definition: dict[str, Any]) -> str:
    return str(
        stack.client("stepfunctions").create_state_machine(
            name=f"m{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
    )


def run_all(stack: LocalStack, arn: str, names: list[str], input_: str = "{}") -> list[str]:
    """Start one execution per name, wait until none runs; their ARNs in start order."""
    sfn = stack.client("stepfunctions")
    arns = [
        sfn.start_execution(stateMachineArn=arn, name=name, input=input_)["executionArn"]
        for name in names
    ]
    wait_until(
        lambda: not sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"],
        timeout=30,
        what="executions to end",
    )
    return arns


def listed(stack: LocalStack, arn: str, status: str | None = None) -> list[str]:
    kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": 1000}
    if status:
        kwargs["statusFilter"] = status
    reply = stack.client("stepfunctions").list_executions(**kwargs)
    return [e["executionArn"] for e in reply["executions"]]


def test_only_the_newest_finished_executions_per_status_are_kept(stack: LocalStack) -> None:
    """Past the bound the oldest finished executions go (DescribeExecution: does not exist);
    the newest stay complete, with their history; failures are kept by their own count, so
    a run of successes does not push them out."""
    memory.set_executions_kept(5)
    sfn = stack.client("stepfunctions")
    arn = machine(
        stack,
        {
            "StartAt": "Choose",
            "States": {
                "Choose": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "F"}],
                    "Default": "A",
                },
                "A": {"Type": "Pass", "End": True},
                "F": {"Type": "Fail", "Error": "Boom", "Cause": "test"},
            },
        },
    )
    failed = run_all(stack, arn, ["f0", "f1"], '{"fail": true}')
    succeeded = run_all(stack, arn, [f"s{i}" for i in range(12)], '{"fail": false}')

    assert sorted(listed(stack, arn, "SUCCEEDED")) == sorted(succeeded[-5:])
    assert sorted(listed(stack, arn, "FAILED")) == sorted(failed)
    assert len(listed(stack, arn)) == 7
    with pytest.raises(ClientError) as gone:
        sfn.describe_execution(executionArn=succeeded[0])
    assert gone.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
    newest = sfn.describe_execution(executionArn=succeeded[-1])
    assert newest["status"] == "SUCCEEDED"
    events = sfn.get_execution_history(executionArn=succeeded[-1])["events"]
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"


def test_running_executions_are_never_dropped(stack: LocalStack) -> None:
    """The bound counts finished executions only: one that waits is still there, and still
    finishes, however many end meanwhile."""
    memory.set_executions_kept(2)
    sfn = stack.client("stepfunctions")
    waits = machine(
        stack, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3000, "End": True}}}
    )
    passes = machine(stack, PASS)
    waiting = sfn.start_execution(stateMachineArn=waits, name="w", input="{}")["executionArn"]
    run_all(stack, passes, [f"p{i}" for i in range(6)])
    assert sfn.describe_execution(executionArn=waiting)["status"] == "RUNNING"
    wait_until(
        lambda: sfn.describe_execution(executionArn=waiting)["status"] == "SUCCEEDED",
        timeout=30,
        what="the waiting execution to end",
    )
    assert len(listed(stack, passes)) == 2


def test_names_of_kept_executions_stay_taken(stack: LocalStack) -> None:
    """AWS's name rules through the name map: a finished name is refused, the same name and
    input while it runs is the same execution (moto and AWS), other input is refused."""
    sfn = stack.client("stepfunctions")
    arn = machine(stack, PASS)
    (done,) = run_all(stack, arn, ["taken"])
    with pytest.raises(ClientError) as taken:
        sfn.start_execution(stateMachineArn=arn, name="taken", input="{}")
    assert taken.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert done.endswith(":taken")

    waits = machine(
        stack, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3000, "End": True}}}
    )
    first = sfn.start_execution(stateMachineArn=waits, name="w", input='{"a": 1}')
    again = sfn.start_execution(stateMachineArn=waits, name="w", input='{"a": 1}')
    assert again["executionArn"] == first["executionArn"]
    with pytest.raises(ClientError) as other:
        sfn.start_execution(stateMachineArn=waits, name="w", input='{"a": 2}')
    assert other.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_a_dropped_execution_is_freed_without_the_cycle_collector(stack: LocalStack) -> None:
    """The daemon freezes its long-lived heap (gc_policy), and a frozen reference cycle is
    never collected: a dropped execution must go by reference counting alone."""
    from moto.stepfunctions.parser.models import (  # noqa: PLC0415 - moto internals
        stepfunctions_parser_backends,
    )

    memory.set_executions_kept(1)
    arn = machine(stack, PASS)
    (first,) = run_all(stack, arn, ["first"])
    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    dropped = weakref.ref(backend.describe_state_machine(arn).executions.get(first))
    gc.disable()
    try:
        run_all(stack, arn, ["second", "third"])
        assert dropped() is None
    finally:
        gc.enable()


def _lines_run(call: Callable[[], object]) -> int:
    """Python lines executed by `call` in this thread (the in-process request runs here)."""
    count = 0

    def tracer(frame: FrameType, event: str, _arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return count


def test_start_and_describe_do_not_walk_the_executions(stack: LocalStack) -> None:
    """StartExecution's name check and DescribeExecution's lookup cost the same with 10 or
    310 kept executions (moto's list walk ran its loop once per kept execution)."""
    memory.set_executions_kept(10_000)
    sfn = stack.client("stepfunctions")
    arn = machine(stack, PASS)
    few = run_all(stack, arn, [f"a{i}" for i in range(10)])

    def start(name: str) -> Callable[[], object]:
        return lambda: sfn.start_execution(stateMachineArn=arn, name=name, input="{}")

    def describe(execution: str) -> Callable[[], object]:
        return lambda: sfn.describe_execution(executionArn=execution)

    _lines_run(start("warm"))  # first-call caches (clients, parsers) out of the count
    small = (_lines_run(start("b0")), _lines_run(describe(few[0])))
    run_all(stack, arn, [f"c{i}" for i in range(300)])
    large = (_lines_run(start("b1")), _lines_run(describe(few[0])))
    # a walk would add at least one line per execution: 300 or more
    assert large[0] - small[0] < 100, (small, large)
    assert large[1] - small[1] < 100, (small, large)


def test_the_bound_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """$PAYCLI_LOCAL_EXECUTIONS_KEPT sets it; nonsense is one clear error."""
    monkeypatch.setenv(memory.EXECUTIONS_KEPT_ENV, "250")
    assert memory.executions_kept_from_env() == 250
    monkeypatch.setenv(memory.EXECUTIONS_KEPT_ENV, "")
    assert memory.executions_kept_from_env() == memory.DEFAULT_EXECUTIONS_KEPT
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(memory.EXECUTIONS_KEPT_ENV, bad)
        with pytest.raises(ValueError, match=memory.EXECUTIONS_KEPT_ENV):
            memory.executions_kept_from_env()
