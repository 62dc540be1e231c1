"""Memory: what moto keeps forever although nothing reads it (docs/moto.md, "Memory")."""

# ruff: noqa: PLC0415 - each patch imports the moto module it changes next to the change
from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from functools import wraps
from typing import Any

from paycli.local.patches._base import Patch, Patcher, Purpose


def _install_instance_tracking(patcher: Patcher) -> None:
    """Only moto's reset API and S3's multipart cleanup read the lists; the local stack uses
    neither."""
    from moto.core.common_models import BaseModel

    def untracked_new(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    patcher.set(BaseModel, "__new__", untracked_new)


INSTANCE_TRACKING = Patch(
    name="instance_tracking",
    purpose=Purpose.MEMORY,
    fixes="BaseModel.__new__ appends every model instance to its class's instances_tracked "
    "list forever: the daemon's RSS grew from 219 MB to 710 MB over 1,000 payments.",
    targets={"moto.core.common_models:BaseModel.__new__": "4168be6e299db15e"},
    install=_install_instance_tracking,
)


class _DiscardingThreadList(list[Any]):
    """Stands in for moto's TMP_THREADS: append keeps nothing."""

    def append(self, _thread: Any) -> None:
        return None


_THREAD_LIST_IMPORTERS = (
    "moto.stepfunctions.parser.backend.execution_worker",
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
)


def _install_thread_registry(patcher: Patcher) -> None:
    """The modules imported the list by name; each is re-pointed at a list that keeps
    nothing."""
    from moto.stepfunctions.parser import utils

    original = utils.TMP_THREADS
    patcher.repoint("TMP_THREADS", original, _DiscardingThreadList(), _THREAD_LIST_IMPORTERS)
    original.clear()


THREAD_REGISTRY = Patch(
    name="thread_registry",
    purpose=Purpose.MEMORY,
    fixes="moto.stepfunctions.parser.utils.TMP_THREADS gets every execution's and every Task "
    "attempt's Thread appended and is never read or cleared (only .append call sites in "
    "5.2.5): about three threads kept per payment, forever.",
    targets={
        "moto.stepfunctions.parser.utils:TMP_THREADS": "ece68697b42bab4f",
        "moto.stepfunctions.parser.backend.execution_worker"
        ":ExecutionWorker.start": "02ccce89f7074b34",
        "moto.stepfunctions.parser.asl.component.program.program:Program.eval": "2b6d51c649302de8",
    },
    install=_install_thread_registry,
)


class _FinishedEnvironment:
    """What a finished execution's interpreter Environment is still asked for: its history
    (GetExecutionHistory) and a stop request (StopExecution on a finished one is a no-op)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    @property
    def event_manager(self) -> _FinishedEnvironment:
        """Itself (a property, not an attribute: no reference cycle to collect)."""
        return self

    def get_event_history(self) -> list[Any]:
        return self.events

    def set_stop(self, **_kwargs: Any) -> None:
        return None


def _install_execution_compaction(patcher: Patcher) -> None:
    """When an execution terminates, its Environment is replaced by its event list (how long a
    finished execution is kept at all is `execution_records`' bound)."""
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

    patcher.set(BaseExecutionWorkerCommunication, "terminated", terminated)


EXECUTION_COMPACTION = Patch(
    name="execution_compaction",
    purpose=Purpose.MEMORY,
    fixes="With instance tracking off about 50 KB per execution remained; 22 KB of it "
    "(tracemalloc) is the finished execution's interpreter Environment, of which "
    "GetExecutionHistory needs only the event list.",
    targets={
        "moto.stepfunctions.parser.backend.execution"
        ":BaseExecutionWorkerCommunication.terminated": "16427fb69de6524c",
        "moto.stepfunctions.parser.backend.execution"
        ":Execution.to_history_output": "317c96b65a5930f5",
        "moto.stepfunctions.parser.backend.execution:Execution.stop": "3ca32ac8220c53f7",
    },
    install=_install_execution_compaction,
)


#: Each state machine keeps every RUNNING execution and, per terminal status (SUCCEEDED,
#: FAILED, TIMED_OUT, ABORTED), the newest this many finished ones, complete (DescribeExecution
#: and GetExecutionHistory); older ones are dropped, as AWS drops a closed Standard execution
#: 90 days after it ends. Per status, so a flood of successes never pushes out the failures
#: that `paycli executions list --status FAILED` and `executions redrive` look for.
DEFAULT_EXECUTIONS_KEPT = 1000
#: The variable that sets it in a process that starts a local stack (the daemon reads it).
EXECUTIONS_KEPT_ENV = "PAYCLI_LOCAL_EXECUTIONS_KEPT"


class _Kept:
    """The bound in force (process-wide, as moto's backends are)."""

    per_status = DEFAULT_EXECUTIONS_KEPT


def executions_kept() -> int:
    """The bound in force: set_executions_kept's, else $PAYCLI_LOCAL_EXECUTIONS_KEPT's."""
    return _Kept.per_status


def set_executions_kept(count: int) -> None:
    """Keep the newest `count` finished executions per status and state machine (>= 1);
    applies to executions that finish from now on."""
    if count < 1:
        msg = f"executions kept must be at least 1, got {count}"
        raise ValueError(msg)
    _Kept.per_status = count


def executions_kept_from_env() -> int:
    """$PAYCLI_LOCAL_EXECUTIONS_KEPT as a whole number >= 1, or the default when unset."""
    value = os.environ.get(EXECUTIONS_KEPT_ENV, "").strip()
    if not value:
        return DEFAULT_EXECUTIONS_KEPT
    if not value.isdigit() or int(value) < 1:
        msg = f"{EXECUTIONS_KEPT_ENV} must be a whole number >= 1, not {value!r}"
        raise ValueError(msg)
    return int(value)


class ExecutionRecords:
    """A state machine's executions, in start order, found by ARN or name in O(1), with
    finished ones dropped past the bound (moto keeps a list: every StartExecution scanned it
    for the name, DescribeExecution for the ARN, and it held every execution forever).

    It stands in for moto's list where moto appends to it or iterates it (ListExecutions);
    iteration walks a snapshot, so a request may list while executions start and end."""

    def __init__(self, executions: Iterable[Any] = ()) -> None:
        self._lock = threading.Lock()
        self._by_arn: dict[str, Any] = {}
        self._by_name: dict[str, Any] = {}
        self._finished: dict[str, deque[Any]] = {}
        for execution in executions:
            self.append(execution)

    def append(self, execution: Any) -> None:
        """A started execution (moto's `executions.append`)."""
        with self._lock:
            self._by_arn[execution.execution_arn] = execution
            self._by_name[execution.name] = execution
        execution.paycli_records = self  # found again when it finishes

    def finished(self, execution: Any) -> None:
        """`execution` reached a terminal status: keep it, dropping the oldest of its status
        past the bound."""
        status = str(getattr(execution, "status", "") or "")
        with self._lock:
            if self._by_arn.get(execution.execution_arn) is not execution:
                return  # dropped already, or never ours
            kept = self._finished.setdefault(status, deque())
            kept.append(execution)
            while len(kept) > _Kept.per_status:
                self._drop(kept.popleft())

    def _drop(self, execution: Any) -> None:
        # execution -> worker -> its communication -> execution is a cycle: cut, the dropped
        # execution is freed at once instead of by a full collection (gc_policy freezes
        # the long-lived heap, and a frozen cycle is never collected).
        execution.exec_worker = None
        del self._by_arn[execution.execution_arn]
        name = execution.name
        if self._by_name.get(name) is execution:
            del self._by_name[name]

    def get(self, arn: str) -> Any | None:
        """The execution with this ARN, if kept."""
        return self._by_arn.get(arn)

    def named(self, name: str) -> Any | None:
        """The execution with this name, if kept."""
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            return iter(list(self._by_arn.values()))

    def __len__(self) -> int:
        return len(self._by_arn)


def _lookup(executions: Any, arn: str) -> Any | None:
    """An execution by ARN from ExecutionRecords, or moto's own list (made before apply())."""
    if isinstance(executions, ExecutionRecords):
        return executions.get(arn)
    return next((x for x in executions if x.execution_arn == arn), None)


def _install_execution_records(patcher: Patcher) -> None:
    """State machines get ExecutionRecords for `executions`; the name check of StartExecution
    and DescribeExecution's lookup use its maps; a finished execution is counted against the
    bound (after execution_compaction, installed before this, has compacted it)."""
    from moto.stepfunctions import models
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists, ExecutionDoesNotExist
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    set_executions_kept(executions_kept_from_env())
    original_init = models.StateMachineInstance.__init__
    original_terminated = BaseExecutionWorkerCommunication.terminated

    @wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.executions = ExecutionRecords(self.executions)

    def handle_name_input_idempotency(self: Any, name: str, execution_input: str) -> Any:
        executions = self.executions
        execution: Any
        if isinstance(executions, ExecutionRecords):
            execution = executions.named(name)
        else:
            execution = next((x for x in executions if x.name == name), None)
        if execution is None:
            return None
        # Same name and input while it runs: the same execution (moto's and AWS's rule)
        if execution_input == execution.execution_input and execution.status == "RUNNING":
            return execution
        msg = f"Execution Already Exists: '{execution.execution_arn}'"
        raise ExecutionAlreadyExists(msg)

    def describe_execution(self: Any, execution_arn: str) -> Any:
        self._validate_execution_arn(execution_arn)
        state_machine = self._get_state_machine_for_execution(execution_arn)
        execution = _lookup(state_machine.executions, execution_arn)
        if execution is None:
            msg = f"Execution Does Not Exist: '{execution_arn}'"
            raise ExecutionDoesNotExist(msg)
        return execution

    @wraps(original_terminated)
    def terminated(self: Any) -> None:
        original_terminated(self)
        records = getattr(self.execution, "paycli_records", None)
        if records is not None:
            records.finished(self.execution)

    patcher.set(models.StateMachineInstance, "__init__", init)
    patcher.set(
        models.StateMachine, "_handle_name_input_idempotency", handle_name_input_idempotency
    )
    patcher.set(models.StepFunctionBackend, "describe_execution", describe_execution)
    patcher.set(BaseExecutionWorkerCommunication, "terminated", terminated)


EXECUTION_RECORDS = Patch(
    name="execution_records",
    purpose=Purpose.MEMORY,
    fixes="moto keeps every execution of a state machine in a list, forever (about 25 KB each, "
    "compacted), and every StartExecution walks the whole list for the name, every "
    "DescribeExecution for the ARN: O(n) in all executions ever started. Kept: RUNNING ones "
    "and the newest DEFAULT_EXECUTIONS_KEPT per terminal status; lookups by dict.",
    targets={
        "moto.stepfunctions.models:StateMachineInstance.__init__": "9a2ba374f381e365",
        "moto.stepfunctions.models:StateMachine._handle_name_input_idempotency": "f0cc95721c96db49",
        "moto.stepfunctions.models:StepFunctionBackend.describe_execution": "05855150f0a840e1",
        "moto.stepfunctions.models:StepFunctionBackend.list_executions": "a059bafc99d1dcb5",
        "moto.stepfunctions.parser.models"
        ":StepFunctionsParserBackend.start_execution": "befd7529f3ee1376",
        "moto.stepfunctions.parser.backend.execution"
        ":BaseExecutionWorkerCommunication.terminated": "16427fb69de6524c",
    },
    install=_install_execution_records,
)

PATCHES = (INSTANCE_TRACKING, THREAD_REGISTRY, EXECUTION_COMPACTION, EXECUTION_RECORDS)
