"""The in-process Lambda runner: runs the template's real handlers behind moto's Lambda API.

moto's `LambdaSimpleBackend.invoke` (the seam, see patches.py) hands each invoke to
`LambdaRunner.moto_invoke`, so Step Functions' `lambda:invoke` and a plain `lambda.invoke` call
both reach the real handler code. What Lambda gives a handler, the runner gives too: the
function's environment (Globals + Environment.Variables), a context with a request id and the
remaining time, and on an exception the error shape Lambda returns, so an ASL Retry/Catch sees
the exception class name as the error exactly as on AWS.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from paystack.domain.store import PAYMENT_ID_RE

from paycli.local.faults import FaultInjector, invoke_with_fault
from paycli.local.model import FunctionSpec, InvokeResult

ACCOUNT_ID = "123456789012"
LOG_FILE_NAME = "handler-logs.jsonl"
# About 8 records per payment: the last ~1,000 payments stay in memory; the JSONL file has all.
DEFAULT_RING_SIZE = 8_000
# Keys Powertools adds to every line; the record has its own function and request id.
_REPEATED_LOG_KEYS = frozenset(
    {
        "level",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "location",
        "payment_id",
        "xray_trace_id",
        "sampling_rate",
    }
)
# Variables of the host process a Lambda function never sees: an endpoint override would send
# in-process handlers over HTTP, and a named profile does not exist inside Lambda.
_HIDDEN_PREFIXES = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")

Handler = Callable[[Any, Any], Any]
LogListener = Callable[[dict[str, Any]], None]


# --------------------------------------------------------------------------- environment
class _Overlay:
    """One thread's view on top of the process environment: added values and hidden keys."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = dict(values)
        self.deleted: set[str] = set()

    def hides(self, key: str) -> bool:
        return key in self.deleted or (key not in self.values and key.startswith(_HIDDEN_PREFIXES))


