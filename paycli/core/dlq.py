"""The dead-letter queue: count, look without consuming, move back, purge.

Redrive never drops a message: with SQS's StartMessageMoveTask (AWS) SQS itself moves them; where
that API is missing (the local emulator), or when only some messages are to move (`--max`), a
loop receives a batch, sends it to the source queue and deletes from the DLQ only the entries
whose send succeeded. A crash between send and delete leaves a copy in both queues: the pipeline
is idempotent per payment_id (ValidatePayment/DeductAmount), so the duplicate is harmless, and a
lost message would not be.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from paycli.core.timeparse import iso_z

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

BATCH: Final = 10  # SQS's receive/send/delete batch limit
#: How long a message moved by the loop stays hidden in the DLQ between its receive and its
#: delete; if the send fails it is made visible again at once.
MOVE_VISIBILITY_SECONDS: Final = 60
PEEK_VISIBILITY_SECONDS: Final = 30

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class DlqStats:
    """Depths of the payment queue and its DLQ (SQS's approximate counters)."""

    queue_messages: int
    queue_in_flight: int
    dlq_messages: int
    dlq_in_flight: int

    def view(self) -> dict[str, int]:
        """Stable JSON fields."""
        return {
            "queue_messages": self.queue_messages,
            "queue_in_flight": self.queue_in_flight,
            "dlq_messages": self.dlq_messages,
            "dlq_in_flight": self.dlq_in_flight,
        }


@dataclass(frozen=True)
class DlqMessage:
    """A message seen in the DLQ, without consuming it."""

    message_id: str
    payment_id: str | None
    body: str
    error: str | None
    execution_arn: str | None
    sent_at: str | None
    receive_count: int

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "message_id": self.message_id,
            "payment_id": self.payment_id,
            "error": self.error,
            "execution_arn": self.execution_arn,
            "sent_at": self.sent_at,
            "receive_count": self.receive_count,
            "body": self.body,
        }


@dataclass
class RedriveReport:
    """What a redrive did (or, with dry_run, would do)."""

    method: str  # "StartMessageMoveTask" or "receive-send-delete"
    dry_run: bool
    candidates: int
    moved: int = 0
    failed: int = 0
    task_handle: str | None = None
    payment_ids: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "method": self.method,
            "dry_run": self.dry_run,
            "candidates": self.candidates,
            "moved": self.moved,
            "failed": self.failed,
            "task_handle": self.task_handle,
            "payment_ids": self.payment_ids,
        }


