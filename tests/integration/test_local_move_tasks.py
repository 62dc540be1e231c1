"""The local stack's SQS message move tasks (paycli/local/move_tasks.py) over moto's SQS, through
boto3 as `paycli dlq redrive` calls them: what AWS moves, what it refuses (in AWS's words), the
rate cap, cancelling, a destination deleted mid-task, and that no message is ever in neither
queue. Then DlqService's redrive on them.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from queues import queue_depth
from waiting import wait_until

from paycli.core.aws import AwsTarget, StackOutputs
from paycli.core.dlq import DlqService
from paycli.core.services import Services
from paycli.core.settings import Settings
from paycli.local import patches

REGION = "us-east-1"


class Queues:
    """A source queue whose DLQ is `dlq`, plus `other`, a queue that is no one's DLQ."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dlq = self.sqs.create_queue(QueueName="dlq")["QueueUrl"]
        policy = json.dumps({"deadLetterTargetArn": self.arn(self.dlq), "maxReceiveCount": 1})
        self.source = self.sqs.create_queue(
            QueueName="source", Attributes={"RedrivePolicy": policy}
        )["QueueUrl"]
        self.other = self.sqs.create_queue(QueueName="other")["QueueUrl"]

    def arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def park(self, count: int) -> list[str]:
        """`count` messages in the DLQ, each with a message attribute; their bodies in order."""
        bodies = [f"m{i:04d}" for i in range(count)]
        for start in range(0, count, 10):
            self.sqs.send_message_batch(
                QueueUrl=self.dlq,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": body,
                        "MessageAttributes": {
                            "error": {"DataType": "String", "StringValue": f"E{body}"}
                        },
                    }
                    for i, body in enumerate(bodies[start : start + 10])
                ],
            )
        return bodies

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Receive and delete everything in a queue, in receive order."""
        found: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            found.extend(batch)
            for message in batch:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def count(self, url: str) -> int:
        return queue_depth(self.sqs, url)

    def latest(self, source_url: str | None = None) -> dict[str, Any]:
        results = self.sqs.list_message_move_tasks(SourceArn=self.arn(source_url or self.dlq))
        return dict(results["Results"][0])

    def finished(self, timeout: float = 30) -> dict[str, Any]:
        return wait_until(
            lambda: (task := self.latest())["Status"] not in {"RUNNING", "CANCELLING"} and task,
            timeout=timeout,
            what=lambda: f"the move task to end (last {self.latest()})",
        )


@pytest.fixture
def queues(aws_env: None) -> Iterator[Queues]:
    with patches.applied(), mock_aws():
        yield Queues()


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_task_moves_every_message_oldest_first_as_new_messages(queues: Queues) -> None:
    """Body and attributes kept, new message ids, the DLQ empty, the task COMPLETED with the
    counts; the listed task has no TaskHandle once finished, and no rate nor destination
    fields where none were given."""
    bodies = queues.park(25)
    old_ids = {m["MessageId"] for m in queues.sqs.receive_message(
        QueueUrl=queues.dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]}  # fmt: skip
    handle = queues.sqs.start_message_move_task(
        SourceArn=queues.arn(queues.dlq), DestinationArn=queues.arn(queues.other)
    )["TaskHandle"]
    decoded = json.loads(base64.b64decode(handle))
    assert decoded["sourceArn"] == queues.arn(queues.dlq)
    assert uuid.UUID(decoded["taskId"])
    task = queues.finished()
    assert task["Status"] == "COMPLETED"
    counts = (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"])
    assert counts == (25, 25)
    assert task["DestinationArn"] == queues.arn(queues.other)
    assert "TaskHandle" not in task
    assert "MaxNumberOfMessagesPerSecond" not in task
    assert "FailureReason" not in task
    moved = queues.drain(queues.other)
    assert [m["Body"] for m in moved] == bodies
    assert [m["MessageAttributes"]["error"]["StringValue"] for m in moved] == [
        f"E{b}" for b in bodies
    ]
    assert not old_ids & {m["MessageId"] for m in moved}
    assert queues.count(queues.dlq) == 0


def test_without_a_destination_messages_go_back_to_the_source_queue(queues: Queues) -> None:
    bodies = queues.park(3)
    queues.sqs.start_message_move_task(SourceArn=queues.arn(queues.dlq))
    task = queues.finished()
    assert (task["Status"], "DestinationArn" in task) == ("COMPLETED", False)
    assert [m["Body"] for m in queues.drain(queues.source)] == bodies


def test_with_two_source_queues_and_no_destination_the_task_fails_and_moves_nothing(
    queues: Queues,
) -> None:
    """moto does not record which source each message came from: the twin fails rather than
    guess, and keeps every message."""
    policy = json.dumps({"deadLetterTargetArn": queues.arn(queues.dlq), "maxReceiveCount": 1})
    queues.sqs.create_queue(QueueName="second", Attributes={"RedrivePolicy": policy})
    queues.park(3)
    queues.sqs.start_message_move_task(SourceArn=queues.arn(queues.dlq))
    task = queues.finished()
    assert (task["Status"], task["FailureReason"]) == ("FAILED", "UnsupportedOperation")
    assert queues.count(queues.dlq) == 3


def test_refusals_in_aws_words(queues: Queues) -> None:
    sqs, dlq_arn = queues.sqs, queues.arn(queues.dlq)
    start = sqs.start_message_move_task
    fifo = sqs.create_queue(QueueName="f.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    assert _error(start, SourceArn=queues.arn(queues.other)) == (
        "InvalidParameterValue",
        "Source queue must be configured as a Dead Letter Queue.",
    )
    assert _error(start, SourceArn=dlq_arn + "-gone") == (
        "ResourceNotFoundException",
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )
    assert _error(start, SourceArn=dlq_arn, DestinationArn=dlq_arn + "-gone") == (
        "ResourceNotFoundException",
        "The resource that you specified for the DestinationArn parameter doesn't exist.",
    )
    assert _error(start, SourceArn=dlq_arn, DestinationArn=queues.arn(fifo)) == (
        "InvalidParameterValue",
        "The source queue and destination queue must be of the same queue type.",
    )
    for rate in (0, 501):
        code, message = _error(start, SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=rate)
        assert (code, message.split(" Reason")[0]) == (
            "InvalidParameterValue",
            f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid.",
        )
    code, _ = _error(sqs.list_message_move_tasks, SourceArn=dlq_arn, MaxResults=11)
    assert code == "InvalidParameterValue"
    assert sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"] == []


def test_one_active_task_per_source_queue(queues: Queues) -> None:
    queues.park(5)
    dlq_arn = queues.arn(queues.dlq)
    handle = queues.sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)[
        "TaskHandle"
    ]
    assert queues.latest()["TaskHandle"] == handle
    assert _error(queues.sqs.start_message_move_task, SourceArn=dlq_arn) == (
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue "
        "arn at a given time.",
    )
    queues.sqs.cancel_message_move_task(TaskHandle=handle)
    assert queues.finished()["Status"] == "CANCELLED"
    queues.sqs.start_message_move_task(SourceArn=dlq_arn)  # allowed once none is active
    assert queues.finished()["Status"] == "COMPLETED"
    statuses = queues.sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
    assert [t["Status"] for t in statuses] == ["COMPLETED", "CANCELLED"]  # newest first


def test_cancel_stops_the_task_and_keeps_what_is_left(queues: Queues) -> None:
    """CANCELLING, then CANCELLED; moved messages stay moved, the others stay in the DLQ."""
    queues.park(10)
    handle = queues.sqs.start_message_move_task(
        SourceArn=queues.arn(queues.dlq), MaxNumberOfMessagesPerSecond=2
    )["TaskHandle"]
    reply = queues.sqs.cancel_message_move_task(TaskHandle=handle)
    assert reply["ApproximateNumberOfMessagesMoved"] <= 2
    task = queues.finished()
    assert task["Status"] == "CANCELLED"
    assert task["MaxNumberOfMessagesPerSecond"] == 2
    moved = task["ApproximateNumberOfMessagesMoved"]
    assert moved < 10
    assert queues.count(queues.source) == moved
    assert queues.count(queues.dlq) == 10 - moved
    assert _error(queues.sqs.cancel_message_move_task, TaskHandle=handle)[0] == (
        "InvalidParameterValue"
    )


def test_cancel_with_unknown_handles(queues: Queues) -> None:
    def handle(task_id: str, source_arn: str) -> str:
        raw = json.dumps({"taskId": task_id, "sourceArn": source_arn})
        return base64.b64encode(raw.encode()).decode()

    cancel = queues.sqs.cancel_message_move_task
    assert _error(cancel, TaskHandle="foobared") == (
        "InvalidParameterValue",
        "Value for parameter TaskHandle is invalid.",
    )
    assert _error(cancel, TaskHandle=handle(str(uuid.uuid4()), queues.arn(queues.dlq))) == (
        "ResourceNotFoundException",
        "Task does not exist.",
    )
    assert _error(cancel, TaskHandle=handle(str(uuid.uuid4()), queues.arn(queues.dlq) + "x")) == (
        "ResourceNotFoundException",
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )


def test_the_rate_is_never_exceeded_not_even_at_the_start(queues: Queues) -> None:
    """At 10 a second the task is never ahead of the rate since it started (AWS documents no
    burst): every look finds at most 10 * t moved, t seconds after the start was asked for,
    and 20 messages take at least 2 s. (Paced per trailing second, 10 moved at once and the
    next 10 a second later: done in 1 s, twice the rate over the task's life.)"""
    queues.park(20)
    seen: list[tuple[float, int]] = []
    started = time.monotonic()
    queues.sqs.start_message_move_task(
        SourceArn=queues.arn(queues.dlq), MaxNumberOfMessagesPerSecond=10
    )

    def finished() -> dict[str, Any] | None:  # each look is a sample of the task's progress
        task = queues.latest()
        if task["Status"] != "RUNNING":
            return task
        seen.append((time.monotonic() - started, task["ApproximateNumberOfMessagesMoved"]))
        return None

    task = wait_until(finished, timeout=30, what="the move task to end", interval=0.05)
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 20)
    assert time.monotonic() - started >= 2.0
    assert len(seen) > 3
    assert [(t, moved) for t, moved in seen if moved > 10 * t] == []


