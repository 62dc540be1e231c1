"""SQS's message move tasks (DLQ redrive) on moto's SQS backend, which moto 5.2.5 lacks.

StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask as the SQS API reference and
the developer guide ("Configure a dead-letter queue redrive") describe them; the error codes and
texts are those AWS answered when LocalStack recorded them (its test_sqs_move_task snapshots):

- the source must exist and be some queue's dead-letter queue; a given destination must exist
  and be of the same type (standard or FIFO); without one, messages go back to the queue they
  came from, which moto does not record per message, so a DLQ with more than one source queue
  fails the task here (stricter than AWS, never more permissive);
- MaxNumberOfMessagesPerSecond is 1..500; unset, the task moves at 500 a second, the most AWS
  allows ("the maximum value for messages per second is 500", API reference; the console's
  "Custom max velocity": "The maximum allowed rate is 500 messages per second"). Neither
  documents a burst, so the task is never ahead of the rate since it started: t seconds in, at
  most rate * t moved, and N messages take at least N / rate seconds (1,000 at 500/s: 2 s);
- one active task (RUNNING or CANCELLING) per source queue;
- ApproximateNumberOfMessagesToMove is the source's visible count when the task starts; the task
  moves that many, oldest first, or fewer if the queue runs out of visible messages;
- a moved message is a new message in the destination (new id, new sent time, so a new
  retention period) with the same body, message attributes and system attributes (and, on FIFO
  queues, group and deduplication ids);
- statuses RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED (FailureReason: the error code, e.g.
  AWS.SimpleQueueService.NonExistentQueue when the destination is deleted meanwhile); the
  TaskHandle is listed only while RUNNING; ListMessageMoveTasks gives the newest first, at most 10.

None is lost: each message is added to the destination before it is removed from the source,
both under the backend lock every SQS request takes, so no other request sees it in neither
queue; a mover that fails between the two leaves a copy in both (SQS is at-least-once).
The tasks live on moto's source queue object, so a backend reset or a deleted queue takes them.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from paycli.local.patches.correctness import BACKEND_LOCK

log = logging.getLogger("paycli-local.move-tasks")

MAX_RATE: Final = 500  # MaxNumberOfMessagesPerSecond's upper limit (API reference)
MAX_RESULTS: Final = 10  # ListMessageMoveTasks' upper limit; also how many tasks are kept
#: Messages moved per hold of the backend lock: about 15 ms at 0.06 ms each, below one GIL
#: switch interval (20 ms, paycli/local/stack.py). Under the pipe's load each wait for the lock
#: and then for the GIL costs more than the move itself: in benchmarks/dlq_redrive.py --n 1000,
#: batches of 10 moved 365 messages/s, of 100 481/s.
BATCH: Final = 250
#: The mover wakes when a tenth of a second's worth more is due (50 messages at 500/s) and moves
#: all that is due by then: a wake-up costs a wait for the lock and then for the GIL, whatever
#: it moves.
CHUNK_SECONDS: Final = 0.1
ACTIVE: Final = frozenset({"RUNNING", "CANCELLING"})
#: A task stays RUNNING (its TaskHandle listed) for at least a second, as a task on
#: SQS is never done the instant it starts. A client tells its own task by that handle; the
#: list drops the handle once a task ends, so a task over before its client's first look could
#: be taken for another run's (two `dlq redrive` at once each reported the other's count).
MIN_RUNNING_SECONDS: Final = 1.0
_ARN = re.compile(r"^arn:aws[\w-]*:sqs:(?P<region>[\w-]+):(?P<account>\d{12}):(?P<name>[\w.-]+)$")
_TASKS_ATTRIBUTE = "paycli_move_tasks"  # on moto's Queue: its tasks, newest first


def _error(code: str, message: str) -> Exception:
    from moto.sqs.exceptions import SQSException  # noqa: PLC0415 - moto loads lazily

    return SQSException(code, message)


def _not_found(parameter: str) -> Exception:
    return _error(
        "ResourceNotFoundException",
        f"The resource that you specified for the {parameter} parameter doesn't exist.",
    )


def _invalid(message: str) -> Exception:
    return _error("InvalidParameterValue", message)


def find_queue(arn: str | None) -> Any:
    """moto's Queue for an ARN, or None (a malformed ARN names no queue)."""
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    match = _ARN.match(arn or "")
    if match is None or match["account"] not in sqs_backends:
        return None
    backend = sqs_backends[match["account"]][match["region"]]
    return backend.queues.get(match["name"])


def _backend_of(queue: Any) -> Any:
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    return sqs_backends[queue.account_id][queue.region]


@dataclass
class MoveTask:
    """One task; its counters change under the backend lock."""

    source_arn: str
    destination_arn: str | None
    rate: int | None
    to_move: int
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    status: str = "RUNNING"
    moved: int = 0
    failure_reason: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def handle(self) -> str:
        """AWS's TaskHandle: base64 of {"taskId", "sourceArn"}."""
        raw = json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn})
        return base64.b64encode(raw.encode()).decode()

    def entry(self) -> dict[str, Any]:
        """A ListMessageMoveTasksResultEntry: optional fields only where AWS gives them."""
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":
            entry["TaskHandle"] = self.handle
        if self.destination_arn is not None:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.status == "FAILED":
            entry["FailureReason"] = self.failure_reason
        return entry


