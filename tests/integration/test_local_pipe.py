"""The local EventBridge Pipe: Pipes' batch shape, delete-after-start, and DLQ on failure.

moto (in-process) plays SQS and Step Functions; the poller is the real one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from queues import queue_depth
from waiting import wait_until

from paycli.local.model import PipeSpec
from paycli.local.pipe import (
    PipeFaults,
    PipePoller,
    PipeStartError,
    UnsupportedPipeError,
    check_supported,
)
from paycli.local.pipe_transport import InProcessSqs, InProcessStepFunctions
from paycli.local.template import ACCOUNT_ID

REGION = "us-east-1"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


class Env:
    """A source queue with a DLQ (maxReceiveCount 2, visibility 0) and a state machine.

    `pipe_sqs` / `pipe_sfn` are what the pipe gets: boto3 clients, or the daemon's in-process
    transport into the same moto backends (every test runs on both)."""

    def __init__(self, transport: str) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.pipe_sqs: Any = self.sqs
        self.pipe_sfn: Any = self.sfn
        if transport == "in-process":
            self.pipe_sqs = InProcessSqs(ACCOUNT_ID, REGION)
            self.pipe_sfn = InProcessStepFunctions(ACCOUNT_ID, REGION)
        self.dlq_url = self.sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = self._arn(self.dlq_url)
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
        self.queue_url = self.sqs.create_queue(
            QueueName="source",
            Attributes={"VisibilityTimeout": "0", "RedrivePolicy": policy},
        )["QueueUrl"]
        self.machine_arn = self.sfn.create_state_machine(
            name="machine",
            definition=DEFINITION,
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        self.spec = PipeSpec(
            "pipe",
            self.queue_url,
            self._arn(self.queue_url),
            self.machine_arn,
            1,
            "FIRE_AND_FORGET",
        )

    def _arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def poller(self, cls: type[PipePoller] = PipePoller, **kwargs: Any) -> PipePoller:
        return cls(
            self.spec,
            sqs=self.pipe_sqs,
            sfn=self.pipe_sfn,
            region=REGION,
            wait_seconds=0,
            **kwargs,
        )

    def executions(self) -> list[dict[str, Any]]:
        listed = self.sfn.list_executions(stateMachineArn=self.machine_arn)["executions"]
        return [self.sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]

    def count(self, url: str) -> int:
        return queue_depth(self.sqs, url)


@pytest.fixture(params=["client", "in-process"])
def env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield Env(request.param)


def test_batch_of_one_is_a_json_array_of_pipes_records_and_is_deleted(env: Env) -> None:
    """BatchSize 1 still gives the target an array; the record has Pipes' fields; the message
    is deleted once the execution started."""
    env.sqs.send_message(
        QueueUrl=env.queue_url,
        MessageBody='{"payment_id": "pay_1"}',
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "card"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )
    poller = env.poller()

    assert poller.poll_once() == 1

    (execution,) = env.executions()
    records = json.loads(execution["input"])
    assert isinstance(records, list)
    assert len(records) == 1
    record = records[0]
    assert json.loads(record["body"]) == {"payment_id": "pay_1"}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == env.spec.source_queue_arn
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "card"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AP8="  # base64, as Pipes
    assert record["attributes"]["SenderId"]
    assert int(record["attributes"]["SentTimestamp"]) > 0
    assert {"messageId", "receiptHandle", "md5OfBody"} <= record.keys()
    assert execution["name"].startswith(record["messageId"])
    assert env.count(env.queue_url) == 0
    assert poller.stats.to_json() == {
        "received": 1,
        "started": 1,
        "start_failures": 0,
        "deleted": 1,
        "polls": 1,
    }


def test_every_execution_gets_its_own_name(env: Env) -> None:
    """moto fails a second unnamed StartExecution; the pipe always names them, uniquely."""
    for index in range(3):
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=json.dumps({"n": index}))
    poller = env.poller()
    while poller.poll_once():
        pass
    names = {e["name"] for e in env.executions()}
    assert len(names) == 3


class CountingSqs:
    """The real (moto) SQS client, counting DeleteMessageBatch calls."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.delete_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.delete_calls += 1
        return self._sqs.delete_message_batch(**kwargs)