def test_a_destination_deleted_mid_task_fails_it_and_loses_nothing(queues: Queues) -> None:
    queues.park(10)
    queues.sqs.start_message_move_task(
        SourceArn=queues.arn(queues.dlq),
        DestinationArn=queues.arn(queues.other),
        MaxNumberOfMessagesPerSecond=1,
    )
    wait_until(
        lambda: queues.latest()["ApproximateNumberOfMessagesMoved"] >= 1,
        timeout=30,
        what="the first message moved",
    )
    received = queues.drain(queues.other)
    queues.sqs.delete_queue(QueueUrl=queues.other)
    task = queues.finished()
    assert (task["Status"], task["FailureReason"]) == (
        "FAILED",
        "AWS.SimpleQueueService.NonExistentQueue",
    )
    assert task["ApproximateNumberOfMessagesMoved"] == len(received)
    assert queues.count(queues.dlq) == 10 - len(received)


def test_no_message_is_ever_in_neither_queue(queues: Queues) -> None:
    """Read while the task runs: the DLQ first, then the destination. A batch moved between
    the two reads is counted twice, never zero times, so the sum never drops below N. (At 100
    a second, the task runs about three seconds.)"""
    n = 300
    queues.park(n)
    sums: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            sums.append(queues.count(queues.dlq) + queues.count(queues.source))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        queues.sqs.start_message_move_task(
            SourceArn=queues.arn(queues.dlq), MaxNumberOfMessagesPerSecond=100
        )
        assert queues.finished()["ApproximateNumberOfMessagesMoved"] == n
    finally:
        stop.set()
        watcher.join()
    assert len(sums) > 3
    assert min(sums) >= n
    assert (queues.count(queues.dlq), queues.count(queues.source)) == (0, n)


