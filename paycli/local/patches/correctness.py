"""Correctness: where moto 5.2.5 answers differently from AWS, or breaks under concurrency.

docs/moto.md ("Traps") has the measurements these cite.
"""

# Each patch imports the moto module it changes right next to the change, so a reviewer can
# check it against moto's source in one place.
# ruff: noqa: PLC0415
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from paycli.local.patches._base import Patch, Patcher, Purpose


class _ReentrantOwnedLock:
    """A re-entrant lock that a holder can fully give up while it waits, then take back.

    Used around moto's DynamoDB and SQS request handling; `released()` lets a long-poll
    ReceiveMessage sleep without blocking every other SQS and DynamoDB call.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = threading.local()

    def _get_depth(self) -> int:
        return int(getattr(self._depth, "n", 0))

    def __enter__(self) -> _ReentrantOwnedLock:
        self._lock.acquire()
        self._depth.n = self._get_depth() + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth.n = self._get_depth() - 1
        self._lock.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Drop every level this thread holds for the duration of the block."""
        depth = self._release_all()
        try:
            yield
        finally:
            self._reacquire(depth)

    def wait_released(self, condition: threading.Condition, timeout: float) -> None:
        """Wait on `condition` with every level of this lock given up, taken back after.

        `condition` is acquired before this lock is given up, so a notification sent by a
        thread that needs this lock first (SendMessage: backend lock, then the queue's
        condition) cannot slip in between and be missed. It is released before this lock is
        taken back, so the two are never waited for in the opposite order (no deadlock)."""
        condition.acquire()
        depth = self._release_all()
        try:
            condition.wait(timeout)
        finally:
            condition.release()
            self._reacquire(depth)

    def _release_all(self) -> int:
        depth = self._get_depth()
        for _ in range(depth):
            self._lock.release()
        self._depth.n = 0
        return depth

    def _reacquire(self, depth: int) -> None:
        for _ in range(depth):
            self._lock.acquire()
        self._depth.n = depth


# One lock for both backends: a DynamoDB handler never calls SQS (or the reverse) while holding
# it, and one lock keeps the reasoning simple. Lambda and Step Functions are never locked: the
# interpreter calls Lambda, which calls DynamoDB; locking those would deadlock (docs/moto.md).
BACKEND_LOCK = _ReentrantOwnedLock()


