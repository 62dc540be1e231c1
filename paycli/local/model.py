"""Plain records the local stack hands around: what was provisioned and what an invoke returned.

They are frozen dataclasses so the daemon, the local API and the pipe poller can share them
between threads without copying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FunctionSpec:
    """One `AWS::Serverless::Function` after Globals and intrinsics: enough to run its handler."""

    logical_id: str
    function_name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 3
    memory_size: int = 128
    runtime: str = "python3.12"


@dataclass(frozen=True)
class Route:
    """An API Gateway route taken from a function's `Api` event."""

    method: str
    path: str
    stage: str
    function_name: str
    authorization: str  # "AWS_IAM" | "NONE"
    #: the JSON schema (draft 4) the body must fit (RequestModel + ValidateBody), else None
    request_model: dict[str, Any] | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class PipeSpec:
    """An `AWS::Pipes::Pipe` from SQS to a state machine, resolved to concrete ARNs and URLs."""

    name: str
    source_queue_url: str
    source_queue_arn: str
    target_arn: str
    batch_size: int
    invocation_type: str


@dataclass(frozen=True)
class ScheduleSpec:
    """A function's `Schedule` event: EventBridge invokes it every `interval_seconds`."""

    name: str
    function_name: str
    expression: str  # as written in the template, e.g. "rate(5 minutes)"
    interval_seconds: int
    enabled: bool = True
    input: str | None = None  # the event's constant Input (JSON), else the Scheduled Event


@dataclass(frozen=True)
class Deployment:
    """What `LocalStack.deploy` provisioned: the template's Outputs and the wiring it implies."""

    outputs: dict[str, str]
    routes: list[Route]
    pipes: list[PipeSpec]
    functions: dict[str, FunctionSpec]
    # Template features accepted but not enforced locally (IAM, tracing, throttling, ...).
    emulated_without_enforcement: tuple[str, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()


@dataclass(frozen=True)
class InvokeResult:
    """A Lambda invoke's reply: the payload bytes and, on a handler error, "Unhandled"."""

    payload: bytes
    function_error: str | None = None