def test_dlq_service_redrives_through_the_move_task(queues: Queues) -> None:
    """`paycli dlq redrive`'s service: the move task for everything, the loop for --max."""
    bodies = queues.park(30)
    service = DlqService(
        queues.sqs,
        queues.source,
        queues.dlq,
        move_task_supported=True,
        poll_seconds=0.02,
        workers=2,
    )
    partial = service.redrive(max_messages=5)
    assert (partial.method, partial.moved) == ("receive-send-delete", 5)
    report = service.redrive()
    assert (report.method, report.candidates, report.moved, report.failed) == (
        "StartMessageMoveTask",
        25,
        25,
        0,
    )
    assert sorted(m["Body"] for m in queues.drain(queues.source)) == bodies
    assert queues.count(queues.dlq) == 0


def test_dlq_service_waits_for_messages_another_run_holds(queues: Queues) -> None:
    """A killed loop run's hidden messages reappear within their visibility timeout: the move
    task starts after that, so it moves them too."""
    queues.park(15)
    queues.sqs.receive_message(QueueUrl=queues.dlq, MaxNumberOfMessages=10, VisibilityTimeout=2)
    service = DlqService(
        queues.sqs, queues.source, queues.dlq, move_task_supported=True, poll_seconds=0.02
    )
    report = service.redrive()
    assert (report.method, report.candidates, report.moved) == ("StartMessageMoveTask", 15, 15)
    assert queues.count(queues.dlq) == 0


