"""Reading an SQS queue's depth in tests: visible and in-flight messages, one call."""

from __future__ import annotations

from typing import Any

DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) for the queue at `url`."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=DEPTH_ATTRIBUTES)["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def queue_depth(sqs: Any, url: str) -> int:
    """Messages in the queue at `url`, visible or in flight."""
    return sum(queue_counts(sqs, url))