class ThreadLocalEnviron(MutableMapping[str, str]):
    """`os.environ` with a per-thread overlay.

    MOTO_NOTES: swapping each function's variables into os.environ around a call made 1-3 of
    200 concurrent executions fail with KeyErrors. Installed as `os.environ`, this lets each
    handler thread see its own function's variables while other threads see the process's.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> _Overlay | None:
        overlay: _Overlay | None = getattr(self._local, "overlay", None)
        return overlay

    @contextlib.contextmanager
    def overlay(self, values: dict[str, str]) -> Iterator[None]:
        """Within the block, this thread sees `values` on top of the process environment."""
        previous = self._overlay()
        self._local.overlay = _Overlay(values)
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None:
            if key in overlay.values:
                return overlay.values[key]
            if overlay.hides(key):
                raise KeyError(key)
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            self.base[key] = value
            return
        overlay.values[key] = value
        overlay.deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            del self.base[key]
            return
        if key not in self:
            raise KeyError(key)
        overlay.values.pop(key, None)
        overlay.deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        if overlay is None:
            yield from self.base
            return
        yield from overlay.values
        for key in list(self.base):
            if key not in overlay.values and not overlay.hides(key):
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        """Like os.environ.copy(): a plain dict of what this thread sees."""
        return dict(self)


_environ_lock = threading.Lock()


def install_environ() -> ThreadLocalEnviron:
    """Replace os.environ with a ThreadLocalEnviron once per process and return it."""
    with _environ_lock:
        current = os.environ
        if isinstance(current, ThreadLocalEnviron):
            return current
        environ = ThreadLocalEnviron(current)
        # Replacing (not clearing) os.environ is the point: os.getenv and botocore read it.
        os.environ = environ  # type: ignore[assignment]  # noqa: B003
        return environ


# --------------------------------------------------------------------------- log capture
class _ThreadRoutedStream(io.TextIOBase):
    """sys.stdout/sys.stderr stand-in: a thread running a handler writes into that invocation's
    capture; every other thread writes through to the real stream. Powertools' Logger keeps the
    sys.stdout it saw at import, so this is installed before any handler is imported."""

    def __init__(self, real: TextIO, name: str) -> None:
        self.real = real
        self.name = name
        self._local = threading.local()

    def _passthrough(self) -> TextIO:
        """Where unrouted writes go: whatever sys.<name> is now (a test runner may have
        swapped it since), or the stream this wrapped."""
        current = getattr(sys, self.name, None)
        if current is None or current is self:
            return self.real
        return current  # type: ignore[no-any-return]

    def capture(self) -> Callable[[str], None] | None:
        sink: Callable[[str], None] | None = getattr(self._local, "sink", None)
        return sink

    @contextlib.contextmanager
    def routed(self, sink: Callable[[str], None]) -> Iterator[None]:
        previous = self.capture()
        self._local.sink = sink
        try:
            yield
        finally:
            self._local.sink = previous

    def write(self, text: str) -> int:
        sink = self.capture()
        if sink is None:
            return self._passthrough().write(text)
        sink(text)
        return len(text)

    def flush(self) -> None:
        if self.capture() is None:
            self._passthrough().flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.real, "encoding", "utf-8"))


_ROUTED: dict[str, _ThreadRoutedStream] = {}


def _install_streams() -> tuple[_ThreadRoutedStream, _ThreadRoutedStream]:
    """Wrap sys.stdout/sys.stderr once per process; later calls return the same wrappers."""
    with _environ_lock:
        for name in ("stdout", "stderr"):
            if name not in _ROUTED:
                current = getattr(sys, name)
                _ROUTED[name] = (
                    current
                    if isinstance(current, _ThreadRoutedStream)
                    else _ThreadRoutedStream(current, name)
                )
                setattr(sys, name, _ROUTED[name])
        return _ROUTED["stdout"], _ROUTED["stderr"]


def _ensure_streams() -> None:
    """Re-install the wrappers if something (a test runner's capture) swapped sys.stdout or
    sys.stderr since: the swapped-in stream becomes where unrouted writes go."""
    for name, routed in _ROUTED.items():
        current = getattr(sys, name)
        if current is not routed:
            with _environ_lock:
                current = getattr(sys, name)
                if current is not routed and current is not None:
                    routed.real = current
                    setattr(sys, name, routed)


class _LineBuffer:
    """Collects writes of one invocation and emits whole lines."""

    def __init__(self, emit: Callable[[str, str], None], stream: str) -> None:
        self._emit = emit
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> None:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            if line.strip():
                self._emit(line, self._stream)

    def close(self) -> None:
        if self._pending.strip():
            self._emit(self._pending, self._stream)
        self._pending = ""


class LogStore:
    """Handler log lines: a bounded in-memory ring plus an append-only JSONL file."""

    def __init__(self, log_dir: Path | None, ring_size: int = DEFAULT_RING_SIZE) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=ring_size)
        self._lock = threading.Lock()
        self._listeners: list[LogListener] = []
        self.path: Path | None = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self.path = log_dir / LOG_FILE_NAME
            # 0600 like the other state files: handler logs are the payments' history.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            self.path.chmod(0o600)

    def add_listener(self, listener: LogListener) -> None:
        self._listeners.append(listener)

    def append(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._ring.append(record)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record, default=str) + "\n")
        for listener in list(self._listeners):
            listener(record)

    def query(
        self, function: str | None = None, payment_id: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._ring)
        return [r for r in records if _matches(r, function, payment_id)]


def _matches(record: dict[str, Any], function: str | None, payment_id: str | None) -> bool:
    if function is not None and function not in (record.get("function"), record.get("logical_id")):
        return False
    return payment_id is None or record.get("payment_id") == payment_id


def read_log_file(
    path: Path, function: str | None = None, payment_id: str | None = None
) -> list[dict[str, Any]]:
    """Read the JSONL a runner in another process wrote (for `paycli logs`)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            record = json.loads(line)
            if isinstance(record, dict) and _matches(record, function, payment_id):
                records.append(record)
    return records


# --------------------------------------------------------------------------- context
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


def _payment_id_of(event: Any) -> str | None:
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


# --------------------------------------------------------------------------- runner
@dataclass
class _Loaded:
    """A registered function and its sandboxes (each an imported handler module).

    At most `limit` invocations of one function run at once; further ones wait for a sandbox.
    """

    spec: FunctionSpec
    limit: int = 1
    idle: list[Handler] = field(default_factory=list)
    sandboxes: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)
    _fresh: threading.local = field(default_factory=threading.local)

    def acquire(self) -> Handler | None:
        """An idle sandbox, or None after reserving a slot for a cold start."""
        with self.cond:
            while not self.idle and self.sandboxes >= self.limit:
                self.cond.wait()
            if self.idle:
                return self.idle.pop()
            self.sandboxes += 1
            return None

    def cold_start(self) -> Handler:
        """Import a new sandbox in the reserved slot (runs under the function's environment)."""
        handler = _load_handler(self.spec)
        self._fresh.handler = handler
        return handler

    def last_handler(self, handler: Handler | None) -> Handler | None:
        """The sandbox this thread used: the acquired one, or the one its cold start built."""
        if handler is not None:
            return handler
        fresh: Handler | None = getattr(self._fresh, "handler", None)
        self._fresh.handler = None
        return fresh

    def release(self, handler: Handler | None) -> None:
        """Return a sandbox (None: its cold start failed, give the slot back)."""
        with self.cond:
            if handler is None:
                self.sandboxes -= 1
            else:
                self.idle.append(handler)
            self.cond.notify()