class DlqService:
    """The payment queue and its DLQ on one target."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        dlq_url: str,
        *,
        move_task_supported: bool,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`move_task_supported` is False on the local stack (moto lacks StartMessageMoveTask)."""
        self._sqs = sqs
        self._queue = queue_url
        self._dlq = dlq_url
        self._move_task_supported = move_task_supported
        self._sleep = sleep

    def _counts(self, url: str) -> tuple[int, int]:
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attrs.get("ApproximateNumberOfMessages", 0)),
            int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def stats(self) -> DlqStats:
        """Visible and in-flight counts of both queues (two GetQueueAttributes calls)."""
        queue, queue_flight = self._counts(self._queue)
        dlq, dlq_flight = self._counts(self._dlq)
        return DlqStats(queue, queue_flight, dlq, dlq_flight)

    def peek(self, limit: int = 10) -> list[DlqMessage]:
        """Up to `limit` DLQ messages, left in the DLQ.

        Each batch is received hidden for a short while (so the next receive returns other
        messages), then every handle is made visible again, in a `finally` so that an error
        half-way does not hide messages for the visibility timeout.
        """
        seen: dict[str, DlqMessage] = {}
        handles: list[str] = []
        try:
            while len(seen) < limit:
                batch = self._receive(min(BATCH, limit - len(seen)), PEEK_VISIBILITY_SECONDS)
                if not batch:
                    break
                for message in batch:
                    handles.append(message["ReceiptHandle"])
                    seen.setdefault(message["MessageId"], _to_dlq_message(message))
        finally:
            self._release(handles)
        return list(seen.values())[:limit]

    def _receive(self, count: int, visibility: int) -> list[dict[str, Any]]:
        reply = self._sqs.receive_message(
            QueueUrl=self._dlq,
            MaxNumberOfMessages=count,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        return [dict(message) for message in reply.get("Messages", [])]

    def _release(self, handles: list[str]) -> None:
        """Make received messages visible again (visibility timeout 0), in batches of 10."""
        for start in range(0, len(handles), BATCH):
            chunk = handles[start : start + BATCH]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._dlq,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in enumerate(chunk)
                ],
            )

    def redrive(
        self,
        *,
        max_messages: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> RedriveReport:
        """Move DLQ messages back to the payment queue (all, or at most `max_messages`).

        The number to move is fixed at the start (the DLQ depth, or `max_messages`): a payment
        that fails again while the redrive runs lands back in the DLQ and is not moved twice.
        """
        visible = self.stats().dlq_messages
        total = visible if max_messages is None else min(visible, max_messages)
        use_task = self._move_task_supported and max_messages is None
        method = "StartMessageMoveTask" if use_task else "receive-send-delete"
        report = RedriveReport(method=method, dry_run=dry_run, candidates=total)
        if dry_run or total == 0:
            return report
        if use_task:
            return self._move_task(report, progress)
        return self._move_loop(report, total, progress)

    def _move_task(self, report: RedriveReport, progress: Progress | None) -> RedriveReport:
        """Let SQS move everything, and follow the task until it finishes."""
        arns = [self._arn(self._dlq), self._arn(self._queue)]
        task = self._sqs.start_message_move_task(SourceArn=arns[0], DestinationArn=arns[1])
        report.task_handle = task["TaskHandle"]
        while True:
            tasks = self._sqs.list_message_move_tasks(SourceArn=arns[0], MaxResults=1)["Results"]
            current = tasks[0] if tasks else {}
            report.moved = int(current.get("ApproximateNumberOfMessagesMoved", 0))
            if progress:
                progress(report.moved, report.candidates)
            if current.get("Status") in {"COMPLETED", "CANCELLED", "FAILED"}:
                report.failed = 0 if current.get("Status") == "COMPLETED" else 1
                return report
            self._sleep(1.0)

    def _arn(self, url: str) -> str:
        return self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def _move_loop(
        self, report: RedriveReport, total: int, progress: Progress | None
    ) -> RedriveReport:
        """receive -> send to the source queue -> delete from the DLQ what was sent."""
        while report.moved + report.failed < total:
            batch = self._receive(
                min(BATCH, total - report.moved - report.failed), MOVE_VISIBILITY_SECONDS
            )
            if not batch:
                break
            sent = self._send_batch(batch)
            self._delete([m for m in batch if m["MessageId"] in sent])
            self._release([m["ReceiptHandle"] for m in batch if m["MessageId"] not in sent])
            report.moved += len(sent)
            report.failed += len(batch) - len(sent)
            report.payment_ids.extend(
                pid for m in batch if m["MessageId"] in sent and (pid := _payment_id(m["Body"]))
            )
            if progress:
                progress(report.moved, total)
        return report

    def _send_batch(self, batch: list[dict[str, Any]]) -> set[str]:
        """Send each body (and its attributes) to the source queue; the MessageIds sent."""
        entries = [
            {
                "Id": str(i),
                "MessageBody": m["Body"],
                "MessageAttributes": {
                    name: {
                        k: v
                        for k, v in attr.items()
                        if k in {"DataType", "StringValue", "BinaryValue"}
                    }
                    for name, attr in m.get("MessageAttributes", {}).items()
                },
            }
            for i, m in enumerate(batch)
        ]
        reply = self._sqs.send_message_batch(QueueUrl=self._queue, Entries=entries)  # type: ignore[arg-type]
        return {batch[int(ok["Id"])]["MessageId"] for ok in reply.get("Successful", [])}

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        self._sqs.delete_message_batch(
            QueueUrl=self._dlq,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )

    def purge(self) -> int:
        """Empty the DLQ (PurgeQueue); returns how many messages it held just before."""
        count = self.stats().dlq_messages
        self._sqs.purge_queue(QueueUrl=self._dlq)
        return count


def _payment_id(body: str) -> str | None:
    try:
        return str(json.loads(body)["payment_id"])
    except (ValueError, KeyError, TypeError):
        return None


def _to_dlq_message(message: dict[str, Any]) -> DlqMessage:
    attrs = message.get("MessageAttributes", {})
    system = message.get("Attributes", {})
    sent = system.get("SentTimestamp")
    return DlqMessage(
        message_id=message["MessageId"],
        payment_id=_payment_id(message["Body"]),
        body=message["Body"],
        error=attrs.get("error", {}).get("StringValue"),
        execution_arn=attrs.get("execution_arn", {}).get("StringValue"),
        sent_at=_epoch_ms_iso(sent) if sent else None,
        receive_count=int(system.get("ApproximateReceiveCount", 0)),
    )


def _epoch_ms_iso(millis: str) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return iso_z(datetime.fromtimestamp(int(millis) / 1000, UTC))
