"""The dead-letter queue: count, look without consuming, move back, purge.

Redrive never drops a message: SQS's StartMessageMoveTask moves them (on AWS, and on the local
stack, whose emulator implements it: paycli/local/move_tasks.py); when only some messages are to
move (`--max`, which a move task cannot do), a loop receives a batch, sends it to the source
queue and deletes from the DLQ only the entries whose send succeeded. A crash between send and
delete leaves a copy in both queues: the pipeline is idempotent per payment_id
(ValidatePayment/DeductAmount), so the duplicate is harmless, and a lost message would not be.
A move task cannot look at payments: a DLQ copy of a payment that already went through is moved
too, and its second execution ends without a second debit.

The loop decides per payment, so reruns and concurrent runs do not multiply work: a message whose
payment is already settled (SUCCEEDED/DECLINED: a crashed run's copy that went through, or a
duplicate) is deleted without being sent, and a second message for a payment already sent by this
run is deleted once the first was sent. Messages another run (or a killed one) holds are waited
for until they are deleted or reappear (at most their visibility timeout), so a rerun after a
crash, or two runs at once, end with the DLQ empty.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError
from paystack.domain.dynamo import batch_get_consistent
from paystack.domain.payment import SETTLED
from paystack.domain.store import PAYMENT_ID_RE

from paycli.core.errors import ConflictError, StoppedByUserError
from paycli.core.timeparse import iso_z

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

BATCH: Final = 10  # SQS's receive/send/delete batch limit
#: Receive-send-delete loops `paycli dlq redrive` runs at once (each waits on SQS round trips);
#: a DlqService built without `workers` runs one.
MOVE_WORKERS: Final = 4
#: How long a message moved by the loop stays hidden in the DLQ between its receive and its
#: delete; if the send fails it is made visible again at once.
MOVE_VISIBILITY_SECONDS: Final = 60
PEEK_VISIBILITY_SECONDS: Final = 30
#: StartMessageMoveTask's error while another move task runs on the queue (SQS API reference:
#: "Only one active message movement task is supported per queue"). AWS answers
#: InvalidParameterValue "There is already a task running..." (as recorded in LocalStack's
#: snapshots of AWS); the API reference lists UnsupportedOperation (query-compatible code and
#: the JSON protocol's shape name), so both are taken for a refusal.
MOVE_TASK_REFUSED: Final = frozenset(
    {"AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation"}
)
MOVE_TASK_RUNNING_TEXT: Final = "already a task running"
#: How often `redrive` asks ListMessageMoveTasks how far the task got (DlqService's default).
MOVE_TASK_POLL_SECONDS: Final = 1.0

Progress = Callable[[int, int], None]  # (done, total)
#: Payment ids -> those of them that are settled (SUCCEEDED or DECLINED).
SettledLookup = Callable[[list[str]], set[str]]


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
    #: deleted without a send: the payment was settled, or this run had sent it already
    dropped_settled: int = 0
    dropped_duplicates: int = 0

    @property
    def handled(self) -> int:
        """Messages this run is done with, one way or another."""
        return self.moved + self.failed + self.dropped_settled + self.dropped_duplicates

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "method": self.method,
            "dry_run": self.dry_run,
            "candidates": self.candidates,
            "moved": self.moved,
            "failed": self.failed,
            "dropped_settled": self.dropped_settled,
            "dropped_duplicates": self.dropped_duplicates,
            "task_handle": self.task_handle,
            "payment_ids": self.payment_ids,
        }


@dataclass
class _LoopState:
    """What the redrive loops share (under `lock`): the count fixed at the start, how much of
    it the loops have reserved (received or about to be), the payments claimed (being sent)
    and sent by this run, the report, the first error."""

    report: RedriveReport
    total: int
    progress: Progress | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    reserved: int = 0
    claimed: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    stopped: bool = False
    error: BaseException | None = None

    def reserve(self) -> int:
        """Up to a batch of what is left to handle (0: the run is done)."""
        with self.lock:
            if self.stopped:
                return 0
            wanted = max(0, min(BATCH, self.total - self.reserved))
            self.reserved += wanted
            return wanted

    def unreserve(self, count: int) -> None:
        """Give back what was reserved but not finished (not received, or released)."""
        with self.lock:
            self.reserved -= count

    def give_up(self) -> None:
        """Nothing left to receive: the other loops stop after their batch."""
        with self.lock:
            self.stopped = True

    def fail(self, error: BaseException) -> None:
        with self.lock:
            self.stopped = True
            self.error = self.error or error


class DlqService:
    """The payment queue and its DLQ on one target."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        dlq_url: str,
        *,
        move_task_supported: bool,
        settled: SettledLookup | None = None,
        move_visibility: int = MOVE_VISIBILITY_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        workers: int = 1,
        poll_seconds: float = MOVE_TASK_POLL_SECONDS,
    ) -> None:
        """`move_task_supported` says whether the target has StartMessageMoveTask (AWS and the
        local stack do; False keeps to the loop); `settled` tells which payments the loop need
        not send; `move_visibility` is how long a message stays hidden between its receive and
        its delete; `workers` loops move at once; `poll_seconds` is how often a move task's
        progress is read."""
        self._sqs = sqs
        self._queue = queue_url
        self._dlq = dlq_url
        self._move_task_supported = move_task_supported
        self._settled = settled
        self._move_visibility = move_visibility
        self._sleep = sleep
        self.workers = workers
        self._poll_seconds = poll_seconds
        self._arns: dict[str, str] = {}  # queue URL -> ARN, read along with the counts

    def _counts(self, url: str) -> tuple[int, int]:
        """Visible and in-flight counts; the queue's ARN comes in the same call (a redrive
        needs both ARNs: two round trips fewer before its move task starts)."""
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "QueueArn",
            ],
        )["Attributes"]
        if "QueueArn" in attrs:
            self._arns[url] = attrs["QueueArn"]
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
        stats = self.stats()
        # Without --max, messages in flight count too: a killed run's hidden copies reappear
        # within the visibility timeout and are moved by this run (or deleted by another one).
        waiting = stats.dlq_messages + stats.dlq_in_flight
        total = waiting if max_messages is None else min(stats.dlq_messages, max_messages)
        use_task = self._move_task_supported and max_messages is None
        method = "StartMessageMoveTask" if use_task else "receive-send-delete"
        report = RedriveReport(method=method, dry_run=dry_run, candidates=total)
        if dry_run or total == 0:
            return report
        if use_task:
            if stats.dlq_in_flight:
                self._wait_visible()
            return self._move_task(report, progress)
        return self._move_loop(report, total, progress)

    def _wait_visible(self) -> None:
        """A move task moves what it can receive: messages another run (or a killed one)
        holds are waited for until they are deleted or reappear (at most their visibility
        timeout, bounded by this service's own)."""
        waited = 0.0
        while waited <= self._move_visibility and self.stats().dlq_in_flight:
            self._sleep(1.0)
            waited += 1.0

    def _move_task(self, report: RedriveReport, progress: Progress | None) -> RedriveReport:
        """Let SQS move everything, and follow the task until it finishes."""
        arns = [self._arn(self._dlq), self._arn(self._queue)]
        sent_ms = int(time.time() * 1000)
        try:
            task = self._sqs.start_message_move_task(SourceArn=arns[0], DestinationArn=arns[1])
        except ClientError as exc:
            # SQS allows one active move task per source queue.
            if not _move_task_refused(exc):
                raise
            raise ConflictError(
                "a message move task is already running on the dead-letter queue; SQS allows "
                "one at a time, so nothing was started",
                hint="wait for it to finish (`paycli dlq stats` shows the DLQ emptying), then "
                "run `paycli dlq redrive` again for what is left",
            ) from exc
        report.task_handle = handle = task["TaskHandle"]
        try:
            return self._follow_task(report, (arns[0], handle), sent_ms, progress)
        except KeyboardInterrupt:  # the task is SQS's: it goes on without us
            rest = "goes on moving the rest" if report.moved < report.candidates else "ends it"
            raise StoppedByUserError(
                f"stopped following the move task at {report.moved} of {report.candidates}"
                f" message(s) moved; SQS {rest}",
                hint="`paycli dlq stats` shows the dead-letter queue emptying",
            ) from None

    def _follow_task(
        self,
        report: RedriveReport,
        task: tuple[str, str],
        sent_ms: int,
        progress: Progress | None,
    ) -> RedriveReport:
        """Read the task (source ARN, handle) until it ends; `report.moved` as it goes."""
        source_arn, handle = task
        started: int | None = None  # our task's StartedTimestamp, once seen with our handle
        while True:
            tasks = self._sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)
            current = _own_task(tasks["Results"], handle, started, sent_ms)
            if current.get("TaskHandle") == handle:
                started = current.get("StartedTimestamp")
            report.moved = int(current.get("ApproximateNumberOfMessagesMoved", 0))
            if progress:
                progress(report.moved, report.candidates)
            if current.get("Status") in {"COMPLETED", "CANCELLED", "FAILED"}:
                report.failed = 0 if current.get("Status") == "COMPLETED" else 1
                return report
            self._sleep(self._poll_seconds)

    def _arn(self, url: str) -> str:
        if url not in self._arns:
            self._counts(url)
        return self._arns[url]

    def _move_loop(
        self, report: RedriveReport, total: int, progress: Progress | None
    ) -> RedriveReport:
        """receive -> send to the source queue -> delete from the DLQ what was sent (or needs
        no sending), from `workers` threads at once (each SQS round trip waits on the network:
        one loop alone is bound by latency, not by SQS); wait for messages other runs hold."""
        run = _LoopState(report=report, total=total, progress=progress)
        threads = [
            threading.Thread(target=self._move_worker, args=(run,), daemon=True)
            for _ in range(max(1, self.workers))
        ]
        for thread in threads:
            thread.start()
        try:
            _wait_for(threads)
        except KeyboardInterrupt:
            # Ctrl-C: receive no more; each loop sends and deletes the batch it holds, so no
            # message is left both re-sent and hidden in the DLQ (a second Ctrl-C leaves those
            # few to reappear in the DLQ after the visibility timeout, and be moved again).
            run.give_up()
            _wait_for(threads)
            raise StoppedByUserError(
                f"moved {report.moved} of {total} message(s) to the payment queue before"
                " Ctrl-C; the rest stay in the dead-letter queue",
                hint="`paycli dlq redrive` again moves them",
            ) from None
        if run.error is not None:
            raise run.error
        return report

    def _move_worker(self, run: _LoopState) -> None:
        """One loop: reserve up to a batch of the run's count, receive, move, account."""
        waited = 0.0
        try:
            while True:
                wanted = run.reserve()
                if wanted == 0:
                    return
                batch = self._receive(wanted, self._move_visibility)
                if not batch:
                    run.unreserve(wanted)
                    if waited > self._move_visibility or self.stats().dlq_in_flight == 0:
                        run.give_up()
                        return
                    self._sleep(1.0)
                    waited += 1.0
                    continue
                handled = self._move_batch(batch, run)
                run.unreserve(wanted - handled)
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller by _move_loop
            run.fail(exc)

    def _move_batch(self, batch: list[dict[str, Any]], run: _LoopState) -> int:
        """One received batch: settled payments and this run's repeats are deleted, the rest
        sent and then deleted; what could not be sent is made visible again. A repeat of a
        payment another worker is still sending is released, to be looked at again once that
        send is known. Returns how many messages this batch finished."""
        report = run.report
        payment_ids = [_payment_id(m["Body"]) for m in batch]
        settled = self._settled([p for p in payment_ids if p]) if self._settled else set()
        to_send: list[dict[str, Any]] = []
        repeats: list[tuple[dict[str, Any], str]] = []
        done: list[dict[str, Any]] = []
        with run.lock:
            for message, payment_id in zip(batch, payment_ids, strict=True):
                if payment_id in settled:
                    done.append(message)
                    report.dropped_settled += 1
                elif payment_id is not None and payment_id in run.claimed:
                    repeats.append((message, payment_id))
                else:
                    to_send.append(message)
                    if payment_id is not None:
                        run.claimed.add(payment_id)
        sent = self._send_batch(to_send) if to_send else set()
        release = [m for m in to_send if m["MessageId"] not in sent]
        with run.lock:
            for message, payment_id in zip(batch, payment_ids, strict=True):
                if message["MessageId"] in sent and payment_id:
                    report.payment_ids.append(payment_id)
                    run.sent.add(payment_id)
                elif message in to_send and payment_id:
                    run.claimed.discard(payment_id)  # its send failed: a repeat must not go
            for message, payment_id in repeats:
                if payment_id in run.sent:
                    done.append(message)
                    report.dropped_duplicates += 1
                else:
                    release.append(message)  # looked at again by a later receive or run
            report.moved += len(sent)
            report.failed += len(to_send) - len(sent)
        self._delete([m for m in to_send if m["MessageId"] in sent] + done)
        self._release([m["ReceiptHandle"] for m in release])
        with run.lock:
            if run.progress:
                run.progress(report.handled, run.total)
        return len(to_send) + len(done)

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


