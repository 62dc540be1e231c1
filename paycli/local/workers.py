"""Lambda execution environments as worker processes (the daemon's side).

With `paycli local up --lambda-workers N`, each function gets up to N worker processes
(paycli/local/worker.py), as reserved concurrency gives it N execution environments on AWS.
An invocation takes an idle worker (or starts one: the cold start) and, in the invoking thread,
answers the worker's messages until its result: log lines go to the runner's log store, and
each boto3 call the handler makes is answered by moto's own in-process dispatch (the
BotocoreStubber that mock_aws uses), so the handler's code and botocore's client side run in
the worker, on another core, and only moto's request handling stays in the daemon.

A worker that dies mid-invocation is reported (the daemon log, `crashes` in health), its
invocation returns what Lambda returns for a runtime that exited (FunctionError "Unhandled",
errorType "Runtime.ExitError"; the caller's retry policy decides, as on AWS: a synchronous
invoke is not retried by Lambda itself), and the next invocation starts a fresh worker.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from paycli.local.invocation import lambda_environment
from paycli.local.model import FunctionSpec
from paycli.local.sandbox_io import HIDDEN_PREFIXES

log = logging.getLogger("paycli-local.workers")

#: Seconds a new worker may take to import Python, botocore and this package.
START_TIMEOUT = 30.0
#: Seconds past a function's Timeout before a silent worker is killed, as Lambda stops it.
KILL_GRACE = 2.0

ErrorPayload = dict[str, Any]
Emit = Callable[[str, str], None]


class WorkerExited(Exception):  # noqa: N818 - named for what happened, as Lambda reports it
    """The worker process ended during an invocation."""


class WorkerTimedOut(Exception):  # noqa: N818
    """The worker did not answer within the function's Timeout (it was killed)."""


def dispatch_aws(
    method: str, url: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Answer one of a handler's AWS requests with moto's in-process dispatch, the path a
    boto3 call inside the daemon takes under mock_aws (patches and backend locks apply)."""
    from botocore.awsrequest import AWSPreparedRequest  # noqa: PLC0415
    from botocore.compat import HTTPHeaders  # noqa: PLC0415
    from moto.core.models import botocore_stubber  # noqa: PLC0415

    prepared_headers = HTTPHeaders()
    for key, value in headers:
        prepared_headers[key] = value
    request = AWSPreparedRequest(method, url, prepared_headers, body, stream_output=False)
    response = botocore_stubber.process_request(request)
    if response is None:
        return 404, {}, b"not answered by the local stack"
    status, reply_headers, reply_body = response
    if isinstance(reply_body, str):
        reply_body = reply_body.encode()
    return int(status), {str(k): str(v) for k, v in reply_headers.items()}, bytes(reply_body)


class Spawner:
    """Starts worker processes from one long-lived thread.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so workers are forked
    by this thread, which lives as long as the runner: they get SIGKILL when the daemon dies,
    however it dies.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[list[str], dict[str, str], int, Future[Any]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._loop, name="lambda-spawner", daemon=True)
        self._thread.start()

    def spawn(self, argv: list[str], env: dict[str, str], fd: int) -> subprocess.Popen[bytes]:
        future: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((argv, env, fd, future))
        return future.result()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            argv, env, fd, future = job
            try:
                future.set_result(subprocess.Popen(argv, env=env, pass_fds=(fd,)))  # noqa: S603
            except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(exc)

    def stop(self) -> None:
        self._jobs.put(None)


class Worker:
    """One execution environment: a process running one function's handler."""

    def __init__(
        self, spec: FunctionSpec, region: str, spawner: Spawner, route: Any = None
    ) -> None:
        self.spec = spec
        ours, theirs = socket.socketpair()
        env = {k: v for k, v in os.environ.items() if not k.startswith(HIDDEN_PREFIXES)}
        env.update(lambda_environment(spec, region))
        argv = [sys.executable, "-m", "paycli.local.worker", str(theirs.fileno()), str(os.getpid())]
        try:
            self.process = spawner.spawn(argv, env, theirs.fileno())
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send(("init", spec, region, route))
        if not self.conn.poll(START_TIMEOUT):
            self.close()
            msg = f"a worker for {spec.function_name} did not start within {START_TIMEOUT} s"
            raise RuntimeError(msg)
        self.conn.recv()  # ("ready", pid)
        self.alive = True

    @property
    def pid(self) -> int:
        return self.process.pid

    def invoke(
        self, request_id: str, payload: bytes, emit: Emit
    ) -> tuple[bytes, ErrorPayload | None]:
        """Run one invocation; raises WorkerExited / WorkerTimedOut (the worker is then dead)."""
        deadline = time.monotonic() + self.spec.timeout + KILL_GRACE
        try:
            self.conn.send(("invoke", request_id, payload))
            while True:
                if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                    self.kill()
                    raise WorkerTimedOut
                message = self.conn.recv()
                kind = message[0]
                if kind == "aws":
                    self.conn.send(("aws_reply", *dispatch_aws(*message[1:])))
                elif kind == "log":
                    emit(message[2], message[1])
                else:
                    return message[1], message[2]
        except (EOFError, OSError) as exc:
            self.kill()
            raise WorkerExited from exc

    def kill(self) -> None:
        """End the process now and reap it."""
        self.alive = False
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.conn.close()

    def close(self) -> None:
        """Ask the worker to end (EOF on its socket), then make sure it did."""
        self.alive = False
        self.conn.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class WorkerStats:
    """What health shows about the worker processes."""

    started: int = 0
    crashes: int = 0
    timeouts: int = 0
    last_crash: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, what: str, last_crash: str | None = None) -> None:
        """One more worker `what` ("started", "crashes", "timeouts")."""
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
            if last_crash is not None:
                self.last_crash = last_crash

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "started": self.started,
                "crashes": self.crashes,
                "timeouts": self.timeouts,
                "last_crash": self.last_crash,
            }


