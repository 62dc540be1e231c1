"""Memory: what moto keeps forever although nothing reads it (docs/moto.md, "Memory")."""

# ruff: noqa: PLC0415 - each patch imports the moto module it changes next to the change
from __future__ import annotations

import threading
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


# Full history is kept for this many of the newest finished executions per process; older
# ones keep everything DescribeExecution returns (status, input, output, error, cause) but an
# empty GetExecutionHistory. The CLI's `executions show` looks at recent payments.
EXECUTION_HISTORY_LIMIT = 2000


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


def _install_execution_compaction(patcher: Patcher) -> None:
    """When an execution terminates, its Environment is replaced by its event list; past
    EXECUTION_HISTORY_LIMIT finished executions the oldest histories are dropped (their
    DescribeExecution stays complete)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated
    finished: list[Any] = []
    lock = threading.Lock()

    @wraps(original)
    def terminated(self: Any) -> None:
        original(self)
        worker = self.execution.exec_worker
        env = getattr(worker, "env", None)
        if worker is None or env is None or isinstance(env, _FinishedEnvironment):
            return
        worker.env = _FinishedEnvironment(list(env.event_manager.get_event_history()))
        with lock:
            finished.append(worker)
            while len(finished) > EXECUTION_HISTORY_LIMIT:
                finished.pop(0).env = _FinishedEnvironment([])

    patcher.set(BaseExecutionWorkerCommunication, "terminated", terminated)


EXECUTION_COMPACTION = Patch(
    name="execution_compaction",
    purpose=Purpose.MEMORY,
    fixes="With instance tracking off about 50 KB per execution remained; 22 KB of it "
    "(tracemalloc) is the finished execution's interpreter Environment, of which "
    "GetExecutionHistory needs only the event list. Memory stays flat over thousands of "
    "payments.",
    targets={
        "moto.stepfunctions.parser.backend.execution"
        ":BaseExecutionWorkerCommunication.terminated": "16427fb69de6524c",
        "moto.stepfunctions.parser.backend.execution"
        ":Execution.to_history_output": "317c96b65a5930f5",
        "moto.stepfunctions.parser.backend.execution:Execution.stop": "3ca32ac8220c53f7",
    },
    install=_install_execution_compaction,
)

PATCHES = (INSTANCE_TRACKING, THREAD_REGISTRY, EXECUTION_COMPACTION)