def _wait_for(threads: list[threading.Thread]) -> None:
    """Wait until the threads end, in short sleeps: Ctrl-C inside Thread.join can leave a
    thread looking ended while it runs."""
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.05)


def settled_payments(ddb: DynamoDBClient, table: str, payment_ids: list[str]) -> set[str]:
    """The ids among `payment_ids` whose payment is SUCCEEDED or DECLINED (one consistent
    BatchGetItem per 100 ids; ids that cannot be payment ids are never asked for)."""
    wanted = sorted({p for p in payment_ids if PAYMENT_ID_RE.fullmatch(p)})
    settled: set[str] = set()
    for start in range(0, len(wanted), 100):
        keys = [{"payment_id": {"S": p}} for p in wanted[start : start + 100]]
        found = batch_get_consistent(ddb, {table: keys})[table]  # type: ignore[dict-item]
        settled.update(
            str(item["payment_id"]["S"])
            for item in found
            if item.get("status", {}).get("S") in SETTLED
        )
    return settled


def _own_task(
    results: Sequence[Mapping[str, Any]], handle: str, started: int | None, sent_ms: int
) -> Mapping[str, Any]:
    """This run's task among ListMessageMoveTasks' results (newest first). SQS lists the
    TaskHandle only while a task is RUNNING, and another run's task may start as soon as ours
    has ended (two `dlq redrive` at once: reading the newest task, each reported the other's
    count). So: the task with our handle; else the one that started when ours did (seen
    earlier with our handle); else, for a task that ended before it was first seen, the oldest
    one started since our StartMessageMoveTask was sent (this machine's clock; on AWS skew
    could hide it), else the newest."""
    for entry in results:
        if entry.get("TaskHandle") == handle:
            return entry
    if started is not None:
        for entry in results:
            if entry.get("StartedTimestamp") == started:
                return entry
    since = [entry for entry in results if int(entry.get("StartedTimestamp", 0)) >= sent_ms]
    if since:
        return since[-1]
    return results[0] if results else {}


def _move_task_refused(exc: ClientError) -> bool:
    """StartMessageMoveTask refused because a task already runs on the queue."""
    error = exc.response.get("Error", {})
    if error.get("Code") in MOVE_TASK_REFUSED:
        return True
    return error.get("Code") == "InvalidParameterValue" and MOVE_TASK_RUNNING_TEXT in str(
        error.get("Message", "")
    )


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
