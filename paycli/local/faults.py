"""Injecting a fault plan (paycli.core.faultplan) into the running local stack.

One `FaultInjector` per daemon holds the plan, a generator per kind (seeded from the plan's
seed and the kind) and the count of faults fired by kind. The seams that ask it:

- the Lambda invocation seam (`LambdaRunner.invoke`): one call, `injector.for_invocation()`,
  decides once per invocation and returns a `LambdaFault` (plain data, so the decision can be
  carried to wherever the handler runs), which `invoke_with_fault()` applies around the call;
- moto's DynamoDB and SQS request dispatch (`install_emulator_faults`): a handler's committed
  write answered with a 500, a handler's SendMessage to the payment queue refused;
- the pipe (paycli.local.pipe): duplicate deliveries, a stop between StartExecution and
  DeleteMessage, pauses.

Handler requests are told apart from the CLI's and the state machine's by AWS_EXECUTION_ENV,
which Lambda (and the runner's per-thread function environment) sets and nothing else here
does: in process, the requesting thread's environment has it; from another process, botocore's
user agent carries it (`exec-env/...`).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from botocore.exceptions import ClientError

from paycli.core.faultplan import LAMBDA_KINDS, FaultPlan, FaultSpec, parse_plan
from paycli.local.model import InvokeResult

#: botocore's user-agent part for a caller inside a Lambda execution environment.
LAMBDA_USER_AGENT: Final = "exec-env/AWS_Lambda_"
DYNAMODB_WRITES: Final = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
)


class InjectedFault(Exception):  # noqa: N818 - the error name the state machine sees
    """What a handler "raises" under `handler_error` (its errorType in Step Functions)."""


class LambdaThrottledError(ClientError):
    """Lambda's 429 for an invocation: a ClientError, so Step Functions' Lambda task names it
    `Lambda.TooManyRequestsException`, as for the SDK call it makes on AWS."""

    def __init__(self, function_name: str) -> None:
        response: Any = {
            "Error": {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."},
            "ResponseMetadata": {"HTTPStatusCode": 429, "RequestId": "injected-fault"},
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        }
        super().__init__(response, f"Invoke {function_name}")


@dataclass(frozen=True)
class LambdaFault:
    """One invocation's decision: the kind and, for handler_slow, the delay."""

    kind: str
    delay_seconds: float = 0.0


class PlanMirror(Protocol):
    """Another process's injector that follows this one's plan (the DynamoDB process,
    paycli/local/dynamodb_process.py): it gets each plan and its counts are added to ours."""

    def set_fault_plan(self, raw: dict[str, Any] | None) -> None: ...

    def fired(self) -> Mapping[str, int]: ...


