"""Emulated DynamoDB in a process of its own (paycli/local/dynamodb_process.py), routed from
this process's moto as the daemon routes it: requests are answered there with moto's own
semantics, the daemon's fault plan fires there, and a dead process gives one clear error."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from waiting import wait_until

from paycli.local.dynamodb_process import EXITED_CODE, DynamoDbProcess
from paycli.local.faults import FaultInjector
from paycli.local.stack import LocalStack
from paycli.local.state import pid_alive
from paycli.local.template import ACCOUNT_ID

REGION = "us-east-1"


@pytest.fixture
def routed() -> Iterator[tuple[LocalStack, DynamoDbProcess, FaultInjector]]:
    """A local stack in this process whose DynamoDB is a child process, with a fault plan
    mirrored there as the daemon does."""
    stack = LocalStack(region=REGION, time_scale=0.01)
    stack.start()
    process = DynamoDbProcess()
    try:
        process.start()
        process.install()
        injector = FaultInjector()
        injector.mirror = process
        yield stack, process, injector
    finally:
        process.stop()
        stack.stop()


def _table(client: Any, name: str = "t") -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _local_tables() -> list[str]:
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - moto internals

    return list(dynamodb_backends[ACCOUNT_ID][REGION].tables)


def test_requests_are_answered_in_the_process_with_moto_semantics(
    routed: tuple[LocalStack, DynamoDbProcess, FaultInjector],
) -> None:
    """A table created and written through this process's clients lives in the other process
    (none here); a conditional transaction is cancelled with DynamoDB's reasons, intact."""
    stack, process, _ = routed
    dynamodb = stack.client("dynamodb")
    _table(dynamodb)
    dynamodb.put_item(TableName="t", Item={"k": {"S": "a"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"k": {"S": "a"}},
                        "UpdateExpression": "SET n = n - :one",
                        "ConditionExpression": "n > :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                }
            ]
        )
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert caught.value.response["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"
    assert dynamodb.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]["n"] == {"N": "1"}
    assert _local_tables() == []
    assert process.health()["requests"] >= 4
    assert process.health()["patches"] > 0


def test_the_fault_plan_fires_in_the_process_and_is_counted_here(
    routed: tuple[LocalStack, DynamoDbProcess, FaultInjector], monkeypatch: pytest.MonkeyPatch
) -> None:
    """dynamodb_lost_response: a handler's write (marked by its execution environment)
    commits in the process and answers 500; the counts show in this injector's view."""
    stack, _, injector = routed
    dynamodb = stack.client("dynamodb")
    _table(dynamodb)
    injector.set_plan({"seed": 1, "faults": {"dynamodb_lost_response": {"rate": 1.0}}})
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    with pytest.raises(ClientError) as caught:
        dynamodb.put_item(TableName="t", Item={"k": {"S": "a"}})
    assert caught.value.response["Error"]["Code"] == "InternalServerError"
    monkeypatch.delenv("AWS_EXECUTION_ENV")
    assert dynamodb.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"] == {"k": {"S": "a"}}
    dynamodb.put_item(TableName="t", Item={"k": {"S": "b"}})  # not a handler's: not hit
    assert injector.to_json()["fired"]["dynamodb_lost_response"] >= 1


def test_a_dead_process_gives_one_clear_error_and_stop_undoes_the_routing(
    routed: tuple[LocalStack, DynamoDbProcess, FaultInjector],
) -> None:
    """After SIGKILL every DynamoDB call fails with LocalDynamoDbProcessExited naming the pid
    and the signal; other services still answer; stop() leaves moto's dispatch as it was."""
    from moto.core.models import botocore_stubber  # noqa: PLC0415

    stack, process, _ = routed
    dynamodb = stack.client("dynamodb")
    _table(dynamodb)
    pid = process.pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not process.alive(), timeout=10, what="the process seen dead")
    with pytest.raises(ClientError) as caught:
        dynamodb.list_tables()
    assert caught.value.response["Error"]["Code"] == EXITED_CODE
    assert f"pid {pid}" in str(caught.value)
    assert "signal 9" in str(caught.value)
    assert process.health()["alive"] is False
    stack.client("sqs").list_queues()  # the rest of the stack is unaffected
    process.stop()
    assert "process_request" not in vars(botocore_stubber)
    assert not pid_alive(pid)
