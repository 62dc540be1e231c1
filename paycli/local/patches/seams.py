"""Seams: where the local stack plugs into moto (the Lambda runner, the ASL time scale).

Both are required: without the Lambda seam moto's Lambda echoes the payload back instead of
running a handler, and without the time scale every ASL Retry waits real seconds.
"""

# ruff: noqa: PLC0415 - each patch imports the moto module it changes next to the change
from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from paycli.local.patches._base import Patch, Patcher, Purpose

# A function that runs a Lambda handler: (function name or ARN, qualifier, payload, headers,
# response headers) -> response payload; None means "unknown function" (moto answers 404).
LambdaInvoker = Callable[[str, str | None, bytes, Any, dict[str, str]], bytes | None]


class _Settings:
    """The seams' process-wide settings (moto's backends are process-wide too)."""

    time_scale = 1.0
    lambda_invoker: LambdaInvoker | None = None


SETTINGS = _Settings()
_real_sleep = time.sleep


def set_time_scale(scale: float) -> None:
    """Scale ASL Retry intervals and Wait states (docs/moto.md: Retry waits are real sleeps)."""
    if scale <= 0:
        msg = f"time scale must be > 0, got {scale}"
        raise ValueError(msg)
    SETTINGS.time_scale = scale


def set_lambda_invoker(invoker: LambdaInvoker | None) -> None:
    """Route moto's Lambda invoke (LambdaSimpleBackend.invoke, the seam) to `invoker`."""
    SETTINGS.lambda_invoker = invoker


def _install_lambda_invoke(patcher: Patcher) -> None:
    """With no invoker installed the stock behaviour (echo the body) remains."""
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
        invoker = SETTINGS.lambda_invoker
        if invoker is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        payload = body.encode() if isinstance(body, str) else bytes(body or b"")
        result = invoker(function_name, qualifier, payload, headers, response_headers)
        if result is None:
            arn = f"arn:aws:lambda:{self.region_name}:{self.account_id}:function:{function_name}"
            raise UnknownFunctionException(arn)
        return result

    patcher.set(LambdaSimpleBackend, "invoke", invoke)


LAMBDA_INVOKE = Patch(
    name="lambda_invoke",
    purpose=Purpose.SEAM,
    fixes="moto's Lambda without Docker (LambdaSimpleBackend) echoes the payload instead of "
    "running code; its invoke(self, function_name, qualifier, body, headers, "
    "response_headers) hands each call to the in-process runner.",
    targets={"moto.awslambda_simple.models:LambdaSimpleBackend.invoke": "3b361c134fe69a66"},
    install=_install_lambda_invoke,
    required=True,
)


class _ScaledTime:
    """Stands in for the `time` module inside the retrier: only `sleep` is scaled."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        _real_sleep(seconds * SETTINGS.time_scale)


def _install_asl_sleeps(patcher: Patcher) -> None:
    """The retrier calls `time.sleep(interval)` (retry/retrier_decl.py) and Wait states wait on
    an event (wait_function.py); both are scaled by set_time_scale()."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    patcher.set(retrier_decl, "time", _ScaledTime())

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * SETTINGS.time_scale)

    patcher.set(wait_function.WaitFunction, "_wait_interval", _wait_interval)


ASL_SLEEPS = Patch(
    name="asl_sleeps",
    purpose=Purpose.SEAM,
    fixes="ASL Retry intervals are real time.sleep calls and Wait states real waits: the "
    "state machine's retries (IntervalSeconds 1, BackoffRate 2, up to 5 attempts) cost up "
    "to 31 s per retried state in tests. Both are scaled by set_time_scale().",
    targets={
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
        ":RetrierDecl": "aca78fc6c531cccf",
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
        ":WaitFunction._wait_interval": "879e87e0071ade09",
    },
    install=_install_asl_sleeps,
    required=True,
)

PATCHES = (LAMBDA_INVOKE, ASL_SLEEPS)
