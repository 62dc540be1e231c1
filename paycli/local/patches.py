"""Targeted fixes to moto 5.2.5 internals that the local stack needs to be correct and fast.

Each patch cites the measurement in `MOTO_NOTES.md` (shared notes; the same figures are in issue
3) that it fixes. They touch private moto code, so moto is pinned exactly in pyproject.toml and
`tests/unit/test_moto_pin.py` fails when the installed version differs: re-verify every patch
against the new source before moving the pin.

`apply()` is idempotent and process-wide (moto's backends are process-wide too).
"""

# Each patch imports the moto module it changes right next to the change, so a reviewer can
# check it against moto's source in one place.
# ruff: noqa: PLC0415
from __future__ import annotations

import collections
import copy
import functools
import io
import json
import math
import re
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import moto

MOTO_VERSION = "5.2.5"

# A function that runs a Lambda handler: (function name or ARN, qualifier, payload, headers,
# response headers) -> response payload; None means "unknown function" (moto answers 404).
LambdaInvoker = Callable[[str, str | None, bytes, Any, dict[str, str]], bytes | None]

_apply_lock = threading.Lock()
_applied = False
_time_scale = 1.0
_lambda_invoker: LambdaInvoker | None = None
_real_sleep = time.sleep


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
# interpreter calls Lambda, which calls DynamoDB; locking those would deadlock (MOTO_NOTES).
BACKEND_LOCK = _ReentrantOwnedLock()


def moto_version() -> str:
    """The installed moto version (what the patches were verified against is MOTO_VERSION)."""
    return str(moto.__version__)


def set_time_scale(scale: float) -> None:
    """Scale ASL Retry intervals and Wait states (MOTO_NOTES: 'Retry waits are real sleeps')."""
    global _time_scale  # noqa: PLW0603 - process-wide like the interpreter it scales
    if scale <= 0:
        msg = f"time scale must be > 0, got {scale}"
        raise ValueError(msg)
    _time_scale = scale


def set_lambda_invoker(invoker: LambdaInvoker | None) -> None:
    """Route moto's Lambda invoke (LambdaSimpleBackend.invoke, the seam) to `invoker`."""
    global _lambda_invoker  # noqa: PLW0603 - moto's backends are process-wide
    _lambda_invoker = invoker


def apply(*, fixes: bool = True) -> None:
    """Install the patches once; later calls are no-ops.

    `fixes=False` installs only what the local stack cannot run without (the Lambda seam, the
    ASL time scale, definite JSONPaths): stock moto otherwise, for the benchmark's comparison. It is
    process-wide, so the first call decides.
    """
    global _applied  # noqa: PLW0603 - patches are process-wide
    with _apply_lock:
        if _applied:
            return
        if fixes:
            _patch_instance_tracking()
            _patch_backend_lock()
            _patch_sqs_long_poll()
            _patch_sqs_retention_check()
            _patch_transact_write_items()
            _patch_asl_parse_cache()
            _patch_jsonpath_cache()
            _patch_sfn_clients()
            _patch_sfn_direct_invoke()
            _patch_thread_registry()
            _patch_sqs_send_attributes()
            _patch_execution_compaction()
            _patch_request_overhead()
        _patch_asl_sleeps()
        _patch_lambda_invoke()
        _patch_definite_json_paths()  # correctness (AWS semantics), so in both modes
        _applied = True