def _tasks(queue: Any) -> list[MoveTask]:
    tasks: list[MoveTask] | None = getattr(queue, _TASKS_ATTRIBUTE, None)
    if tasks is None:
        tasks = []
        setattr(queue, _TASKS_ATTRIBUTE, tasks)
    return tasks


def start(source_arn: str | None, destination_arn: str | None, rate: Any) -> str:
    """StartMessageMoveTask: validate as AWS does, start the mover, return the TaskHandle."""
    if not source_arn:
        raise _error("MissingParameter", "The request must contain the parameter SourceArn.")
    if rate is not None and not (isinstance(rate, int) and 1 <= rate <= MAX_RATE):
        raise _invalid(
            f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. "
            f"Reason: You must enter a number that's between 1 and {MAX_RATE}."
        )
    with BACKEND_LOCK:
        source = find_queue(source_arn)
        if source is None:
            raise _not_found("SourceArn")
        if not _backend_of(source).list_dead_letter_source_queues(source.name):
            raise _invalid("Source queue must be configured as a Dead Letter Queue.")
        if destination_arn is not None:
            destination = find_queue(destination_arn)
            if destination is None:
                raise _not_found("DestinationArn")
            if bool(destination.fifo_queue) != bool(source.fifo_queue):
                raise _invalid(
                    "The source queue and destination queue must be of the same queue type."
                )
        tasks = _tasks(source)
        if any(task.status in ACTIVE for task in tasks):
            raise _invalid(
                "There is already a task running. Only one active task is allowed for a source "
                "queue arn at a given time."
            )
        task = MoveTask(source_arn, destination_arn, rate, len(source.messages))
        tasks.insert(0, task)
        del tasks[MAX_RESULTS:]
    threading.Thread(
        target=_run, args=(task,), name=f"move-task-{task.task_id[:8]}", daemon=True
    ).start()
    log.info("move task %s started: %s -> %s", task.task_id, source_arn, destination_arn)
    return task.handle


def list_tasks(source_arn: str | None, max_results: Any) -> list[dict[str, Any]]:
    """ListMessageMoveTasks: the newest `max_results` (default 1, at most 10) tasks."""
    if not source_arn:
        raise _error("MissingParameter", "The request must contain the parameter SourceArn.")
    count = 1 if max_results is None else max_results
    if not (isinstance(count, int) and 1 <= count <= MAX_RESULTS):
        raise _invalid(
            f"Value {count} for parameter MaxResults is invalid. "
            f"Reason: You must enter a number that's between 1 and {MAX_RESULTS}."
        )
    with BACKEND_LOCK:
        source = find_queue(source_arn)
        if source is None:
            raise _not_found("SourceArn")
        return [task.entry() for task in _tasks(source)[:count]]


def cancel(handle: str | None) -> int:
    """CancelMessageMoveTask: a RUNNING task becomes CANCELLING (CANCELLED once its mover
    stops); messages already moved stay moved. Returns ApproximateNumberOfMessagesMoved."""
    task_id, source_arn = _decode(handle)
    with BACKEND_LOCK:
        source = find_queue(source_arn)
        if source is None:
            raise _not_found("SourceArn")
        task = next((t for t in _tasks(source) if t.task_id == task_id), None)
        if task is None:
            raise _error("ResourceNotFoundException", "Task does not exist.")
        if task.status != "RUNNING":
            raise _invalid(f"Only a RUNNING task can be cancelled; this task is {task.status}.")
        task.status = "CANCELLING"
        task.cancel.set()
        return task.moved