class WorkerPool:
    """One function's workers: at most `limit` at once, idle ones reused warm."""

    def __init__(
        self,
        spec: FunctionSpec,
        region: str,
        limit: int,
        spawner: Spawner,
        stats: WorkerStats,
        *,
        route: Callable[[], Any] = lambda: None,
    ) -> None:
        self.spec, self.region, self.limit, self.route = spec, region, limit, route
        self.spawner, self.stats = spawner, stats
        self.idle: list[Worker] = []
        self.count = 0
        self.closed = False
        self.cond = threading.Condition()

    def acquire(self) -> Worker | None:
        """An idle live worker, or None after reserving a slot for a cold start. A worker that
        died while idle is reported and its slot reused: no invocation fails for it."""
        while True:
            with self.cond:
                while not self.idle and self.count >= self.limit:
                    self.cond.wait()
                if not self.idle:
                    self.count += 1
                    return None
                worker = self.idle.pop()
            if worker.process.poll() is None:
                return worker
            worker.kill()  # reaps it
            self._report_exit(worker, None)
            self.release(worker)

    def start_worker(self) -> Worker:
        """Start a worker in the slot acquire() reserved (the cold start)."""
        try:
            worker = Worker(self.spec, self.region, self.spawner, self.route())
        except BaseException:
            self.release(None)
            raise
        self.stats.count("started")
        return worker

    def release(self, worker: Worker | None) -> None:
        """Give a worker back (None or a dead one: its slot is free for a fresh start)."""
        with self.cond:
            if worker is None or not worker.alive or self.closed:
                self.count -= 1
                if worker is not None and worker.alive:
                    worker.close()
            else:
                self.idle.append(worker)
            self.cond.notify()

    def invoke(
        self,
        request_id: str,
        payload: bytes,
        emit: Emit,
        acquired: Callable[[], None] = lambda: None,
    ) -> tuple[bytes, ErrorPayload | None]:
        """Run one invocation on a worker; a crash or a timeout becomes Lambda's error.
        `acquired` is called once a worker is this invocation's and started: the time before,
        waiting for a free one or starting one (Lambda's Init phase, which has its own limit:
        START_TIMEOUT), is not part of the function's Timeout."""
        worker = self.acquire()
        try:
            if worker is None:
                worker = self.start_worker()
            acquired()
            return worker.invoke(request_id, payload, emit)
        except WorkerExited:
            assert worker is not None
            return self._crashed(worker, request_id)
        except WorkerTimedOut:
            self.stats.count("timeouts")
            message = f"Task timed out after {self.spec.timeout:.2f} seconds"
            return b"", {"errorMessage": message, "errorType": "TimeoutError", "stackTrace": []}
        finally:
            self.release(worker)

    def _crashed(self, worker: Worker, request_id: str) -> tuple[bytes, ErrorPayload]:
        how = self._report_exit(worker, request_id)
        message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
        return b"", {"errorMessage": message, "errorType": "Runtime.ExitError", "stackTrace": []}

    def _report_exit(self, worker: Worker, request_id: str | None) -> str:
        """The daemon log's line and health's count for a worker that died; how it ended."""
        code = worker.process.returncode
        how = f"signal: {-code}" if code is not None and code < 0 else f"exit status {code}"
        during = f"during request {request_id}" if request_id else "while idle"
        log.error(
            "Lambda worker of %s (pid %d) exited with %s %s; the next invocation starts a new one",
            self.spec.function_name,
            worker.pid,
            how,
            during,
        )
        self.stats.count("crashes", f"{self.spec.function_name} pid {worker.pid} ({how})")
        return how

    def close(self) -> None:
        """Stop the idle workers now; busy ones stop when they are released."""
        with self.cond:
            self.closed = True
            idle, self.idle = self.idle, []
            self.count -= len(idle)
        for worker in idle:
            worker.close()

    def pids(self) -> list[int]:
        with self.cond:
            return [w.pid for w in self.idle]
