"""The CLI's handle on the local stack: status, up, down, deploy, outputs, logs.

Every function reads the daemon's `state.json` to find it and talks to its control surface over
HTTP on 127.0.0.1 with the per-start token; none imports boto3 or moto, so the CLI stays fast.
`up` starts `python -m paycli.local.daemon` in its own session (it outlives the CLI), waits until
it has published its state and answers, and otherwise fails with the log's last lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paycli.core import errors
from paycli.local import state as st
from paycli.local.state import (
    EXIT_PATCH_MISMATCH,
    LOCAL_ACCESS_KEY,
    LOCAL_REGION,
    LOCAL_SECRET_KEY,
    TOKEN_HEADER,
)

__all__ = [
    "LOCAL_ACCESS_KEY",
    "LOCAL_REGION",
    "LOCAL_SECRET_KEY",
    "LocalStatus",
    "deploy",
    "down",
    "logs",
    "outputs",
    "status",
    "up",
]

START_TIMEOUT = 60.0  # moto + engine start in a few seconds; a busy CI box can be slow
STOP_TIMEOUT = 15.0
NOT_RUNNING_HINT = "Start it with `paycli local up` (or run `paycli deploy`)."
WEDGED_HINT = (
    "See `paycli local status`; restart it with `paycli local down`, then `paycli local up`"
    " (and `paycli deploy`)."
)
HEALTH_TIMEOUT = 5.0  # a loopback health reply takes milliseconds, even under load
DOCTOR_HINT = "`paycli local doctor` lists every check; docs/moto.md says how to re-verify a patch."


@dataclass(frozen=True)
class LocalStatus:
    """What `paycli local status` shows."""

    running: bool
    pid: int | None
    endpoint: str | None
    api_url: str | None
    started_at: str | None
    deployed: bool
    #: A part of the stack that is down (the DynamoDB process), in one line; None when well.
    problem: str | None = None


# ------------------------------------------------------------------------- talking to it


def _request(
    state: st.DaemonState,
    method: str,
    action: str,
    *,
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Any:
    """One control call; a daemon-side PaycliError comes back as the same kind of error."""
    url = f"{state.api_url}/_paycli/{action}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
        url,
        data=data,
        method=method,
        headers={TOKEN_HEADER: state.token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise _error_from(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        msg = f"the local stack (pid {state.pid}) does not answer at {state.api_url}: {exc}"
        raise errors.ConfigError(msg, hint=f"{WEDGED_HINT} Its log: {state.log_file}") from None


_BY_CODE: dict[int, type[errors.PaycliError]] = {
    int(errors.ExitCode.USAGE): errors.UsageError,
    int(errors.ExitCode.NOT_FOUND): errors.NotFoundError,
    int(errors.ExitCode.CONFLICT): errors.ConflictError,
    int(errors.ExitCode.ENVIRONMENT): errors.ConfigError,
    int(errors.ExitCode.TIMEOUT): errors.WaitTimeoutError,
}


def _error_from(exc: urllib.error.HTTPError) -> errors.PaycliError:
    try:
        error = json.loads(exc.read())["error"]
    except (ValueError, KeyError, TypeError):
        return errors.PaycliError(f"local stack control call failed: HTTP {exc.code}")
    cls = _BY_CODE.get(int(error.get("exit_code") or 1), errors.PaycliError)
    return cls(str(error.get("message")), hint=error.get("hint"))


def _running_state() -> st.DaemonState | None:
    """The state of a live daemon, or None (a stale file of a dead one is removed)."""
    state = st.read_state()
    if state is None:
        return None
    if not st.pid_alive(state.pid) or not st.is_paycli_process(state.pid):
        st.remove_state(state.pid)
        return None
    return state


def _require_running() -> st.DaemonState:
    state = _running_state()
    if state is None:
        raise errors.ConfigError("the local stack is not running", hint=NOT_RUNNING_HINT)
    return state


# ------------------------------------------------------------------------- the API


def status() -> LocalStatus:
    """Whether the local stack runs, where, and whether something is deployed."""
    state = _running_state()
    if state is None:
        return LocalStatus(False, None, None, None, None, False)
    try:
        health = _request(state, "GET", "health", timeout=HEALTH_TIMEOUT)
    except errors.PaycliError:
        health = {"deployed": False}
    return LocalStatus(
        True,
        state.pid,
        state.endpoint,
        state.api_url,
        state.started_at,
        bool(health.get("deployed")),
        (health.get("dynamodb_process") or {}).get("error"),
    )


def live_endpoint() -> str | None:
    """The running daemon's AWS endpoint, None when none runs; a daemon that runs but does not
    answer its health call within HEALTH_TIMEOUT (SIGSTOPped, hung) is a ConfigError naming
    its address and how to restart it, instead of every client waiting out its timeouts."""
    state = _running_state()
    if state is None:
        return None
    _request(state, "GET", "health", timeout=HEALTH_TIMEOUT)
    return state.endpoint


@contextlib.contextmanager
def _start_lock() -> Iterator[None]:
    """One `up` at a time per state dir, so two concurrent callers never start two daemons."""
    with (st.local_dir() / "up.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def up(
    *,
    port: int | None = None,
    foreground: bool = False,
    time_scale: float = 1.0,
    fault_plan: dict[str, Any] | None = None,
    lambda_workers: int | None = None,
    dynamodb_process: bool | None = None,
) -> LocalStatus:
    """Start the local stack unless it runs (idempotent); detached unless `foreground`.
    `fault_plan` (a FaultPlan's JSON) is set once it runs (the running one's too);
    `lambda_workers` is the worker processes per function and `dynamodb_process` whether
    DynamoDB runs in a process of its own (None: the daemon's defaults)."""
    if foreground:
        return _up_foreground(
            port=port,
            time_scale=time_scale,
            fault_plan=fault_plan,
            lambda_workers=lambda_workers,
            dynamodb_process=dynamodb_process,
        )
    with _start_lock():
        if _running_state() is None:
            if port:
                _check_port(port)
            _spawn(
                port=port or 0,
                time_scale=time_scale,
                lambda_workers=lambda_workers,
                dynamodb_process=dynamodb_process,
            )
    if fault_plan is not None:
        set_fault_plan(fault_plan)
    return status()


def _check_port(port: int) -> None:
    """A taken --port is one clear line before anything starts (the daemon checks it again)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise errors.ConfigError(
                f"port {port} on 127.0.0.1 is not available ({exc.strerror})",
                hint=f"choose another with --port, or omit it for a free one; log: "
                f"{st.local_dir() / st.LOG_FILE}",
            ) from None


def _up_foreground(
    *,
    port: int | None,
    time_scale: float,
    fault_plan: dict[str, Any] | None = None,
    lambda_workers: int | None = None,
    dynamodb_process: bool | None = None,
) -> LocalStatus:
    from paycli.local import daemon, doctor  # noqa: PLC0415 - imports moto: only when asked

    if _running_state() is not None:
        state = _require_running()
        msg = f"the local stack already runs in the background (pid {state.pid})"
        raise errors.ConflictError(msg, hint="Stop it first with `paycli local down`.")
    problem = doctor.refusal()
    if problem is not None:
        raise errors.ConfigError(problem, hint=DOCTOR_HINT)
    daemon.configure_logging()
    workers = daemon.default_lambda_workers() if lambda_workers is None else lambda_workers
    if dynamodb_process is None:
        dynamodb_process = daemon.default_dynamodb_process()
    code = daemon.run(
        daemon.Daemon(
            port=port or 0,
            time_scale=time_scale,
            home=st.home_dir(),
            fault_plan=fault_plan,
            lambda_workers=workers,
            dynamodb_process=dynamodb_process,
        )
    )
    if code != 0:
        raise errors.ConfigError("the local stack stopped with an error")
    return status()


def _dynamodb_flag(dynamodb_process: bool | None) -> list[str]:
    """The daemon's --[no-]dynamodb-process, or nothing (its default: the environment)."""
    if dynamodb_process is None:
        return []
    return ["--dynamodb-process" if dynamodb_process else "--no-dynamodb-process"]


def _spawn(
    *,
    port: int,
    time_scale: float,
    lambda_workers: int | None = None,
    dynamodb_process: bool | None = None,
) -> None:
    """Start the daemon in its own session and wait until it published a live state.

    posix_spawn rather than Popen: the daemon outlives this process by design, and a Popen
    object that is dropped while its child runs warns (ResourceWarning); `pid_alive` reaps it
    when this process is the one that later stops it.
    """
    log_path = st.local_dir() / st.LOG_FILE
    start = log_path.stat().st_size if log_path.exists() else 0  # this run's lines begin here
    argv = [
        sys.executable,
        "-m",
        "paycli.local.daemon",
        "--port",
        str(port),
        "--state-dir",
        str(st.home_dir()),
        "--time-scale",
        str(time_scale),
        *(["--lambda-workers", str(lambda_workers)] if lambda_workers is not None else []),
        *_dynamodb_flag(dynamodb_process),
    ]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(sys.executable, argv, dict(os.environ), file_actions=actions, setsid=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = st.read_state()
        if state is not None and state.pid == pid:
            return
        exited, status = os.waitpid(pid, os.WNOHANG)
        if exited == pid:
            code = os.waitstatus_to_exitcode(status)
            if code == EXIT_PATCH_MISMATCH:
                _refuse(log_path)
            _fail_start(f"the local stack exited during start-up (code {code})", log_path, start)
        time.sleep(0.1)
    _terminate(pid)
    timeout = f"the local stack did not become ready within {START_TIMEOUT:.0f} s"
    _fail_start(timeout, log_path, start)


def _refuse(log_path: Path) -> None:
    """The daemon refused to patch a changed moto: its last log line says which patch."""
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    raise errors.ConfigError(lines[-1] if lines else "refusing to start", hint=DOCTOR_HINT)


#: The last line of a Python exception in the daemon's log: "SomeError: what went wrong".
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_.]*(?:Error|Exception): .+")


def _fail_start(message: str, log_path: Path, start: int = 0) -> None:
    """One line: the cause the daemon logged in this run (its exception's message), not the
    log's tail, which may hold earlier runs' multi-KB dumps; the log's path as the hint."""
    with log_path.open("rb") as log:
        log.seek(start)
        lines = log.read().decode("utf-8", errors="replace").splitlines()
    causes = [line for line in lines if _EXCEPTION_LINE.match(line)]
    cause = causes[-1].split(": ", 1)[1] if causes else None
    text = f"{message}: {cause}" if cause else message
    raise errors.ConfigError(text, hint=f"full log: {log_path}")


def down() -> bool:
    """Stop the local stack: SIGTERM, wait, SIGKILL as a last resort; False if none ran."""
    state = _running_state()
    if state is None:
        return False
    _terminate(state.pid)
    st.remove_state(state.pid)  # after a SIGKILL the daemon could not clean up itself
    return True


def _terminate(pid: int) -> None:
    """SIGTERM, wait for a clean shutdown, SIGKILL if it does not come: never an orphan."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not st.pid_alive(pid):
            return True
        time.sleep(0.05)
    return not st.pid_alive(pid)


def deploy(template_path: Path) -> dict[str, str]:
    """Start the stack if needed, provision `template_path` into it; its outputs."""
    up()
    state = _require_running()
    outputs_: dict[str, str] = _request(
        state, "POST", "deploy", timeout=120.0, body={"template_path": str(template_path.resolve())}
    )
    return outputs_


def outputs() -> dict[str, str] | None:
    """The running stack's deployment outputs, or None (not running, or nothing deployed)."""
    return st.read_outputs() if _running_state() is not None else None


def logs(function: str | None = None, payment_id: str | None = None) -> list[dict[str, Any]]:
    """Captured handler logs from the running stack, filtered by function and/or payment."""
    query = {k: v for k, v in (("function", function), ("payment_id", payment_id)) if v}
    records: list[dict[str, Any]] = _request(_require_running(), "GET", "logs", query=query)
    return records


def health() -> dict[str, Any]:
    """The running daemon's health: pid, deployed, per-pipe counters, injected faults."""
    result: dict[str, Any] = _request(_require_running(), "GET", "health", timeout=5.0)
    return result


def set_faults(**faults: str | bool | None) -> dict[str, Any]:
    """Inject (or clear, with None) pipe faults in the running stack: a seam for fault tests."""
    result: dict[str, Any] = _request(_require_running(), "POST", "faults", body=faults)
    return result


def set_fault_plan(plan: dict[str, Any] | None) -> dict[str, Any]:
    """Set the running stack's fault plan (a FaultPlan's JSON; None clears it); the plan now
    in force and the faults fired by kind."""
    result: dict[str, Any] = _request(_require_running(), "POST", "faults", body={"plan": plan})
    return result


def faults() -> dict[str, Any]:
    """The running stack's fault plan and the faults fired by kind (read only)."""
    result: dict[str, Any] = _request(_require_running(), "POST", "faults", body={})
    return result


def state() -> st.DaemonState:
    """The running daemon's published state (endpoint, API URL, ...) or a ConfigError."""
    return _require_running()
