"""One Lambda invocation's parts, shared by the in-process runner and the worker processes:
the handler loader, the function's environment, the context object, and the error shape.

What Lambda gives a handler, these give too: the function's environment (Globals +
Environment.Variables under Lambda's reserved variables), a context with a request id and the
remaining time, and on an exception the error shape Lambda returns, so an ASL Retry/Catch sees
the exception class name as the error exactly as on AWS.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from paystack.domain.store import PAYMENT_ID_RE

from paycli.local.model import FunctionSpec
from paycli.local.sandbox_io import reroute_log_handlers

Handler = Callable[[Any, Any], Any]


def lambda_environment(spec: FunctionSpec, region: str) -> dict[str, str]:
    """Lambda's reserved variables, then the template's (they cannot override reserved)."""
    reserved = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        # No X-Ray daemon locally: Powertools Tracer becomes a no-op.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return {**spec.environment, **reserved}


def lambda_context(spec: FunctionSpec, request_id: str) -> LambdaContext:
    return LambdaContext(
        function_name=spec.function_name,
        invoked_function_arn=spec.arn,
        memory_limit_in_mb=spec.memory_size,
        aws_request_id=request_id,
        timeout_seconds=spec.timeout,
        log_group_name=f"/aws/lambda/{spec.function_name}",
        log_stream_name=f"local/{spec.function_name}",
    )


@dataclass
class LambdaContext:
    """What Lambda passes as `context`: the fields handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    timeout_seconds: int
    log_group_name: str
    log_stream_name: str
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's Timeout, never below zero."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Lambda's shape for an unhandled exception; errorType becomes the ASL error name."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def payment_id_of(event: Any) -> str | None:
    """The payment an invocation is about, from the event shapes this stack uses; only a
    well-formed payment id (a URL's "id" may be a card number: it never reaches a log key)."""
    if not isinstance(event, dict):
        return None
    candidate = event.get("payment_id")
    params = event.get("pathParameters")
    if not isinstance(candidate, str) and isinstance(params, dict):
        candidate = params.get("payment_id")
    if isinstance(candidate, str) and PAYMENT_ID_RE.fullmatch(candidate):
        return candidate
    return None


def function_name_from(name_or_arn: str) -> str:
    """`Name`, `Name:qualifier` or a Lambda ARN -> the function name."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn.split(":", 1)[0]


_import_lock = threading.Lock()


def load_handler(spec: FunctionSpec) -> Handler:
    """Import `module.attr` from CodeUri under a module name unique to the function, so each
    function has its own module-scope state (clients, env reads) like its own Lambda sandbox.
    The module body runs under the function's environment."""
    module_path, _, attr = spec.handler.rpartition(".")
    if not module_path:
        msg = f"{spec.logical_id}: Handler {spec.handler!r} is not 'module.function'"
        raise ValueError(msg)
    relative = Path(*module_path.split("."))
    file_path = spec.code_dir / relative.with_suffix(".py")
    if not file_path.is_file():
        file_path = spec.code_dir / relative / "__init__.py"
    if not file_path.is_file():
        msg = f"{spec.logical_id}: handler module {module_path!r} not found under {spec.code_dir}"
        raise ModuleNotFoundError(msg)
    with _import_lock:
        code_dir = str(spec.code_dir)
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        package = module_path.rpartition(".")[0]
        if package:
            importlib.import_module(package)
        module = _exec_module(spec, module_path, file_path, package)
        reroute_log_handlers()
    handler = getattr(module, attr, None)
    if not callable(handler):
        msg = f"{spec.logical_id}: {module_path} has no callable {attr!r}"
        raise AttributeError(msg)
    return handler  # type: ignore[no-any-return]


def _exec_module(spec: FunctionSpec, module_path: str, file_path: Path, package: str) -> ModuleType:
    suffix = module_path.replace(".", "_")
    unique = f"_paycli_fn_{spec.function_name}_{uuid.uuid4().hex[:8]}__{suffix}"
    module_spec = importlib.util.spec_from_file_location(unique, file_path)
    if module_spec is None or module_spec.loader is None:
        msg = f"{spec.logical_id}: cannot load {file_path}"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(module_spec)
    module.__package__ = package
    sys.modules[unique] = module
    # Runs inside invoke(): the function's environment overlay and log routing are active.
    module_spec.loader.exec_module(module)
    return module