@pytest.mark.parametrize(("batch_size", "sizes"), [(1, [1] * 7), (3, [3, 3, 1])])
def test_one_receive_is_split_into_batches_of_batch_size(
    env: Env, batch_size: int, sizes: list[int]
) -> None:
    """Seven queued messages are read in one receive and started as BatchSize batches, each
    its own execution; every started message goes in a single DeleteMessageBatch."""
    for index in range(7):
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=json.dumps({"n": index}))
    env.spec = PipeSpec(
        "pipe",
        env.queue_url,
        env.spec.source_queue_arn,
        env.machine_arn,
        batch_size,
        "FIRE_AND_FORGET",
    )
    sqs = CountingSqs(env.pipe_sqs)
    poller = PipePoller(env.spec, sqs=sqs, sfn=env.pipe_sfn, region=REGION, wait_seconds=0)

    assert poller.poll_once() == 7

    inputs = [json.loads(e["input"]) for e in env.executions()]
    assert sorted(len(batch) for batch in inputs) == sorted(sizes)
    bodies = sorted(json.loads(r["body"])["n"] for batch in inputs for r in batch)
    assert bodies == list(range(7))
    assert sqs.delete_calls == 1
    assert env.count(env.queue_url) == 0
    assert poller.stats.to_json() == {
        "received": 7,
        "started": len(sizes),
        "start_failures": 0,
        "deleted": 7,
        "polls": 1,
    }


def test_a_duplicate_delivery_fault_keeps_only_the_matching_message(env: Env) -> None:
    """skip_delete_matching applies per message: the others read in the same receive are
    deleted as usual."""
    for body in ('{"payment_id": "dup"}', '{"payment_id": "a"}', '{"payment_id": "b"}'):
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=body)
    poller = env.poller(faults=PipeFaults(skip_delete_matching="dup"))

    assert poller.poll_once() == 3

    assert poller.stats.deleted == 2
    (left,) = env.sqs.receive_message(QueueUrl=env.queue_url)["Messages"]
    assert left["Body"] == '{"payment_id": "dup"}'


class ConcurrencyTrackingSqs(CountingSqs):
    """Also records how many threads are inside receive_message at once."""

    def __init__(self, sqs: Any) -> None:
        super().__init__(sqs)
        self.inside = 0
        self.most_inside = 0
        self.receives = 0
        self._lock = threading.Lock()

    def receive_message(self, **kwargs: Any) -> Any:
        with self._lock:
            self.inside += 1
            self.receives += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            return self._sqs.receive_message(**kwargs)
        finally:
            with self._lock:
                self.inside -= 1


def test_one_poller_long_polls_at_a_time(env: Env) -> None:
    """Three pollers on a queue: never two receives at once (each message would otherwise
    wake every waiting poller into an empty receive), and every message is still started."""
    sqs = ConcurrencyTrackingSqs(env.pipe_sqs)
    poller = PipePoller(
        env.spec, sqs=sqs, sfn=env.pipe_sfn, region=REGION, pollers=3, wait_seconds=1
    )
    poller.start()
    try:
        for index in range(5):  # one at a time, each while the pollers wait for it
            polls = poller.stats.polls
            env.sqs.send_message(QueueUrl=env.queue_url, MessageBody=json.dumps({"n": index}))
            wait_until(lambda p=polls: poller.stats.polls > p, timeout=10, what=f"message {index}")
        wait_until(lambda: env.count(env.queue_url) == 0, timeout=10, what="an empty queue")
    finally:
        poller.stop()
    # Visibility 0 here, so a message may be received again before its delete: at least once.
    started = {json.loads(json.loads(e["input"])[0]["body"])["n"] for e in env.executions()}
    assert started == set(range(5))
    assert sqs.receives >= 2
    assert sqs.most_inside == 1


class FailingStart(PipePoller):
    """A pipe whose target cannot be started (the seam fault tests use)."""

    def start_execution(self, records: list[dict[str, Any]]) -> str:
        raise PipeStartError("target unavailable")


