"""The sqs_queue_attributes speed patch (paycli/local/patches/speed_requests.py): GetQueueAttributes
answers exactly as stock moto does, for every name, "All", FIFO queues and a bad name, with
messages visible, in flight and delayed; and it reads the clock a fixed number of times, not
several times per message per name asked for (what made `paycli dlq redrive` wait 1.2-1.6 s
on a DLQ of 1,000 before its move task started)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import moto.sqs.models
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from paycli.local import patches

REGION = "us-east-1"
NAMES = [
    ["ApproximateNumberOfMessages"],
    ["ApproximateNumberOfMessagesNotVisible"],
    ["ApproximateNumberOfMessagesDelayed"],
    ["QueueArn"],
    ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "QueueArn"],
    ["All"],
    ["FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "Policy"],
    ["QueueArn", "QueueArn"],
]


@pytest.fixture
def sqs(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _fill(sqs: Any, url: str, count: int, **extra: Any) -> None:
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": f"m{start + i}", **extra}
                for i in range(min(10, count - start))
            ],
        )


def _queues(sqs: Any) -> list[str]:
    """A standard queue with 30 visible, 10 in flight and 5 delayed messages; a FIFO one."""
    standard = sqs.create_queue(QueueName="standard")["QueueUrl"]
    _fill(sqs, standard, 40)
    sqs.receive_message(QueueUrl=standard, MaxNumberOfMessages=10, VisibilityTimeout=300)
    _fill(sqs, standard, 5, DelaySeconds=300)
    fifo = sqs.create_queue(
        QueueName="ordered.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=fifo, MessageBody="one", MessageGroupId="g")
    return [standard, fifo]


def _answers(sqs: Any, urls: list[str]) -> list[Any]:
    found: list[Any] = []
    for url in urls:
        for names in NAMES:
            found.append(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))
        with pytest.raises(ClientError) as caught:
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NoSuchName"])
        found.append(caught.value.response["Error"])
    for answer in found:
        answer.pop("ResponseMetadata", None)
    return found


def test_answers_are_stock_motos(sqs: Any) -> None:
    urls = _queues(sqs)
    stock = _answers(sqs, urls)
    with patches.applied():
        assert "sqs_queue_attributes" in patches.active()
        patched = _answers(sqs, urls)
    assert patched == stock
    counts = stock[NAMES.index(["All"])]["Attributes"]
    assert (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
        counts["ApproximateNumberOfMessagesDelayed"],
    ) == ("30", "10", "5")


def test_the_clock_is_read_once_not_per_message(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 queued, three names: stock moto reads the clock thousands of times."""
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    _fill(sqs, url, 300)
    reads = 0
    clock: Callable[..., float] = moto.sqs.models.unix_time_millis

    def counted(*args: Any) -> float:
        nonlocal reads
        reads += 1
        return clock(*args)

    monkeypatch.setattr(moto.sqs.models, "unix_time_millis", counted)
    with patches.applied():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=NAMES[4])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "300"
    assert reads <= 3