def _decode(handle: str | None) -> tuple[str, str]:
    try:
        decoded = json.loads(base64.b64decode(handle or "", validate=True))
        task_id, source_arn = decoded["taskId"], decoded["sourceArn"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _invalid("Value for parameter TaskHandle is invalid.") from None
    if not isinstance(task_id, str) or not isinstance(source_arn, str):
        raise _invalid("Value for parameter TaskHandle is invalid.")
    return task_id, source_arn


class _Pace:
    """Never ahead of `rate` a second since the start: `t` seconds in, at most rate * t moved.
    A mover held up (the lock, the GIL) catches up by what fell due meanwhile, never more."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._started = time.monotonic()
        self._chunk = max(1, int(rate * CHUNK_SECONDS))

    def allowance(self, moved: int, wanted: int) -> tuple[int, float]:
        """(how many of the `wanted` more may move now, else how long to wait for a chunk of
        them to fall due), given `moved` so far."""
        elapsed = time.monotonic() - self._started
        due = int(self.rate * elapsed) - moved
        if due >= min(self._chunk, wanted):
            return min(due, wanted), 0.0
        return 0, (moved + min(self._chunk, wanted)) / self.rate - elapsed


def _run(task: MoveTask) -> None:
    """The mover: batches of up to BATCH, paced, until the count is moved, the source has no
    visible message left, or the task is cancelled; then the final status."""
    pace = _Pace(task.rate or MAX_RATE)
    running_until = time.monotonic() + MIN_RUNNING_SECONDS
    try:
        while task.moved < task.to_move and not task.cancel.is_set():
            free, wait = pace.allowance(task.moved, task.to_move - task.moved)
            if not free:
                task.cancel.wait(wait)
                continue
            if _move_batch(task, min(BATCH, free), running_until) == 0:
                break
        task.cancel.wait(max(0.0, running_until - time.monotonic()))
    except Exception as exc:  # noqa: BLE001 - the task reports it as AWS does: FAILED
        code = getattr(exc, "code", None)
        with BACKEND_LOCK:
            task.status = "FAILED"
            task.failure_reason = code if isinstance(code, str) else type(exc).__name__
        log.warning("move task %s failed: %s", task.task_id, task.failure_reason)
        return
    with BACKEND_LOCK:
        if task.status != "COMPLETED":
            task.status = "CANCELLED" if task.cancel.is_set() else "COMPLETED"
    log.info("move task %s %s: %d moved", task.task_id, task.status.lower(), task.moved)


def _move_batch(task: MoveTask, count: int, completes_at: float) -> int:
    """Up to `count` of the source's oldest visible messages, each added to the destination
    and then removed from the source, all in one hold of the backend lock. The batch that
    moves the last one (after `completes_at`) completes the task in that same hold: no client
    sees everything moved and the task still RUNNING (under the pipe's load the mover's next
    turn at the lock and the GIL came up to half a second later, a client's poll later)."""
    from moto.sqs.exceptions import QueueDoesNotExist  # noqa: PLC0415

    with BACKEND_LOCK:
        source = find_queue(task.source_arn)
        if source is None:
            raise QueueDoesNotExist
        destination = _destination(task, source)
        sent: list[Any] = []
        try:
            for message in _oldest_visible(source, count):
                destination.add_message(_copy(message, destination))
                sent.append(message)
        finally:  # what was sent leaves the source, even when a later send failed
            _remove(source, sent)
            task.moved += len(sent)
        done = task.moved >= task.to_move and time.monotonic() >= completes_at
        if done and task.status == "RUNNING":
            task.status = "COMPLETED"
        return len(sent)


def _oldest_visible(queue: Any, count: int) -> list[Any]:
    """The first `count` messages that are visible and not delayed (Message.visible and
    .delayed, with the clock read once instead of twice per message: Queue.messages filters
    the whole queue that way, 16 ms per batch with 1,000 queued)."""
    from moto.core.utils import unix_time_millis  # noqa: PLC0415

    now = unix_time_millis()
    found: list[Any] = []
    for message in queue._messages:
        if message.visible_at < now and not now < message.delayed_until:
            found.append(message)
            if len(found) == count:
                break
    return found


def _copy(message: Any, destination: Any) -> Any:
    """A new message for the destination: new id and sent time (so a new retention period),
    the same body, message and system attributes, and on FIFO queues the group and
    deduplication ids. It is what SQSBackend.send_message builds, without re-reading every
    queue attribute for each message (1.1 ms of its 1.2 ms); moto's own DLQ move adds
    messages the same way."""
    from moto.sqs.models import Message  # noqa: PLC0415

    copied = Message(str(uuid.uuid4()), message.body, copy.deepcopy(message.system_attributes))
    copied.message_attributes = copy.deepcopy(message.message_attributes)
    if destination.fifo_queue:
        copied.group_id = message.group_id
        copied.deduplication_id = message.deduplication_id
        copied.sequence_number = f"{time.time_ns():020d}"  # a new message's: increasing
    copied.mark_sent(delay_seconds=destination.delay_seconds)
    return copied


def _destination(task: MoveTask, source: Any) -> Any:
    """The given destination, or the source's one source queue (moto does not record which
    queue each message came from, so with several the task fails rather than guess)."""
    from moto.sqs.exceptions import QueueDoesNotExist  # noqa: PLC0415

    if task.destination_arn is not None:
        destination = find_queue(task.destination_arn)
        if destination is None:
            raise QueueDoesNotExist
        return destination
    sources = _backend_of(source).list_dead_letter_source_queues(source.name)
    if len(sources) != 1:
        raise _error(
            "UnsupportedOperation",
            "the local stack cannot tell which of the dead-letter queue's "
            f"{len(sources)} source queues each message came from: give DestinationArn",
        )
    return sources[0]


def _remove(queue: Any, messages: list[Any]) -> None:
    """Queue.delete_message's bookkeeping for these message objects, in one pass over the
    queue (delete_message searches every message for a receipt handle, once per message)."""
    if not messages:
        return
    gone = {id(message) for message in messages}
    queue._messages = [m for m in queue._messages if id(m) not in gone]
    for message in messages:
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(message.all_receipt_handles)