class FaultInjector:
    """The daemon's current plan, its generators and the counts of what fired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = FaultPlan()
        self.fired: Counter[str] = Counter()
        self._rngs: dict[str, random.Random] = {}
        self.mirror: PlanMirror | None = None

    def set_plan(self, raw: dict[str, Any] | None) -> None:
        """Replace the plan (validated again here: any caller of the control surface may send
        one) and start counting from zero; None clears it and keeps the counts."""
        plan = FaultPlan() if raw is None else parse_plan(raw, name=str(raw.get("name", "plan")))
        with self._lock:
            if raw is not None:
                self.fired.clear()
            self.plan = plan
            self._rngs = {
                kind: random.Random(f"{plan.seed}:{kind}")  # noqa: S311 - fault draws, not secrets
                for kind in plan.faults
            }
        if self.mirror is not None:
            self.mirror.set_fault_plan(raw)

    def fire(self, kind: str, *names: str) -> FaultSpec | None:
        """Draw for one opportunity of `kind` (for a function known by `names`); the kind's
        settings if it fires (and count it), else None."""
        spec = self.plan.faults.get(kind)
        if spec is None or spec.rate <= 0 or (names and not spec.applies_to(*names)):
            return None
        with self._lock:
            rng = self._rngs.get(kind)
            if rng is None or rng.random() >= spec.rate:
                return None
            self.fired[kind] += 1
        return spec

    def for_invocation(self, *names: str) -> LambdaFault | None:
        """The Lambda fault for one invocation of the function known by `names`, if any."""
        for kind in LAMBDA_KINDS:
            spec = self.fire(kind, *names)
            if spec is not None:
                return LambdaFault(kind, spec.seconds)
        return None

    def to_json(self) -> dict[str, Any]:
        """The plan and the counts (`paycli local faults show --json`)."""
        fired = Counter(self.mirror.fired()) if self.mirror is not None else Counter()
        with self._lock:
            fired.update(self.fired)
            return {
                "plan": None if self.plan.empty else self.plan.to_json(),
                "fired": dict(sorted(fired.items())),
                "fired_total": sum(fired.values()),
            }


def invoke_with_fault(
    fault: LambdaFault | None,
    function_name: str,
    timeout_seconds: float,
    invoke: Callable[[], InvokeResult],
) -> InvokeResult:
    """Run `invoke` (one invocation) under its fault decision."""
    if fault is None:
        return invoke()
    if fault.kind == "lambda_throttle":
        raise LambdaThrottledError(function_name)
    if fault.kind == "handler_error":
        return _error(InjectedFault(f"injected fault: {function_name} raised"))
    if fault.kind == "handler_slow":
        time.sleep(fault.delay_seconds)
        return invoke()
    invoke()  # handler_timeout: the work is done, the answer is lost
    return _error(TimeoutError(f"Task timed out after {timeout_seconds:.2f} seconds"))


def _error(exc: BaseException) -> InvokeResult:
    body = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
    return InvokeResult(payload=json.dumps(body).encode(), function_error="Unhandled")


# --------------------------------------------------------------------------- emulator seams
def _from_lambda(response: Any) -> bool:
    """Whether a request comes from a handler: in process, this thread is running one (the
    runner's per-thread environment has AWS_EXECUTION_ENV); from another process, the SDK's
    user agent says so (botocore reads AWS_EXECUTION_ENV when its session is created)."""
    if os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_"):
        return True
    agent = response.headers.get("User-Agent", "") if response.headers else ""
    return LAMBDA_USER_AGENT in str(agent)


def _json_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    """An AWS JSON-protocol error; `x-amzn-query-error` is what botocore reads for SQS."""
    body = json.dumps({"__type": code, "message": message})
    short = code.rpartition("#")[2]
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-query-error": f"{short};Sender",
    }
    return status, headers, body


def _dynamodb_call_action(
    original: Callable[[Any], Any], injector: FaultInjector
) -> Callable[[Any], Any]:
    def call_action(self: Any) -> Any:
        result = original(self)
        status = result[0] if isinstance(result, tuple) else 200
        if (
            int(status) < 400
            and self._get_action() in DYNAMODB_WRITES
            and _from_lambda(self)
            and injector.fire("dynamodb_lost_response")
        ):
            return _json_error(
                500,
                "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "injected fault: the write committed but its response was lost",
            )
        return result

    return call_action


def _sqs_call_action(
    original: Callable[[Any], Any], injector: FaultInjector
) -> Callable[[Any], Any]:
    def call_action(self: Any) -> Any:
        if (
            self._get_action() == "SendMessage"
            and _from_lambda(self)
            and injector.fire("ingress_send_failure")
        ):
            return _json_error(
                400,
                "InjectedFault",
                "injected fault: SendMessage failed after the payment was recorded",
            )
        return original(self)

    return call_action


_installed: dict[str, Any] = {}


def install_emulator_faults(injector: FaultInjector) -> None:
    """Wrap moto's DynamoDB and SQS request dispatch (BaseResponse.call_action, the method
    paycli.local.patches already wraps with the backend lock) to ask `injector`. Idempotent;
    `uninstall_emulator_faults` restores the previous methods."""
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415 - daemon only
    from moto.sqs.responses import SQSResponse  # noqa: PLC0415

    if _installed:
        return
    _installed["dynamodb"] = DynamoHandler.call_action
    _installed["sqs"] = SQSResponse.call_action
    DynamoHandler.call_action = _dynamodb_call_action(DynamoHandler.call_action, injector)  # type: ignore[method-assign]
    SQSResponse.call_action = _sqs_call_action(SQSResponse.call_action, injector)  # type: ignore[method-assign,assignment]


def uninstall_emulator_faults() -> None:
    """Put back what install_emulator_faults wrapped."""
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415
    from moto.sqs.responses import SQSResponse  # noqa: PLC0415

    if not _installed:
        return
    DynamoHandler.call_action = _installed.pop("dynamodb")  # type: ignore[method-assign]
    SQSResponse.call_action = _installed.pop("sqs")  # type: ignore[method-assign]