def _locked_call_action(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @wraps(original)
    def call_action(self: Any) -> Any:
        with BACKEND_LOCK:
            return original(self)

    return call_action


def _install_backend_lock(patcher: Patcher) -> None:
    """Every request (in-process via the botocore stubber and over HTTP via the server) goes
    through BaseResponse.call_action, so the lock sits there, for DynamoDB and SQS only."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    for handler in (DynamoHandler, SQSResponse):
        patcher.set(handler, "call_action", _locked_call_action(handler.call_action))


BACKEND_LOCK_PATCH = Patch(
    name="backend_lock",
    purpose=Purpose.CORRECTNESS,
    fixes="DynamoDB and SQS backends are not thread-safe: 8x100 concurrent conditional "
    "decrements on a balance of 400 gave 486 successes and a balance of -2; concurrent "
    "ReceiveMessage raised 'Set changed size during iteration'. One lock per request.",
    targets={
        "moto.core.responses:BaseResponse.call_action": "d3196be30903803f",
        "moto.dynamodb.responses:DynamoHandler": "a8430f4728c6245e",
        "moto.sqs.responses:SQSResponse": "5598debdf2c1cff8",
    },
    install=_install_backend_lock,
)


def _install_sqs_long_poll(patcher: Patcher) -> None:
    """A receive with WaitTimeSeconds > 0 becomes short non-blocking receives, with the lock
    dropped between them while waiting on the queue's own condition (notified on add)."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message

    @wraps(original)
    def receive_message(  # noqa: PLR0917 - moto's signature
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        deadline = unix_time() + wait_seconds_timeout
        while True:
            result = original(
                self, queue_name, count, 0, visibility_timeout, message_attribute_names
            )
            remaining = deadline - unix_time()
            if result or remaining <= 0:
                return result
            # Woken by add_message's notify_all. Not queue.wait_for_messages: its predicate
            # walks every message, in-flight ones included, at each wake-up (measured: 13% of
            # the daemon's CPU under load). Short waits: a message whose visibility timeout
            # ends does not notify.
            condition = self.get_queue(queue_name)._messages_lock
            BACKEND_LOCK.wait_released(condition, min(remaining, 0.1))

    patcher.set(SQSBackend, "receive_message", receive_message)


SQS_LONG_POLL = Patch(
    name="sqs_long_poll",
    purpose=Purpose.CORRECTNESS,
    fixes="With backend_lock, a long-poll ReceiveMessage (WaitTimeSeconds up to 20) would "
    "hold the lock for the whole wait and stall every DynamoDB and SQS call; the wait happens "
    "with the lock given up.",
    targets={
        "moto.sqs.models:SQSBackend.receive_message": "eb5bef8a08383d6e",
        "moto.sqs.models:Queue.add_message": "0318ef09cdd3fdc1",
    },
    install=_install_sqs_long_poll,
)


_JSON_PATH_MODULES = (
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.eval.states",
)
# Wildcards, recursive descent, filters, slices and unions make a path indefinite (a list).
_INDEFINITE_PATH = re.compile(r"\*|\.\.|\?\(|\[[^\]]*[:,]")


def _install_definite_json_paths(patcher: Patcher) -> None:
    """AWS returns the value itself for a definite path; indefinite paths keep moto's
    behaviour. `extract_json` is imported by name, so the importing modules are re-pointed."""
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json

    @wraps(original)
    def extract_json(path: str, data: Any) -> Any:
        if not _INDEFINITE_PATH.search(path):
            # Looked up per call, not bound at install: correctness patches install before
            # speed ones, so a bound `parse` missed the jsonpath_cache and built a new PLY
            # parser per path (+~12 ms daemon CPU per payment against 7672d80).
            matches = json_path.parse(path).find(data)  # type: ignore[attr-defined]
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    patcher.repoint("extract_json", original, extract_json, _JSON_PATH_MODULES)


DEFINITE_JSON_PATHS = Patch(
    name="definite_json_paths",
    purpose=Purpose.CORRECTNESS,
    fixes="moto answers a definite JSONPath below an array index with a one-element list "
    "($[0].body -> [...], its change for getmoto/moto#7825), so the ASL's "
    "States.StringToJson($[0].body) on a Pipes batch fails: 'list' object has no attribute "
    "'strip'. Every payment fails without it.",
    targets={
        "moto.stepfunctions.parser.asl.utils.json_path:extract_json": "92133d58dad724b6",
        "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument"
        ":extract_json": "92133d58dad724b6",
        "moto.stepfunctions.parser.asl.eval.states:extract_json": "92133d58dad724b6",
    },
    install=_install_definite_json_paths,
    required=True,
)


def _install_message_move_tasks(patcher: Patcher) -> None:
    """SQSResponse gets the three actions; call_action finds them by name (it dispatches to
    any method whose name is the action's in snake case) and serialises ServiceExceptions
    with the error's shape from botocore's model, as for moto's own actions."""
    from moto.core.responses import ActionResult
    from moto.sqs.responses import SQSResponse

    from paycli.local import move_tasks

    def start_message_move_task(self: Any) -> Any:
        handle = move_tasks.start(
            self._get_param("SourceArn"),
            self._get_param("DestinationArn"),
            self._get_param("MaxNumberOfMessagesPerSecond"),
        )
        return ActionResult({"TaskHandle": handle})

    def list_message_move_tasks(self: Any) -> Any:
        results = move_tasks.list_tasks(self._get_param("SourceArn"), self._get_param("MaxResults"))
        return ActionResult({"Results": results})

    def cancel_message_move_task(self: Any) -> Any:
        moved = move_tasks.cancel(self._get_param("TaskHandle"))
        return ActionResult({"ApproximateNumberOfMessagesMoved": moved})

    for method in (start_message_move_task, list_message_move_tasks, cancel_message_move_task):
        patcher.set(SQSResponse, method.__name__, method)


MESSAGE_MOVE_TASKS = Patch(
    name="sqs_message_move_tasks",
    purpose=Purpose.CORRECTNESS,
    fixes="moto 5.2.5 has no StartMessageMoveTask, ListMessageMoveTasks or "
    "CancelMessageMoveTask (500 NotImplementedError in server mode), so `paycli dlq redrive` "
    "ran a receive-send-delete loop locally (99.6 messages/s, benchmarks/dlq_redrive.py). "
    "paycli/local/move_tasks.py implements them on the backend, with AWS's checks.",
    targets={
        "moto.core.responses:BaseResponse.call_action": "d3196be30903803f",
        "moto.sqs.responses:SQSResponse": "5598debdf2c1cff8",
        "moto.sqs.models:SQSBackend.send_message": "290ee658970a53ac",
        "moto.sqs.models:SQSBackend.list_dead_letter_source_queues": "7d3b0e7634b9e0cf",
        "moto.sqs.models:Queue.add_message": "0318ef09cdd3fdc1",
        "moto.sqs.models:Queue.messages": "7d3714ccd946a7b8",
        "moto.sqs.models:Queue.delete_message": "635a5ac16f74289f",
        "moto.sqs.models:Message.__init__": "a6b6c8813a5a4d1a",
        "moto.sqs.models:Message.mark_sent": "7198adca55ac6aa3",
        "moto.sqs.models:Message.visible": "08e353e389af0359",
        "moto.sqs.models:Message.delayed": "dfdbb681863b1bc5",
        "moto.sqs.models:Message.all_receipt_handles": "6f1ef54355e06960",
    },
    install=_install_message_move_tasks,
    required=True,
)


PATCHES = (BACKEND_LOCK_PATCH, SQS_LONG_POLL, DEFINITE_JSON_PATHS, MESSAGE_MOVE_TASKS)
