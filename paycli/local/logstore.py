"""Handler log records: how a captured line becomes a record, the in-memory ring, the JSONL file
that `paycli logs` reads from another process."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paycli.local.model import FunctionSpec

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
LogListener = Callable[[dict[str, Any]], None]


class LogStore:
    """Handler log lines: a bounded in-memory ring plus an append-only JSONL file.

    The file is opened once, on the first record, and each record is one flushed write: a
    reader in another process sees every line as soon as it is appended. Opening and closing
    it per record (three system calls, each giving up the GIL while the store's lock and the
    handler's logging lock were held) made every logging thread queue behind one waiting for
    the GIL again (py-spy under `paycli load`: 6% of the daemon's thread samples in that
    open). `close()` closes it (the runner's close does); a later record opens it again."""

    def __init__(self, log_dir: Path | None, ring_size: int = DEFAULT_RING_SIZE) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=ring_size)
        self._lock = threading.Lock()
        self._listeners: list[LogListener] = []
        self.path: Path | None = None
        self._file: Any = None
        self._closer: weakref.finalize[Any, Any] | None = None
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
                handle = self._file or self._open(self.path)
                handle.write(json.dumps(record, default=str) + "\n")
                handle.flush()
        for listener in list(self._listeners):
            listener(record)

    def _open(self, path: Path) -> Any:
        """The file, opened for appending (under the lock), closed with the store at the
        latest."""
        handle = path.open("a", encoding="utf-8")
        self._file = handle
        self._closer = weakref.finalize(self, handle.close)
        return handle

    def close(self) -> None:
        """Close the file (the ring stays); a later record opens it again."""
        with self._lock:
            if self._closer is not None:
                self._closer()
            self._file = self._closer = None

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


def base_record(spec: FunctionSpec, request_id: str, payment_id: str | None) -> dict[str, Any]:
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        + f".{int(time.time() * 1000) % 1000:03d}Z",
        "function": spec.function_name,
        "logical_id": spec.logical_id,
        "request_id": request_id,
        "payment_id": payment_id,
        "level": None,
    }


def line_record(
    spec: FunctionSpec, request_id: str, payment_id: str | None, line: str, stream: str
) -> dict[str, Any]:
    """The record for one line a handler wrote (a Powertools JSON line is unpacked)."""
    record = base_record(spec, request_id, payment_id)
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
            record["fields"] = {k: v for k, v in parsed.items() if k not in _REPEATED_LOG_KEYS}
    return record


def report_record(
    spec: FunctionSpec,
    request_id: str,
    payment_id: str | None,
    *,
    duration: float,
    error_type: str | None = None,
    error_message: str = "",
) -> dict[str, Any]:
    """Lambda's REPORT line for one invocation: its duration and, on failure, the error."""
    record = base_record(spec, request_id, payment_id)
    record["stream"] = "report"
    record["level"] = "ERROR" if error_type else "INFO"
    record["duration_ms"] = round(duration * 1000, 2)
    record["message"] = f"REPORT {spec.function_name} {record['duration_ms']} ms" + (
        f" {error_type}: {error_message}" if error_type else ""
    )
    if error_type is not None:
        record["error_type"] = error_type
    return record