def test_each_redrive_reports_its_own_task_when_another_follows_it(queues: Queues) -> None:
    """Two `dlq redrive` at once: the second run's task starts right after the first's ended,
    before the first run reads its progress. Each reports what its own task moved (reading the
    newest task, the first reported the second's count)."""
    queues.park(10)
    first_client = boto3.client("sqs", region_name=REGION)
    second = DlqService(
        queues.sqs, queues.source, queues.dlq, move_task_supported=True, poll_seconds=0.02
    )
    seconds: list[Any] = []

    def run_the_second(**_kwargs: Any) -> None:
        wait_until(
            lambda: queues.latest()["Status"] != "RUNNING",
            timeout=30,
            what="the first run's task to end",
            interval=0.01,
        )
        queues.park(4)
        seconds.append(second.redrive())

    first_client.meta.events.register("after-call.sqs.StartMessageMoveTask", run_the_second)
    first = DlqService(
        first_client, queues.source, queues.dlq, move_task_supported=True, poll_seconds=0.02
    ).redrive()
    assert (first.moved, seconds[0].moved) == (10, 4)
    assert queues.count(queues.source) == 14


def test_a_task_stays_running_with_its_handle_for_one_window(queues: Queues) -> None:
    """A task that moves its few messages at once still lists as RUNNING, with its TaskHandle,
    for one pacing window: its client tells its own task by that handle, and the list drops it
    once a task ends. (Before, three messages moved and the task ended before the client first
    looked, so two `dlq redrive` at once could each report the other's count.)"""
    queues.park(3)
    started = time.monotonic()
    handle = queues.sqs.start_message_move_task(SourceArn=queues.arn(queues.dlq))["TaskHandle"]
    wait_until(lambda: queues.count(queues.dlq) == 0, timeout=10, what="the three moved")
    running = queues.latest()
    if time.monotonic() - started < 0.9:  # else this machine was too slow to look in time
        assert (running["Status"], running.get("TaskHandle")) == ("RUNNING", handle)
    task = queues.finished()
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 3)
    assert "TaskHandle" not in task
    assert time.monotonic() - started >= 1.0


def test_the_move_task_path_builds_no_dynamodb_client(queues: Queues) -> None:
    """`paycli dlq redrive` asks DynamoDB which payments are settled only in the loop
    (`--max`): the move task path builds no DynamoDB client (50 ms of CPU before its start),
    the loop builds one, once."""
    queues.park(12)
    names = {f.name: f"v-{f.name}" for f in dataclasses.fields(StackOutputs)}
    names |= {"QueueUrl": queues.source, "DeadLetterQueueUrl": queues.dlq}
    settings = Settings(target="aws", region=REGION, stack_name="pay")
    target = AwsTarget(settings, outputs=StackOutputs(**names))
    built: list[str] = []
    target.session.events.register(
        "creating-client-class", lambda **kwargs: built.append(kwargs["event_name"])
    )
    dlq = Services(target).dlq()
    assert dlq.redrive().moved == 12
    assert [name for name in built if "dynamodb" in name] == []
    queues.park(5)
    assert dlq.redrive(max_messages=5).moved == 5
    assert [name for name in built if "dynamodb" in name] == ["creating-client-class.dynamodb"]
