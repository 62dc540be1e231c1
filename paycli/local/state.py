"""Where the local stack keeps its state, and the fixed credentials it accepts.

The daemon and every later `paycli` process meet through files under the state directory:
`local/state.json` (pid, ports, endpoint, control token) is written by the daemon once it is
ready and removed when it stops; `local/outputs.json` holds the last deployment's outputs, as
CloudFormation outputs would. Both are written atomically (temp file + rename) so a reader never
sees half a file. Nothing here imports boto3: the CLI reads this on its fast path.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer

#: The local stack's region and credentials: fixed, so every process can sign requests the
#: local API verifies, and never real secrets (the emulator holds no real data).
LOCAL_REGION = "us-east-1"
LOCAL_ACCESS_KEY = "paycli-local"
LOCAL_SECRET_KEY = "paycli-local-secret"  # noqa: S105 - a public, local-only constant
#: The account id moto uses for requests signed with the keys above (its default account).
LOCAL_ACCOUNT_ID = "123456789012"

#: The header that carries the per-start control token (see api.ControlSurface).
TOKEN_HEADER = "X-Paycli-Token"  # noqa: S105 - a header name, not a secret

#: The daemon's exit status when it refuses to patch a changed moto (paycli/local/doctor.py);
#: its last log line then names the patch.
EXIT_PATCH_MISMATCH = 3

STATE_FILE = "state.json"
OUTPUTS_FILE = "outputs.json"
LOG_FILE = "daemon.log"


def home_dir() -> Path:
    """The paycli state directory: $PAYCLI_HOME when set (tests, CI), else the user's app dir."""
    override = os.environ.get("PAYCLI_HOME")
    return Path(override) if override else Path(typer.get_app_dir("paycli"))


def local_dir(home: Path | None = None) -> Path:
    """The local stack's own directory under the state directory (created on demand)."""
    path = (home or home_dir()) / "local"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # PAYCLI_HOME read-only, under a file, on /proc...: not a bug
        from paycli.core.errors import ConfigError  # noqa: PLC0415 - the fast path stays light

        raise ConfigError(
            f"cannot create the local stack's directory {path}: {exc.strerror}",
            hint="set PAYCLI_HOME to a directory you can write to",
        ) from None
    return path


@dataclass(frozen=True)
class DaemonState:
    """What a running daemon publishes for other processes (the content of state.json)."""

    pid: int
    port: int  # the moto server's port
    endpoint: str  # http://127.0.0.1:{port}: the AWS endpoint_url for boto3 clients
    api_port: int
    api_url: str  # http://127.0.0.1:{api_port}: the local API Gateway (stage paths under it)
    token: str  # per-start secret for the control surface
    started_at: str  # ISO-8601 UTC
    log_file: str
    time_scale: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the file's content)."""
        return asdict(self)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never a partial one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.chmod(0o600)  # the file holds the control token
    tmp.replace(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_state(home: Path | None = None) -> DaemonState | None:
    """The published daemon state, or None when no daemon wrote one (or it is unreadable)."""
    data = _read_json(local_dir(home) / STATE_FILE)
    if not isinstance(data, dict):
        return None
    try:
        return DaemonState(**data)
    except TypeError:  # a file from another paycli version: treat as absent
        return None


def write_state(state: DaemonState, home: Path | None = None) -> None:
    """Publish the daemon's state (called by the daemon once it is ready)."""
    write_json_atomic(local_dir(home) / STATE_FILE, state.to_json())


def remove_state(pid: int, home: Path | None = None) -> None:
    """Remove state.json and outputs.json if they belong to daemon `pid` (not a newer one)."""
    current = read_state(home)
    if current is not None and current.pid != pid:
        return
    for name in (STATE_FILE, OUTPUTS_FILE):
        (local_dir(home) / name).unlink(missing_ok=True)


def read_outputs(home: Path | None = None) -> dict[str, str] | None:
    """The last deployment's outputs, or None when nothing is deployed."""
    data = _read_json(local_dir(home) / OUTPUTS_FILE)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def write_outputs(outputs: dict[str, str], home: Path | None = None) -> None:
    """Record a deployment's outputs (the daemon does this after each deploy)."""
    write_json_atomic(local_dir(home) / OUTPUTS_FILE, outputs)


def clear_outputs(home: Path | None = None) -> None:
    """Forget outputs: a fresh daemon holds no resources, so old outputs would lie."""
    (local_dir(home) / OUTPUTS_FILE).unlink(missing_ok=True)


def local_credentials_env(endpoint: str | None = None) -> dict[str, str]:
    """Environment variables that point boto3 (and the rest of the CLI) at the local stack."""
    env = {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
    }
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie we could still reap)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: ask the kernel whether it exists
        reaped = 0
    if reaped == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A zombie still answers kill(0) but is gone for every purpose here (Linux /proc only)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def is_paycli_process(pid: int) -> bool:
    """Whether `pid` runs paycli (the daemon, or `paycli local up --foreground`).

    A stale state.json can name a pid the system has since given to another program: that
    process must be neither reported as the local stack nor sent SIGTERM by `down`. Where
    /proc is missing (not Linux) the pid is trusted.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return b"paycli" in cmdline