def test_message_the_pipe_cannot_start_reaches_the_dlq_after_max_receive_count(env: Env) -> None:
    """A failed StartExecution leaves the message; SQS redrives it to the DLQ after
    maxReceiveCount receives, with its body intact; nothing was started or deleted."""
    env.sqs.send_message(QueueUrl=env.queue_url, MessageBody='{"payment_id": "pay_x"}')
    poller = env.poller(FailingStart)

    handled = [poller.poll_once() for _ in range(3)]

    assert handled == [1, 1, 0]  # the third receive finds it over maxReceiveCount
    assert env.count(env.queue_url) == 0
    moved = env.sqs.receive_message(QueueUrl=env.dlq_url)["Messages"]
    assert [m["Body"] for m in moved] == ['{"payment_id": "pay_x"}']
    assert env.executions() == []
    assert poller.stats.start_failures == 2
    assert poller.stats.deleted == 0


def test_injected_duplicate_delivery_starts_a_second_execution(env: Env) -> None:
    """skip_delete_matching keeps a started message in the queue: it is delivered again."""
    env.sqs.send_message(QueueUrl=env.queue_url, MessageBody='{"payment_id": "dup"}')
    faults = PipeFaults(skip_delete_matching="dup")
    poller = env.poller(faults=faults)

    assert poller.poll_once() == 1
    faults.skip_delete_matching = None
    assert poller.poll_once() == 1

    inputs = [json.loads(e["input"])[0]["body"] for e in env.executions()]
    assert inputs == ['{"payment_id": "dup"}'] * 2
    assert env.count(env.queue_url) == 0


def test_running_pollers_fail_matching_messages_and_start_the_rest(env: Env) -> None:
    """With real poller threads: a faulted message goes to the DLQ, a normal one is started."""
    poller = env.poller(faults=PipeFaults(fail_start_matching="poison"), pollers=1)
    poller.wait_seconds = 1
    poller.start()
    try:
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody='{"payment_id": "poison"}')
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody='{"payment_id": "fine"}')
        wait_until(lambda: env.count(env.dlq_url), timeout=10, what="the poison message in the DLQ")
    finally:
        poller.stop()
    assert not poller.running
    assert env.count(env.dlq_url) == 1
    bodies = [json.loads(e["input"])[0]["body"] for e in env.executions()]
    assert bodies == ['{"payment_id": "fine"}']


def test_a_paused_pipe_leaves_messages_queued_until_resumed(env: Env) -> None:
    """The 'pipe down' fault: nothing is received while paused, though the poller took turns
    at the queue after the message arrived; resuming drains the queue."""
    faults = PipeFaults(paused=True)
    poller = env.poller(faults=faults, pollers=1)  # stock moto SQS is not thread-safe
    poller.wait_seconds = 1
    poller.start()
    try:
        env.sqs.send_message(QueueUrl=env.queue_url, MessageBody='{"payment_id": "later"}')
        polls = poller.stats.polls
        # A turn that began after the send ended (the one in flight at the read, then one more).
        wait_until(lambda: poller.stats.polls >= polls + 2, timeout=10, what="two paused turns")
        assert poller.stats.received == 0
        assert env.count(env.queue_url) == 1
        faults.paused = False
        wait_until(lambda: poller.stats.deleted, timeout=10, what="the message started, deleted")
    finally:
        poller.stop()
    counts = poller.stats.to_json()
    assert counts.pop("polls") >= polls + 3
    assert counts == {"received": 1, "started": 1, "start_failures": 0, "deleted": 1}
    assert env.count(env.queue_url) == 0


def test_stop_ends_idle_pollers_promptly(env: Env) -> None:
    """stop() returns within about one long-poll wait and leaves no thread behind."""
    poller = env.poller(pollers=3)
    poller.wait_seconds = 1
    poller.start()
    assert poller.running
    started = time.monotonic()
    poller.stop()
    assert time.monotonic() - started < 3
    assert not poller.running


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("invocation_type", "REQUEST_RESPONSE", "InvocationType REQUEST_RESPONSE"),
        ("target_arn", "arn:aws:lambda:us-east-1:123456789012:function:f", "only Step Functions"),
        ("batch_size", 11, "BatchSize 11"),
    ],
)
def test_unsupported_pipes_are_refused_by_name(field: str, value: Any, message: str) -> None:
    """A pipe the poller cannot run faithfully is an error naming it, never a silent skip."""
    fields: dict[str, Any] = {
        "name": "p",
        "source_queue_url": "u",
        "source_queue_arn": "a",
        "target_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "batch_size": 1,
        "invocation_type": "FIRE_AND_FORGET",
        field: value,
    }
    with pytest.raises(UnsupportedPipeError, match=message):
        check_supported(PipeSpec(**fields))