# --------------------------------------------------------------------------- instance tracking
def _patch_instance_tracking() -> None:
    """MOTO_NOTES: 'every model instance tracked forever (BaseModel.__new__ -> instances_tracked):
    RSS 219 MB -> 710 MB over 1,000 payments, quadratic'. Only moto's reset API and S3's
    multipart cleanup read the lists; the local stack uses neither."""
    from moto.core.common_models import BaseModel

    def untracked_new(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = untracked_new  # type: ignore[method-assign]


# --------------------------------------------------------------------------- backend lock
def _locked_call_action(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @wraps(original)
    def call_action(self: Any) -> Any:
        with BACKEND_LOCK:
            return original(self)

    return call_action


def _patch_backend_lock() -> None:
    """MOTO_NOTES: 'DynamoDB and SQS backends not thread-safe: 8x100 conditional decrements on
    400 gave 486 successes, balance -2; concurrent ReceiveMessage raised "Set changed size during
    iteration"'. Every request (in-process via the botocore stubber and over HTTP via the server)
    goes through BaseResponse.call_action, so the lock sits there."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    for handler in (DynamoHandler, SQSResponse):
        handler.call_action = _locked_call_action(handler.call_action)  # type: ignore[method-assign]


def _patch_sqs_long_poll() -> None:
    """The lock must never be held across a long-poll wait (MOTO_NOTES remedy). A receive with
    WaitTimeSeconds > 0 becomes short non-blocking receives, with the lock dropped between them
    while waiting on the queue's own condition (notified when a message is added)."""
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

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _patch_sqs_retention_check() -> None:
    """Measured here (not in MOTO_NOTES): ReceiveMessage checks each returned message's
    retention through get_queue_attributes, which rebuilds every attribute including
    ApproximateNumberOfMessages (a walk over the whole queue): 180 ms per receive with 200
    messages queued, quadratic in the backlog (a DLQ, a burst). Same check, read directly."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


# --------------------------------------------------------------------------- transactions
def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any]:
    """The (hash, range) DynamoType pair an operation touches."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_attr = table.range_key_attr
    range_value = DynamoType(attrs[range_attr]) if range_attr is not None else None
    return hash_value, range_value


def _restore_items(snapshots: list[tuple[Any, Any, Any, Any]]) -> None:
    """Put every touched item back as it was, newest snapshot last-restored-first."""
    for table, hash_value, range_value, item in reversed(snapshots):
        if range_value is not None:
            if item is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item


def _patch_transact_write_items() -> None:
    """MOTO_NOTES: 'TransactWriteItems deep-copies each touched table: 22 ms at 1k items, 102 ms
    at 5k, 458 ms at 20k'. The original backs up whole tables to roll back a cancelled
    transaction; this version snapshots only the items the transaction touches and rolls those
    back, then delegates each operation to the original with tables still intact."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    dynamodb_models.copy = _TransactionCopy()  # type: ignore[attr-defined,assignment]

    @wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            for op_type, op in entry.items():
                table = self.tables.get(op.get("TableName"))
                if table is None or op_type not in {"Put", "Delete", "Update"}:
                    continue
                try:
                    hash_value, range_value = _item_key(table, op_type, op)
                except (KeyError, TypeError):
                    continue  # malformed: the original raises the proper validation error
                current = table.get_item(hash_value, range_value)
                snapshots.append((table, hash_value, range_value, copy.deepcopy(current)))
        _skip_table_backup.active = True
        try:
            original(self, transact_items)
        except BaseException:
            _restore_items(snapshots)
            raise
        finally:
            _skip_table_backup.active = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


_skip_table_backup = threading.local()


class _TransactionCopy:
    """Stands in for the `copy` module inside moto.dynamodb.models.

    While this thread runs the patched transact_write_items, `deepcopy(table)` (the whole-table
    backup) returns the table itself: the original's rollback then re-assigns the live table to
    its own name (a no-op) and the item snapshots above do the real rollback. Everywhere else,
    and on every other thread, it is the real `copy.deepcopy`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_skip_table_backup, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


# --------------------------------------------------------------------------- Step Functions
def _warm_heap_keys(component: Any, seen: set[int]) -> None:
    """Touch `heap_key` on every component of a parsed program.

    Components key per-execution state (retry attempt counters, backoff multipliers) in
    env.heap by a lazily minted uid; minting it once here, before the program is shared between
    concurrent executions, removes the race where two threads mint different keys."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children: list[Any] = []
    if isinstance(component, list | tuple):
        children = list(component)
    elif isinstance(component, dict):
        children = list(component.values())
    elif hasattr(component, "__dict__") and type(component).__module__.startswith("moto."):
        children = list(vars(component).values())
    for child in children:
        _warm_heap_keys(child, seen)


def _patch_asl_parse_cache() -> None:
    """MOTO_NOTES: 'ASL re-parsed per execution: about 25 ms for a 9-state machine'. The parsed
    program keeps per-execution state in env.heap / env.stack, never on the components
    (verified in retry/max_attempts_decl.py and backoff_rate_decl.py), so one parse can be
    shared by every execution of the same definition."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse  # a staticmethod in 5.2.5
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> Any:
        with lock:
            cached = cache.get(definition)
        if cached is not None:
            return cached
        parsed = original(definition)
        _warm_heap_keys(parsed[0], set())
        with lock:
            return cache.setdefault(definition, parsed)

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


def _cached_parser(original: Callable[[str], Any]) -> Callable[[str], Any]:
    cache: dict[str, Any] = {}

    def parse(path: str) -> Any:
        expression = cache.get(path)
        if expression is None:
            expression = cache.setdefault(path, original(path))
        return expression

    return parse


def _patch_jsonpath_cache() -> None:
    """Measured here (not in MOTO_NOTES): the interpreter calls jsonpath_ng's `parse` for every
    JSONPath it evaluates, and each call builds a new PLY parser (yacc tables): about 14
    parses per payment, the largest single cost inside an execution. Parsed expressions are
    immutable (find/update take the data as an argument), so one per path string is shared.
    """
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = _cached_parser(json_path.parse)  # type: ignore[attr-defined,assignment]
    result_path.parse = _cached_parser(result_path.parse)  # type: ignore[attr-defined,assignment]


def _patch_sfn_clients() -> None:
    """MOTO_NOTES: 'new boto3 clients per Task: 3-8 ms per client'. Cache one client per
    (region, service, in-process or server port); botocore clients are thread-safe once built,
    creating them is not, hence the lock. `boto_client_for` is imported by name into each task
    module, so the already-imported modules are re-pointed as well."""
    import sys

    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str, bool, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, bool(botocore_stubber.enabled), str(moto_server_port()))
        client = cache.get(key)
        if client is not None:
            return client
        with lock:
            client = cache.get(key)
            if client is None:
                client = original(region=region, service=service)
                cache[key] = client
            return client

    boto_client.boto_client_for = boto_client_for
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions")
            and getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    _import_task_modules()
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("moto.stepfunctions")
            and getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _import_task_modules() -> None:
    """Import the task modules that call boto_client_for, so the re-pointing above sees them."""
    import importlib

    base = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
    for name in (
        "lambda_eval_utils",
        "service.state_task_service_dynamodb",
        "service.state_task_service_sqs",
        "service.state_task_service_sfn",
        "service.state_task_service_sns",
        "service.state_task_service_events",
        "service.state_task_service_aws_sdk",
    ):
        importlib.import_module(f"{base}.{name}")


def _patch_sfn_direct_invoke() -> None:
    """Measured here: a `lambda:invoke` Task goes interpreter -> botocore -> moto's Lambda API
    -> LambdaSimpleBackend.invoke -> runner, about 1.1 ms of serialising and parsing per call
    around a handler the runner calls in 0.03 ms. In process, with an invoker installed, the
    interpreter's invoke goes to the same invoker (the seam function) directly and gets
    Lambda's response shape; unknown functions and server mode take moto's path as before."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    original = lambda_eval_utils._invoke_lambda_function

    @wraps(original)
    def _invoke_lambda_function(
        parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        invoker = _lambda_invoker
        if (
            invoker is None
            or parameters.get("InvocationType", "RequestResponse") != "RequestResponse"
        ):
            return original(parameters, region, state_credentials)
        payload = parameters.get("Payload") or b"{}"
        if isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, bytes):
            payload = to_json_str(payload).encode()
        headers: dict[str, str] = {}
        name = str(parameters["FunctionName"])
        body = invoker(name, parameters.get("Qualifier"), payload, {}, headers)
        if body is None:
            return original(parameters, region, state_credentials)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": lambda_eval_utils._from_payload(io.BytesIO(body)),
        }
        if "x-amz-function-error" in headers:
            response["FunctionError"] = headers["x-amz-function-error"]
        return response

    lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function


class _DiscardingThreadList(list[Any]):
    """Stands in for moto's TMP_THREADS: append keeps nothing."""

    def append(self, _thread: Any) -> None:
        return None


def _patch_thread_registry() -> None:
    """moto.stepfunctions.parser.utils.TMP_THREADS: every execution and every Task attempt
    appends its Thread and nothing ever reads or clears the list (verified: only `.append`
    call sites in moto 5.2.5), so it grows by about three threads per payment forever. The
    modules imported the list by name; each is re-pointed at a list that keeps nothing."""
    import importlib
    import sys

    from moto.stepfunctions.parser import utils

    for name in (
        "moto.stepfunctions.parser.backend.execution_worker",
        "moto.stepfunctions.parser.asl.component.program.program",
        "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    ):
        importlib.import_module(name)
    original = utils.TMP_THREADS
    replacement = _DiscardingThreadList()
    for module_name, module in list(sys.modules.items()):
        if (
            module_name.startswith("moto.stepfunctions")
            and getattr(module, "TMP_THREADS", None) is original
        ):
            module.TMP_THREADS = replacement  # type: ignore[attr-defined]
    original.clear()


_skip_message_counts = threading.local()


def _patch_sqs_send_attributes() -> None:
    """Measured here: SendMessage reads `queue.attributes` for one flag, which rebuilds every
    attribute including the three ApproximateNumberOfMessages* counts (walks over the whole
    queue): 3.6 ms per send with 200 queued, growing with the backlog. During send_message the
    counts (unused there) are skipped; everywhere else they are computed as before."""
    from moto.sqs.models import Queue, SQSBackend

    for prop in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        counted = getattr(Queue, prop)

        def skipped(self: Any, _counted: Any = counted) -> int:
            if getattr(_skip_message_counts, "active", False):
                return 0
            return int(_counted.fget(self))

        setattr(Queue, prop, property(skipped))

    original = SQSBackend.send_message

    @wraps(original)
    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _skip_message_counts.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _skip_message_counts.active = False

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


# Full history is kept for this many of the newest finished executions per process; older
# ones keep everything DescribeExecution returns (status, input, output, error, cause) but an
# empty GetExecutionHistory. The CLI's `executions show` looks at recent payments.
EXECUTION_HISTORY_LIMIT = 2000
_finished: list[Any] = []
_finished_lock = threading.Lock()


class _FinishedEnvironment:
    """What a finished execution's interpreter Environment is still asked for: its history
    (GetExecutionHistory) and a stop request (StopExecution on a finished one is a no-op)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.event_manager = self

    def get_event_history(self) -> list[Any]:
        return self.events

    def set_stop(self, **_kwargs: Any) -> None:
        return None


def _patch_execution_compaction() -> None:
    """MOTO_NOTES: 'about 50 KB per execution remains' once tracking is off; measured here
    with tracemalloc, 22 KB of it is the finished execution's interpreter Environment (frames,
    states, heap, context) of which GetExecutionHistory needs only the event list. When an
    execution terminates, its Environment is replaced by that list; past
    EXECUTION_HISTORY_LIMIT finished executions, the oldest histories are dropped (their
    DescribeExecution stays complete), so memory stays flat over thousands of payments."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    @wraps(original)
    def terminated(self: Any) -> None:
        original(self)
        worker = self.execution.exec_worker
        env = getattr(worker, "env", None)
        if worker is None or env is None or isinstance(env, _FinishedEnvironment):
            return
        worker.env = _FinishedEnvironment(list(env.event_manager.get_event_history()))
        with _finished_lock:
            _finished.append(worker)
            while len(_finished) > EXECUTION_HISTORY_LIMIT:
                _finished.pop(0).env = _FinishedEnvironment([])

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


class _ScaledTime:
    """Stands in for the `time` module inside the retrier: only `sleep` is scaled."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        _real_sleep(seconds * _time_scale)


def _patch_asl_sleeps() -> None:
    """MOTO_NOTES: 'ASL Retry waits are real time.sleep: slow tests'. The retrier calls
    `time.sleep(interval)` (retry/retrier_decl.py) and Wait states wait on an event
    (wait_function.py); both are scaled by set_time_scale()."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    retrier_decl.time = _ScaledTime()  # type: ignore[attr-defined,assignment]

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * _time_scale)

    wait_function.WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]