class LambdaRunner:
    """Runs registered functions' real handlers in this process.

    A sandbox is one import of the function's handler module; like Lambda, a sandbox serves one
    invocation at a time and is reused warm. Unlike Lambda, sandboxes share the process: the
    modules a handler imports (and their class-level state) are common to all of them. Measured
    here: Powertools' API resolver keeps the current event on the class (BaseRouter.current_event),
    so two concurrent ingress invocations answered each other's requests (3 of 200 payments
    returned another request's payment_id). Hence `concurrency_per_function` defaults to 1:
    invocations of one function queue for its sandbox, different functions run in parallel.
    Everything is one Python process (one GIL), so more sandboxes would not add throughput.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        log_dir: Path | None = None,
        concurrency_per_function: int = 1,
    ) -> None:
        if concurrency_per_function < 1:
            msg = "concurrency_per_function must be >= 1"
            raise ValueError(msg)
        self.concurrency = concurrency_per_function
        self.region = region
        self._environ = install_environ()
        self._stdout, self._stderr = _install_streams()
        self._functions: dict[str, _Loaded] = {}
        self._lock = threading.Lock()
        self.log_store = LogStore(log_dir)
        self.faults = FaultInjector()  # the daemon shares its own; empty: nothing fires

    # ---------------------------------------------------------------- registry
    def register(self, spec: FunctionSpec) -> None:
        """Add or replace a function; a changed spec is re-imported on its next invoke."""
        with self._lock:
            current = self._functions.get(spec.function_name)
            if current is None or current.spec != spec:
                self._functions[spec.function_name] = _Loaded(spec, limit=self.concurrency)

    def functions(self) -> dict[str, FunctionSpec]:
        with self._lock:
            return {name: loaded.spec for name, loaded in self._functions.items()}

    def _get(self, name_or_arn: str) -> _Loaded | None:
        with self._lock:
            return self._functions.get(function_name_from(name_or_arn))

    # ---------------------------------------------------------------- invoke
    def invoke(self, function_name: str, payload: bytes) -> InvokeResult:
        """Run the handler with `payload` (JSON bytes) and return what Lambda would."""
        loaded = self._get(function_name)
        if loaded is None:
            msg = f"Function not found: {function_name}"
            raise KeyError(msg)
        try:
            event = json.loads(payload) if payload.strip() else {}
        except json.JSONDecodeError as exc:
            return self._error_result(exc)
        spec = loaded.spec
        # The fault plan's one decision for this invocation (paycli.local.faults), as data.
        fault = self.faults.for_invocation(spec.function_name, spec.logical_id)
        handler = loaded.acquire()  # waiting for a sandbox is not part of the Timeout
        try:
            return invoke_with_fault(
                fault, spec.function_name, spec.timeout, lambda: self._run(loaded, handler, event)
            )
        finally:
            loaded.release(loaded.last_handler(handler))

    def _run(self, loaded: _Loaded, handler: Handler | None, event: Any) -> InvokeResult:
        spec = loaded.spec
        request_id = str(uuid.uuid4())
        context = self._context(spec, request_id)
        payment_id = _payment_id_of(event)
        emit = self._emitter(spec, request_id, payment_id)
        out, err = _LineBuffer(emit, "stdout"), _LineBuffer(emit, "stderr")
        _ensure_streams()
        started = time.monotonic()
        error: BaseException | None = None
        body = b""
        with (
            self._environ.overlay(self._env_for(spec)),
            self._stdout.routed(out.write),
            self._stderr.routed(err.write),
        ):
            try:
                if handler is None:
                    handler = loaded.cold_start()
                body = json.dumps(handler(event, context)).encode()
            except Exception as exc:  # noqa: BLE001 - every handler error becomes Lambda's shape
                error = exc
        out.close()
        err.close()
        duration = time.monotonic() - started
        if error is None and duration > spec.timeout:
            error = TimeoutError(f"Task timed out after {spec.timeout:.2f} seconds")
        self._report(spec, request_id, payment_id, duration, error)
        if error is not None:
            return self._error_result(error)
        return InvokeResult(payload=body, function_error=None)

    @staticmethod
    def _error_result(exc: BaseException) -> InvokeResult:
        payload = json.dumps(error_payload(exc)).encode()
        return InvokeResult(payload=payload, function_error="Unhandled")

    def moto_invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: bytes,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes | None:
        """The LambdaSimpleBackend.invoke seam: None for an unknown function (moto's 404)."""
        if self._get(function_name) is None:
            return None
        invocation_type = headers.get("X-Amz-Invocation-Type") if headers else None
        if invocation_type == "Event":
            thread = threading.Thread(target=self.invoke, args=(function_name, body), daemon=True)
            thread.start()
            return b""
        if invocation_type == "DryRun":
            return b""
        result = self.invoke(function_name, body)
        if result.function_error is not None:
            response_headers["x-amz-function-error"] = result.function_error
        return result.payload

    # ---------------------------------------------------------------- handler loading
    def _env_for(self, spec: FunctionSpec) -> dict[str, str]:
        """Lambda's reserved variables, then the template's (they cannot override reserved)."""
        reserved = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
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

    def _context(self, spec: FunctionSpec, request_id: str) -> LambdaContext:
        return LambdaContext(
            function_name=spec.function_name,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_size,
            aws_request_id=request_id,
            timeout_seconds=spec.timeout,
            log_group_name=f"/aws/lambda/{spec.function_name}",
            log_stream_name=f"local/{spec.function_name}",
        )

    # ---------------------------------------------------------------- logs
    def logs(
        self, function: str | None = None, payment_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Captured handler log records, oldest first, by function name/logical id/payment."""
        return self.log_store.query(function, payment_id)

    def add_log_listener(self, listener: LogListener) -> None:
        """Call `listener(record)` for every captured line (the daemon's live log)."""
        self.log_store.add_listener(listener)

    def _emitter(
        self, spec: FunctionSpec, request_id: str, payment_id: str | None
    ) -> Callable[[str, str], None]:
        def emit(line: str, stream: str) -> None:
            record = _base_record(spec, request_id, payment_id)
            record["stream"] = stream
            record["message"] = line
            with contextlib.suppress(json.JSONDecodeError):
                parsed = json.loads(line)
                if isinstance(parsed, dict):
                    record["level"] = parsed.get("level")
                    record["message"] = parsed.get("message", line)
                    # The event's id first: concurrent sandboxes share the handlers' Logger, so
                    # a key appended by one invocation can show up in another's line.
                    record["payment_id"] = payment_id or parsed.get("payment_id")
                    # Extra structured keys (outcome, reason...) without the Lambda context
                    # fields every line repeats: the record stays small in the ring.
                    record["fields"] = {
                        k: v for k, v in parsed.items() if k not in _REPEATED_LOG_KEYS
                    }
            self.log_store.append(record)

        return emit

    def _report(
        self,
        spec: FunctionSpec,
        request_id: str,
        payment_id: str | None,
        duration: float,
        error: BaseException | None,
    ) -> None:
        record = _base_record(spec, request_id, payment_id)
        record["stream"] = "report"
        record["level"] = "ERROR" if error else "INFO"
        record["duration_ms"] = round(duration * 1000, 2)
        record["message"] = f"REPORT {spec.function_name} {record['duration_ms']} ms" + (
            f" {type(error).__name__}: {error}" if error else ""
        )
        if error is not None:
            record["error_type"] = type(error).__name__
        self.log_store.append(record)


def _base_record(spec: FunctionSpec, request_id: str, payment_id: str | None) -> dict[str, Any]:
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z",
        "function": spec.function_name,
        "logical_id": spec.logical_id,
        "request_id": request_id,
        "payment_id": payment_id,
        "level": None,
    }


_import_lock = threading.Lock()


def _load_handler(spec: FunctionSpec) -> Handler:
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
        _reroute_log_handlers()
    handler = getattr(module, attr, None)
    if not callable(handler):
        msg = f"{spec.logical_id}: {module_path} has no callable {attr!r}"
        raise AttributeError(msg)
    return handler  # type: ignore[no-any-return]


def _reroute_log_handlers() -> None:
    """Point logging handlers that write to a console stream at the routed wrappers, so a
    logger built before the runner existed (a module imported earlier, or while a test runner
    had swapped sys.stdout) is captured too."""
    targets: dict[int, _ThreadRoutedStream] = {}
    for name, routed in _ROUTED.items():
        for stream in (routed.real, getattr(sys, name), getattr(sys, f"__{name}__")):
            if stream is not None and stream is not routed:
                targets[id(stream)] = routed
    loggers = [logging.getLogger()]
    loggers += [
        obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and id(handler.stream) in targets:
                handler.setStream(targets[id(handler.stream)])


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
