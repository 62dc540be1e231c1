"""The in-process Lambda runner: runs the template's real handlers behind moto's Lambda API.

moto's `LambdaSimpleBackend.invoke` (the seam, see patches.py) hands each invoke to
`LambdaRunner.moto_invoke`, so Step Functions' `lambda:invoke` and a plain `lambda.invoke` call
both reach the real handler code. The invocation's parts (loader, environment, context, error
shape) are in invocation.py; the per-thread environment and stream routing in sandbox_io.py;
the log records and their store in logstore.py.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paycli.local.faults import FaultInjector, invoke_with_fault
from paycli.local.invocation import (
    Handler,
    error_payload,
    function_name_from,
    lambda_context,
    lambda_environment,
    load_handler,
    payment_id_of,
)
from paycli.local.logstore import (
    LogListener,
    LogStore,
    line_record,
    report_record,
)
from paycli.local.model import FunctionSpec, InvokeResult
from paycli.local.sandbox_io import LineBuffer, ensure_streams, install_environ, install_streams
from paycli.local.workers import Spawner, WorkerPool, WorkerStats

__all__ = ["LambdaRunner"]


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
        handler = load_handler(self.spec)
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

    With `lambda_workers` N > 0 a sandbox is a worker process instead (paycli/local/workers.py):
    each has its own module state, so a function gets up to N of them, and their handler code
    and boto3 clients run outside this process's GIL.
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        log_dir: Path | None = None,
        concurrency_per_function: int = 1,
        lambda_workers: int = 0,
    ) -> None:
        if concurrency_per_function < 1 or lambda_workers < 0:
            msg = "concurrency_per_function must be >= 1 and lambda_workers >= 0"
            raise ValueError(msg)
        self.concurrency = concurrency_per_function
        self.lambda_workers = lambda_workers
        self.worker_stats = WorkerStats()
        # (address, key, pid) of the DynamoDB process, for workers to reach it directly.
        self.dynamodb_route: tuple[str, bytes, int] | None = None
        self._spawner: Spawner | None = None
        self._pools: dict[str, WorkerPool] = {}
        self.region = region
        self._environ = install_environ()
        self._stdout, self._stderr = install_streams()
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
                if self.lambda_workers:
                    self._replace_pool(spec)

    def _replace_pool(self, spec: FunctionSpec) -> None:
        """A new worker pool for a new or changed function (the old one's workers end)."""
        if self._spawner is None:
            self._spawner = Spawner()
        old = self._pools.pop(spec.function_name, None)
        if old is not None:
            old.close()
        self._pools[spec.function_name] = WorkerPool(
            spec,
            self.region,
            self.lambda_workers,
            self._spawner,
            self.worker_stats,
            route=lambda: self.dynamodb_route,
        )

    def close(self) -> None:
        """Stop every worker process (in-process sandboxes need nothing); close the log file."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            spawner, self._spawner = self._spawner, None
        for pool in pools:
            pool.close()
        if spawner is not None:
            spawner.stop()
        self.log_store.close()

    def worker_pids(self) -> list[int]:
        """The idle worker processes' ids (tests check none outlive the runner)."""
        with self._lock:
            return [pid for pool in self._pools.values() for pid in pool.pids()]

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
        pool = self._pools.get(spec.function_name) if self.lambda_workers else None
        if pool is not None:
            return invoke_with_fault(
                fault,
                spec.function_name,
                spec.timeout,
                lambda: self._run_in_worker(pool, payload, event),
            )
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
        context = lambda_context(spec, request_id)
        payment_id = payment_id_of(event)
        emit = self._emitter(spec, request_id, payment_id)
        out, err = LineBuffer(emit, "stdout"), LineBuffer(emit, "stderr")
        ensure_streams()
        started = time.monotonic()
        error: BaseException | None = None
        body = b""
        with (
            self._environ.overlay(lambda_environment(spec, self.region)),
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

    def _run_in_worker(self, pool: WorkerPool, payload: bytes, event: Any) -> InvokeResult:
        """The invocation on a worker process; this thread answers its AWS calls and logs."""
        spec = pool.spec
        request_id = str(uuid.uuid4())
        payment_id = payment_id_of(event)
        started = [time.monotonic()]

        def acquired() -> None:  # waiting for a free worker is not part of the Timeout
            started[0] = time.monotonic()

        # The function's environment in this thread too, as in process: the emulator's fault
        # seams see the calls this thread answers for the handler as a Lambda's.
        with self._environ.overlay(lambda_environment(spec, self.region)):
            body, error = pool.invoke(
                request_id, payload, self._emitter(spec, request_id, payment_id), acquired
            )
        duration = time.monotonic() - started[0]
        if error is None and duration > spec.timeout:
            error = error_payload(TimeoutError(f"Task timed out after {spec.timeout:.2f} seconds"))
        record = report_record(
            spec,
            request_id,
            payment_id,
            duration=duration,
            error_type=error["errorType"] if error else None,
            error_message=error["errorMessage"] if error else "",
        )
        self.log_store.append(record)
        if error is not None:
            return InvokeResult(payload=json.dumps(error).encode(), function_error="Unhandled")
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
            self.log_store.append(line_record(spec, request_id, payment_id, line, stream))

        return emit

    def _report(
        self,
        spec: FunctionSpec,
        request_id: str,
        payment_id: str | None,
        duration: float,
        error: BaseException | None,
    ) -> None:
        error_type = type(error).__name__ if error is not None else None
        record = report_record(
            spec,
            request_id,
            payment_id,
            duration=duration,
            error_type=error_type,
            error_message=str(error),
        )
        self.log_store.append(record)