# --------------------------------------------------------------------------- request overhead
def _patch_request_overhead() -> None:
    """Measured here with cProfile on 1,000 in-process GetItems (`benchmarks/moto_calls.py`
    prints the per-call figures): of about 1.7 ms per call, the backend's own work is under
    0.2 ms. The rest is request plumbing, of which these parts do nothing the local stack needs
    per call. Each is cut without changing what a client receives."""
    _patch_method_names_cache()
    _patch_dynamodb_json_results()
    _patch_update_expression_cache()
    _patch_expression_traversal()
    _patch_expression_tree_copy()
    _patch_condition_lexer_cache()
    _patch_request_ids()
    _patch_in_process_signing()


def _patch_method_names_cache() -> None:
    """BaseResponse.call_action lists the handler class's methods with inspect.getmembers on
    every request (about 0.3 ms) to check the action exists. A class's methods do not change
    at run time, so the list is computed once per class."""
    import importlib

    # Imported by name into moto.core.responses, the only caller (verified in 5.2.5).
    responses: Any = importlib.import_module("moto.core.responses")
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)


def _is_json_native(value: Any) -> bool:
    """True for a tree of str, int, bool, finite float, list and dict only: what DynamoDB's
    wire format holds apart from blobs (floats: ConsumedCapacity), and what json.dumps writes
    exactly as the shape serializer does."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(type(key) is str and _is_json_native(item) for key, item in value.items())
    if kind is list:
        return all(_is_json_native(item) for item in value)
    return False


def _patch_dynamodb_json_results() -> None:
    """moto 5.2.5 passes every DynamoDB result through its generic shape serializer, which
    walks the output shape member by member (32 lookups for a three-attribute GetItem, about
    0.8 ms) to produce what is already there: DynamoHandler builds results in DynamoDB's wire
    form (DynamoResult). A successful result made only of strings, integers, finite floats,
    booleans, lists and dicts is written with json.dumps; anything else (errors, blobs,
    timestamps, None) still takes the serializer. tests/integration/test_moto_request_patches.py
    parses both bodies with botocore for a corpus of operations and compares them."""
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    serialize = BaseResponse.serialized

    @wraps(serialize)
    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if type(result) is not dict or not _is_json_native(result):
            return serialize(self, action_result)
        headers = {"Content-Type": DYNAMODB_CONTENT_TYPE, **self.response_headers}
        return 200, headers, json.dumps(result, separators=(",", ":"))

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


DYNAMODB_CONTENT_TYPE = "application/x-amz-json-1.0"


def _patch_update_expression_cache() -> None:
    """UpdateItem parses its UpdateExpression twice per request (responses.py, then the
    backend), about 0.45 ms each; a TransactWriteItems Update does the same. The parsed tree is
    only read (find_clauses) or deep-copied before it is processed (Validator.__init__), so one
    parse per expression string is shared. Expressions are few (the handlers use constants
    with placeholders); the cache is bounded anyway."""
    import importlib

    parser = importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
    parser.make = staticmethod(functools.lru_cache(maxsize=512)(parser.make))


def _patch_expression_traversal() -> None:
    """Every UpdateItem (and transaction Update) runs ten processors over its expression tree
    (Validator.validate); DepthFirstTraverser asks each processor for its node types (a new
    dict and tuple) at every node visited, 135 times per update. The types are the same for
    the whole walk, so they are asked for once per walk; the walk itself is unchanged
    (children first, in order; a processed node replaces itself in its parent)."""
    import importlib

    # ast_nodes.py starts with "# type: ignore", so mypy sees none of its names.
    ast_nodes: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
    node_type = ast_nodes.Node

    # Node classes are ABCs, whose isinstance checks are slow; which classes are nodes (and
    # which a processor handles) depends only on the class, so each answer is kept per class.
    is_node_class: dict[type, bool] = {}

    def traverse(self: Any, root: Any) -> Any:
        kinds = self.nodes_to_be_processed()
        handled: dict[type, bool] = {}
        pre_processing_of_child = self.pre_processing_of_child
        process = self.process

        def visit(node: Any, child_id: int) -> Any:
            cls = type(node)
            is_node = is_node_class.get(cls)
            if is_node is None:
                is_node = is_node_class[cls] = issubclass(cls, node_type)
            if is_node:
                parent_node = node.parent
                if node.children is not None:
                    for index, child in enumerate(node.children):
                        pre_processing_of_child(node, index)
                        visit(child, index)
                hit = handled.get(cls)
                if hit is None:
                    hit = handled[cls] = issubclass(cls, kinds)
                if hit:
                    node = process(node)
                    node.parent = parent_node
                    if parent_node:
                        parent_node.children[child_id] = node
            return node

        return visit(root, -1)

    ast_nodes.DepthFirstTraverser.traverse = traverse


def _copy_tree(node: Any, parent: Any, node_type: type) -> Any:
    """A copy of a parsed expression tree whose attributes are only nodes, lists of them,
    strings, numbers and None; anything else raises TypeError (the caller deep-copies)."""
    clone = object.__new__(type(node))
    for name, value in vars(node).items():
        if name == "parent":
            copied: Any = parent
        elif isinstance(value, node_type):
            copied = _copy_tree(value, clone, node_type)
        elif type(value) is list:
            copied = [
                _copy_tree(item, clone, node_type) if isinstance(item, node_type) else _leaf(item)
                for item in value
            ]
        else:
            copied = _leaf(value)
        setattr(clone, name, copied)
    return clone


def _leaf(value: Any) -> Any:
    if value is None or type(value) in {str, int, bool}:
        return value
    raise TypeError(type(value))


def _patch_expression_tree_copy() -> None:
    """Validator.__init__ deep-copies the parsed UpdateExpression before processing it
    (about 0.3 ms through copy.deepcopy's generic machinery). A freshly parsed tree holds only
    nodes, their child lists and strings (the values are bound later, on the copy), so it is
    copied node by node; a tree holding anything else still goes to copy.deepcopy. The copy is
    what the validator mutates, so the shared parsed tree (above) is never changed."""
    import importlib

    node_type = importlib.import_module("moto.dynamodb.parsing.ast_nodes").Node
    validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if memo is None and isinstance(value, node_type) and value.parent is None:
            try:
                return _copy_tree(value, None, node_type)
            except TypeError:
                pass
        return copy.deepcopy(value, memo)

    validators.deepcopy = deepcopy


def _patch_condition_lexer_cache() -> None:
    """ConditionExpressionParser lexes each ConditionExpression from scratch, compiling its
    token regexes for every token (about 0.1 ms per condition). The tokens depend only on the
    expression string; they are cached per string and handed out as fresh tokens (the
    `children` list is the only mutable field, and a lexed token's is always empty)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lex = ConditionExpressionParser._lex_condition_expression
    cache: dict[str, tuple[Any, ...]] = {}

    @wraps(lex)
    def lex_condition_expression(self: Any) -> Any:
        expression = self.condition_expression
        tokens = cache.get(expression)
        if tokens is None:
            lexed = lex(self)
            if len(cache) >= _CONDITION_CACHE_SIZE or any(token.children for token in lexed):
                return lexed
            tokens = cache.setdefault(expression, tuple(lexed))
        return collections.deque(token._replace(children=[]) for token in tokens)

    ConditionExpressionParser._lex_condition_expression = lex_condition_expression  # type: ignore[method-assign]


_CONDITION_CACHE_SIZE = 512


def _patch_request_ids() -> None:
    """Every response gets a 52-character request id built with one random.choice call per
    character (about 0.15 ms). random.choices draws the same alphabet in one call, from moto's
    own (seedable) generator."""
    from moto.moto_api._internal.moto_random import MotoRandom

    def get_random_string(
        self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
    ) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        text = "".join(self.choices(pool, k=length))
        return text.lower() if lower_case else text

    MotoRandom.get_random_string = get_random_string  # type: ignore[method-assign]


def _patch_in_process_signing() -> None:
    """botocore signs every request with SigV4 (about 0.5 ms: canonical request, four HMACs).
    A request that moto's in-process stubber answers never leaves the process and moto checks
    no signature; it reads only the access key and region from the Authorization header. Such
    requests get that header with the real credential scope and no signature computation.
    Requests to any other host (the local API, moto's HTTP server, real AWS), presigned URLs and
    unsigned clients are signed by botocore exactly as before, so SigV4 verification of the
    local API (paycli/local/sigv4.py, which uses SigV4Auth directly) is unaffected."""
    from botocore import UNSIGNED
    from botocore.signers import RequestSigner
    from moto.core.models import botocore_stubber

    sign = RequestSigner.sign

    @wraps(sign)
    def in_process_sign(  # noqa: PLR0917 - botocore's signature
        self: Any,
        operation_name: str,
        request: Any,
        region_name: str | None = None,
        signing_type: str = "standard",
        expires_in: int | None = None,
        signing_name: str | None = None,
    ) -> None:
        if (
            signing_type != "standard"
            or not botocore_stubber.enabled
            or self._credentials is None
            or self._signature_version is UNSIGNED
            or not _answered_in_process(request.url)
        ):
            return sign(
                self, operation_name, request, region_name, signing_type, expires_in, signing_name
            )
        credentials = self._credentials.get_frozen_credentials()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        scope = (
            f"{credentials.access_key}/{stamp[:8]}/{region_name or self._region_name}/"
            f"{signing_name or self._signing_name}/aws4_request"
        )
        headers = request.headers
        headers["X-Amz-Date"] = stamp
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, "
            f"Signature={_UNCOMPUTED_SIGNATURE}"
        )
        return None

    RequestSigner.sign = in_process_sign  # type: ignore[method-assign]


_UNCOMPUTED_SIGNATURE = "0" * 64


@functools.lru_cache(maxsize=256)
def _host_answered_in_process(scheme_and_host: str) -> bool:
    from moto.core.config import passthrough_url

    host = scheme_and_host.partition("://")[2]
    return host.endswith(".amazonaws.com") and not passthrough_url(scheme_and_host + "/")


def _answered_in_process(url: str) -> bool:
    """moto's stubber answers every *.amazonaws.com URL (404 for services it lacks) unless a
    passthrough is configured; other hosts go to the network."""
    scheme, _, rest = url.partition("://")
    return _host_answered_in_process(f"{scheme}://{rest.split('/', 1)[0]}")


# --------------------------------------------------------------------------- Lambda seam
def _patch_lambda_invoke() -> None:
    """MOTO_NOTES: 'LambdaSimpleBackend.invoke(self, function_name, qualifier, body, headers,
    response_headers) is the seam for an in-process runner'. With no invoker installed the stock
    behaviour (echo the body) remains."""
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke

    @wraps(original)
    def invoke(  # noqa: PLR0917 - moto's signature
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> str | bytes | None:
        invoker = _lambda_invoker
        if invoker is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        payload = body.encode() if isinstance(body, str) else bytes(body or b"")
        result = invoker(function_name, qualifier, payload, headers, response_headers)
        if result is None:
            arn = f"arn:aws:lambda:{self.region_name}:{self.account_id}:function:{function_name}"
            raise UnknownFunctionException(arn)
        return result

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


# --------------------------------------------------------------------------- JSONPath
_JSON_PATH_MODULES = (
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.eval.states",
)
# Wildcards, recursive descent, filters, slices and unions make a path indefinite (a list).
_INDEFINITE_PATH = re.compile(r"\*|\.\.|\?\(|\[[^\]]*[:,]")


def _patch_definite_json_paths() -> None:
    """moto 5.2.5 answers a definite path below an array index with a one-element list
    (`$[0].body` -> `["..."]`, its change for getmoto/moto#7825), so the ASL's
    `States.StringToJson($[0].body)` on a Pipes batch fails with "'list' object has no attribute
    'strip'". AWS returns the value itself for a definite path; indefinite paths keep moto's
    behaviour. `extract_json` is imported by name, so the importing modules are re-pointed."""
    import importlib
    import sys

    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json
    parse = json_path.parse  # type: ignore[attr-defined]  # jsonpath_ng's, as moto uses it

    @wraps(original)
    def extract_json(path: str, data: Any) -> Any:
        if not _INDEFINITE_PATH.search(path):
            matches = parse(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    json_path.extract_json = extract_json
    for name in _JSON_PATH_MODULES:
        importlib.import_module(name)
    for name, module in list(sys.modules.items()):
        if not name.startswith("moto.stepfunctions"):
            continue
        if getattr(module, "extract_json", None) is original:
            module.extract_json = extract_json  # type: ignore[attr-defined]
