"""Emulated DynamoDB in a process of its own: `paycli local up --dynamodb-process`.

The daemon's moto answers every service in one interpreter, so one core at most. With this
option moto's DynamoDB (request parsing, expressions, transactions, the tables themselves and
the response) runs in a child process of the daemon, on the other core, with the same patches
(`paycli.local.patches.apply`, fingerprints verified as in the daemon) and the same fault
hooks (`install_emulator_faults`, the daemon's plan pushed to it); SQS, Step Functions'
interpreter, the pipe and the local API stay in the daemon.

Every DynamoDB request reaches the one process:

- in the daemon, moto's in-process dispatch (`botocore_stubber.process_request`, the path of
  handler clients, the interpreter's `dynamodb:updateItem`, the provisioner and Lambda workers'
  calls relayed by the daemon) hands DynamoDB URLs to `DynamoDbProcess.forward`;
- moto's HTTP server (the endpoint the CLI uses) hands requests whose X-Amz-Target is
  DynamoDB's to the same place (`DynamoDbRouter`, a WSGI wrapper);
- Lambda worker processes connect to the process directly (its address and key come with
  their init message), without a hop through the daemon.

Transport: an AF_UNIX socket in Linux's abstract namespace (nothing on disk), one
`multiprocessing.connection` per client thread, authenticated with a random key that only the
daemon and its workers get. A request is (method, url, headers, body), the reply (status,
headers, body): what moto's dispatch takes and returns, so moto cannot tell the difference.

Lifecycle: the process gets SIGKILL when the daemon's spawner thread ends
(PR_SET_PDEATHSIG) and exits on EOF of its control socket (the daemon's stop). If it dies,
health says so (`dynamodb_process.alive` false, how it ended) and every DynamoDB request is
answered at once with a 400 `LocalDynamoDbProcessExited` naming the pid and the remedy (not
retried by botocore, so nothing hangs). It is not restarted: the tables lived in it, so a new
one would be empty and every account and payment gone; `paycli local down` then `up` starts
afresh. A store that survives a restart would go in `serve()` (load before `ready`, persist
after each write): this module is the one place that owns DynamoDB's state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import secrets
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from typing import Any, Final

log = logging.getLogger("paycli-local.dynamodb")

#: Seconds the process may take to import moto and install the patches.
START_TIMEOUT: Final = 60.0
#: The error code of every DynamoDB request once the process is gone (botocore retries none).
EXITED_CODE: Final = "LocalDynamoDbProcessExited"
_JSON_10: Final = "application/x-amz-json-1.0"

Reply = tuple[int, dict[str, str], bytes]
Request = tuple[str, str, list[tuple[str, str]], bytes]
#: (address, key, pid): how a Lambda worker reaches the process.
Route = tuple[str, bytes, int]


def is_dynamodb_url(url: str) -> bool:
    """DynamoDB's API endpoint (`dynamodb.REGION.amazonaws.com`), not DynamoDB Streams'."""
    host = url.partition("://")[2].split("/", 1)[0]
    return host.startswith("dynamodb.") and host.endswith(".amazonaws.com")


def exited_reply(pid: int, how: str) -> Reply:
    """What every DynamoDB request gets once the process is gone: one clear 400."""
    message = (
        f"the local stack's DynamoDB process (pid {pid}) exited ({how}); its tables are gone. "
        "Restart the local stack: paycli local down; paycli local up"
    )
    code = f"com.amazonaws.dynamodb.v20120810#{EXITED_CODE}"
    body = json.dumps({"__type": code, "message": message})
    return 400, {"Content-Type": _JSON_10}, body.encode()


def request_parts(request: Any) -> Request:
    """(method, url, headers, body) of a botocore AWSPreparedRequest, all picklable."""
    body = request.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes | bytearray):
        body = body.read()
    headers = [
        (k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()
    ]
    return request.method, request.url, headers, bytes(body)


class ConnectionPool:
    """Connections to the process, one per concurrent caller, reused (threads here are many
    and short-lived: one connection each would cost a handshake per payment)."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self.address, self.authkey = address, authkey
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()

    def call(self, request: Request) -> Reply:
        """Send one request and wait for its reply; OSError/EOFError if the process is gone."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = Client(self.address, family="AF_UNIX", authkey=self.authkey)
        try:
            conn.send(request)
            reply: Reply = conn.recv()
        except BaseException:
            conn.close()
            raise
        self._idle.put(conn)
        return reply

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


@dataclass
class _Exit:
    pid: int
    how: str


class DynamoDbProcess:
    """The daemon's side: starts the process, forwards requests, reports its health."""

    def __init__(self, *, speed: bool = True, minimal: bool = False) -> None:
        self.speed, self.minimal = speed, minimal
        self.address = f"\0paycli-dynamodb-{os.getpid()}-{secrets.token_hex(8)}"
        self.authkey = secrets.token_bytes(32)
        self.requests = 0
        self.patches: list[str] = []
        self.exit: _Exit | None = None
        self._process: Any = None
        self._control: Connection | None = None
        self._control_lock = threading.Lock()
        self._pool = ConnectionPool(self.address, self.authkey)
        self._spawner: Any = None
        self._installed: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the process (patched moto, listening) and wait until it answers."""
        from paycli.local.workers import Spawner  # noqa: PLC0415 - shares the worker's spawner

        self._spawner = Spawner()
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "paycli.local.dynamodb_process"]
        argv += [str(theirs.fileno()), str(os.getpid())]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_EXECUTION_ENV")}
        try:
            self._process = self._spawner.spawn(argv, env, theirs.fileno())
        finally:
            theirs.close()
        self._control = Connection(ours.detach())
        self._control.send(("init", self.address, self.authkey, self.speed, self.minimal))
        if not self._control.poll(START_TIMEOUT):
            self.stop()
            msg = f"the DynamoDB process did not start within {START_TIMEOUT:.0f} s"
            raise RuntimeError(msg)
        kind, *rest = self._control.recv()
        if kind != "ready":
            self.stop()
            msg = f"the DynamoDB process refused to start: {rest[0]}"
            raise RuntimeError(msg)
        self.patches = list(rest[1])
        log.info("DynamoDB process %d ready (%d patches)", self.pid, len(self.patches))

    @property
    def pid(self) -> int:
        return int(self._process.pid) if self._process is not None else 0

    def stop(self) -> None:
        """Undo the routing, then end the process: EOF on its control socket, SIGKILL if it
        has not gone within 5 s."""
        for undo in reversed(self._installed):
            undo()
        self._installed.clear()
        self._pool.close()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: it did not listen
                self._process.kill()
                self._process.wait()
        if self._spawner is not None:
            self._spawner.stop()
            self._spawner = None

    def alive(self) -> bool:
        """False once the process has ended (and records how)."""
        if self.exit is not None:
            return False
        if self._process is None or self._process.poll() is None:
            return self._process is not None
        code = self._process.returncode
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        self.exit = _Exit(self.pid, how)
        log.error(
            "the DynamoDB process (pid %d) exited (%s): every DynamoDB request now fails; "
            "restart the local stack",
            self.pid,
            how,
        )
        return False

    # ------------------------------------------------------------------ requests
    def forward(self, request: Request) -> Reply:
        """Answer one DynamoDB request in the process (or the clear error once it is gone)."""
        if self.exit is None:
            try:
                reply = self._pool.call(request)
            except (OSError, EOFError):
                self._wait_for_exit()
            else:
                self.requests += 1
                return reply
        assert self.exit is not None
        return exited_reply(self.exit.pid, self.exit.how)

    def _wait_for_exit(self) -> None:
        """The socket broke: the process is ending; wait briefly for how it ended."""
        if self._process is not None:
            with contextlib.suppress(Exception):  # still running: a broken socket anyway
                self._process.wait(timeout=2)
        if not self.alive():
            return
        self.exit = _Exit(self.pid, "its socket closed")

    def forward_botocore(self, request: Any) -> Reply:
        """`forward` for a botocore request made in this process. A handler running here (its
        thread's environment has AWS_EXECUTION_ENV, paycli.local.sandbox_io) is marked in the
        user agent, as a worker's botocore marks it, so fault hooks there see a handler."""
        method, url, headers, body = request_parts(request)
        execution_env = os.environ.get("AWS_EXECUTION_ENV", "")
        if execution_env.startswith("AWS_Lambda_"):
            headers = [
                (k, f"{v} exec-env/{execution_env}" if k.lower() == "user-agent" else v)
                for k, v in headers
            ]
        return self.forward((method, url, headers, body))

    # ------------------------------------------------------------------ control
    def _control_call(self, message: tuple[Any, ...]) -> Any:
        with self._control_lock:
            if self._control is None or not self.alive():
                return None
            try:
                self._control.send(message)
                return self._control.recv()
            except (OSError, EOFError):
                return None

    def set_fault_plan(self, raw: dict[str, Any] | None) -> None:
        """The daemon's fault plan, for the DynamoDB fault hooks in the process."""
        self._control_call(("faults", raw))

    def fired(self) -> Counter[str]:
        """Faults fired in the process, by kind."""
        fired = self._control_call(("fired",))
        return Counter(fired or {})

    def health(self) -> dict[str, Any]:
        """What `paycli local status` shows: pid, alive (or how it ended), requests, patches."""
        self.alive()
        error = None
        if self.exit is not None:
            error = json.loads(exited_reply(self.exit.pid, self.exit.how)[2])["message"]
        return {
            "pid": self.pid,
            "alive": self.exit is None,
            "exit": None if self.exit is None else self.exit.how,
            "requests": self.requests,
            "patches": len(self.patches),
            "error": error,
        }

    # ------------------------------------------------------------------ routing in the daemon
    def install(self, moto_server: Any = None) -> None:
        """Route this process's DynamoDB requests to the process: moto's in-process dispatch
        and (if given) moto's HTTP server (a started ThreadedMotoServer)."""
        from moto.core.models import botocore_stubber  # noqa: PLC0415 - moto loads lazily

        original = botocore_stubber.process_request

        def process_request(request: Any) -> Any:
            if is_dynamodb_url(request.url):
                return self.forward_botocore(request)
            return original(request)

        botocore_stubber.process_request = process_request  # type: ignore[method-assign]
        self._installed.append(lambda: vars(botocore_stubber).pop("process_request", None))
        if moto_server is not None:
            server = moto_server._server
            app = server.app
            server.app = DynamoDbRouter(app, self.forward)
            self._installed.append(lambda: setattr(server, "app", app))

    def worker_route(self) -> Route:
        """What a Lambda worker needs to reach the process directly (and name it if gone)."""
        return self.address, self.authkey, self.pid


class DirectClient:
    """A Lambda worker's way to the process: its requests, without the daemon."""

    def __init__(self, route: Route) -> None:
        address, authkey, self.pid = route
        self._pool = ConnectionPool(address, authkey)
        self._gone = False

    def forward(self, request: Request) -> Reply:
        if not self._gone:
            try:
                return self._pool.call(request)
            except (OSError, EOFError):
                self._gone = True
        return exited_reply(self.pid, "its socket closed")


class DynamoDbRouter:
    """WSGI wrapper of moto's HTTP server: DynamoDB requests (X-Amz-Target DynamoDB_*) go to
    the process; everything else to moto's app."""

    def __init__(self, app: Any, forward: Callable[[Request], Reply]) -> None:
        self.app, self.forward = app, forward

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = [
            (key[5:].replace("_", "-").title(), str(value))
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        headers.append(("Content-Type", str(environ.get("CONTENT_TYPE", _JSON_10))))
        region = _scope_region(str(environ.get("HTTP_AUTHORIZATION", "")))
        url = f"https://dynamodb.{region}.amazonaws.com/"
        status, reply_headers, reply_body = self.forward(("POST", url, headers, body))
        reply_headers = {**reply_headers, "Content-Length": str(len(reply_body))}
        start_response(f"{status} {_REASONS.get(status, 'Status')}", list(reply_headers.items()))
        return [reply_body]


_REASONS: Final = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}


def _scope_region(authorization: str) -> str:
    """The region of a SigV4 credential scope (`Credential=KEY/DATE/REGION/SERVICE/...`)."""
    _, _, rest = authorization.partition("Credential=")
    parts = rest.split("/")
    return parts[2] if len(parts) > 3 else "us-east-1"


# ---------------------------------------------------------------------- the process itself
def _serve_connection(conn: Connection, dispatch: Callable[..., Reply]) -> None:
    """Answer one client's requests until it closes its end."""
    with conn:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            try:
                reply = dispatch(*request)
            except Exception as exc:
                log.exception("DynamoDB request failed")
                body = json.dumps({"__type": "InternalFailure", "message": str(exc)[:500]})
                reply = (500, {"Content-Type": _JSON_10}, body.encode())
            conn.send(reply)


def _accept(listener: Listener, dispatch: Callable[..., Reply]) -> None:
    """One thread per client connection, for as long as the process lives."""
    while True:
        try:
            conn = listener.accept()
        except OSError:  # a client that failed the key check
            continue
        threading.Thread(
            target=_serve_connection, args=(conn, dispatch), name="dynamodb-conn", daemon=True
        ).start()


def serve(control: Connection) -> int:
    """The process: patched moto with DynamoDB's fault hooks; requests until the daemon goes."""
    from moto import mock_aws  # noqa: PLC0415 - heavy: only in the process

    from paycli.local import patches  # noqa: PLC0415
    from paycli.local.faults import FaultInjector, install_emulator_faults  # noqa: PLC0415
    from paycli.local.stack import MOTO_CONFIG, SWITCH_INTERVAL_SECONDS  # noqa: PLC0415
    from paycli.local.workers import dispatch_aws  # noqa: PLC0415

    _, address, authkey, speed, minimal = control.recv()
    try:
        patches.apply(speed=speed, minimal=minimal)
    except Exception as exc:  # noqa: BLE001 - PatchMismatchError: said to the daemon
        control.send(("refused", str(exc)))
        return 1
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    mock = mock_aws(config=MOTO_CONFIG)
    mock.start(reset=False)
    injector = FaultInjector()
    install_emulator_faults(injector)
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    threading.Thread(
        target=_accept,
        args=(listener, dispatch_aws),
        name="dynamodb-accept",
        daemon=True,
    ).start()
    control.send(("ready", os.getpid(), sorted(patches.active())))
    while True:
        try:
            message = control.recv()
        except (EOFError, OSError):
            return 0
        if message[0] == "faults":
            injector.set_plan(message[1])
            control.send(("ok",))
        elif message[0] == "fired":
            control.send(dict(injector.fired))


def main(argv: list[str]) -> int:
    """`python -m paycli.local.dynamodb_process FD PARENT_PID`."""
    from paycli.local.worker import die_with_parent  # noqa: PLC0415

    fd, parent_pid = int(argv[0]), int(argv[1])
    die_with_parent(parent_pid)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s dynamodb-process %(name)s: %(message)s",
    )
    try:
        return serve(Connection(fd))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 0


if __name__ == "__main__":
    # os._exit: the connection threads are daemons, but moto's interpreter shutdown is slow.
    os._exit(main(sys.argv[1:]))
