"""The pipe's three AWS calls made straight into moto's backends, as Pipes makes them inside AWS.

`PipePoller` takes any objects with boto3's `receive_message`, `delete_message_batch` and
`start_execution` methods. Inside the daemon, botocore's and moto's request layers around those
calls did nothing for the pipe but cost about 1.5 ms a call (serialise, sign, route, parse,
serialise, parse), and at 25 payments/s the queue rarely holds more than one message, so the
pipe pays a receive, a start and a delete per payment. These classes call the same backend
methods moto's request handlers call, under the same backend lock, and answer in boto3's
response shapes; `tests/integration/test_local_pipe.py` runs every pipe behaviour on both
transports.
"""

from __future__ import annotations

from typing import Any

from paycli.local import patches


def _queue_name(queue_url: str) -> str:
    return queue_url.rsplit("/", 1)[-1]


class InProcessSqs:
    """ReceiveMessage and DeleteMessageBatch on moto's SQS backend, for the pipe."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id, self.region = account_id, region

    def _backend(self) -> Any:
        from moto.sqs.models import sqs_backends  # noqa: PLC0415 - moto loads lazily

        return sqs_backends[self.account_id][self.region]

    def receive_message(
        self,
        *,
        QueueUrl: str,  # noqa: N803 - boto3's parameter names
        MaxNumberOfMessages: int = 1,  # noqa: N803
        WaitTimeSeconds: int = 0,  # noqa: N803
        AttributeNames: list[str] | None = None,  # noqa: N803
        MessageAttributeNames: list[str] | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """boto3's receive_message answer; system attributes only for AttributeNames=["All"]."""
        backend = self._backend()
        name = _queue_name(QueueUrl)
        with patches.BACKEND_LOCK:
            queue = backend.get_queue(name)
            messages = backend.receive_message(
                name,
                MaxNumberOfMessages,
                WaitTimeSeconds,
                queue.visibility_timeout,
                MessageAttributeNames or [],
            )
            shaped = [_message(m, all_attributes="All" in (AttributeNames or [])) for m in messages]
        return {"Messages": shaped} if shaped else {}

    def delete_message_batch(
        self,
        *,
        QueueUrl: str,  # noqa: N803 - boto3's parameter names
        Entries: list[dict[str, str]],  # noqa: N803
    ) -> dict[str, Any]:
        """boto3's delete_message_batch answer: Successful ids and Failed entries."""
        with patches.BACKEND_LOCK:
            success, failed = self._backend().delete_message_batch(_queue_name(QueueUrl), Entries)
        return {"Successful": [{"Id": entry_id} for entry_id in success], "Failed": failed}

    def change_message_visibility(
        self,
        *,
        QueueUrl: str,  # noqa: N803 - boto3's parameter names
        ReceiptHandle: str,  # noqa: N803
        VisibilityTimeout: int,  # noqa: N803
    ) -> dict[str, Any]:
        """boto3's change_message_visibility (the fault plan's early redelivery)."""
        with patches.BACKEND_LOCK:
            self._backend().change_message_visibility(
                _queue_name(QueueUrl), ReceiptHandle, VisibilityTimeout
            )
        return {}


def _message(message: Any, *, all_attributes: bool) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": message.body_md5,
        "Body": message.body,
    }
    if message.message_attributes:
        shaped["MessageAttributes"] = message.message_attributes
        shaped["MD5OfMessageAttributes"] = message.attribute_md5
    if all_attributes:  # what moto's handler answers for "All" on a standard queue (5.2.5)
        shaped["Attributes"] = {
            "SenderId": message.sender_id,
            "SentTimestamp": str(message.sent_timestamp),
            "ApproximateReceiveCount": str(message.approximate_receive_count),
            "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
        }
    return shaped


class InProcessStepFunctions:
    """StartExecution on moto's executing Step Functions backend, for the pipe."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id, self.region = account_id, region

    def start_execution(
        self,
        *,
        stateMachineArn: str,  # noqa: N803 - boto3's parameter names
        name: str,
        input: str = "{}",
    ) -> dict[str, Any]:
        """boto3's start_execution answer (executionArn, startDate)."""
        from moto.stepfunctions.responses import get_backend  # noqa: PLC0415 - lazy like moto

        execution = get_backend(self.account_id, self.region).start_execution(
            stateMachineArn, name, input
        )
        return {"executionArn": execution.execution_arn, "startDate": execution.start_date}
