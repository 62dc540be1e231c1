"""Handler logs: the local stack's captured records, or CloudWatch Logs on AWS.

On AWS each function logs to `/aws/lambda/{physical name}`; the physical names come from the
stack's resources (never guessed). Payment filtering uses a quoted term pattern, which matches
the payment id inside Powertools' JSON log lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from paycli.core.errors import UsageError

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

#: The template's functions, by the short names the CLI accepts (`--function validate`).
FUNCTIONS: Final = {
    "ingress": "IngressFunction",
    "validate": "ValidatePaymentFunction",
    "validatepayment": "ValidatePaymentFunction",
    "deduct": "DeductAmountFunction",
    "deductamount": "DeductAmountFunction",
    "reconcile": "ReconcileFunction",
}


@dataclass(frozen=True)
class LogRecord:
    """One log line of one function."""

    timestamp: str
    function: str
    message: str
    level: str | None = None
    payment_id: str | None = None

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "timestamp": self.timestamp,
            "function": self.function,
            "level": self.level,
            "payment_id": self.payment_id,
            "message": self.message,
        }


class LogFollower:
    """Which records of a fetch are new since the previous fetch (`paycli logs --follow`).

    Each fetch is a window of the most recent records: the local stack keeps a bounded ring
    and CloudWatch answers a bounded page, so once the window slides, counting records (print
    from index N on) prints nothing new ever again. Records are compared as values instead:
    whatever the previous fetch held is not new, counting repeats, so two identical lines in one
    millisecond are both printed once each."""

    def __init__(self) -> None:
        self._previous: Counter[LogRecord] = Counter()

    def fresh(self, records: list[LogRecord]) -> list[LogRecord]:
        """The records of this fetch not in the previous one, in order."""
        remaining = Counter(self._previous)
        new: list[LogRecord] = []
        for record in records:
            if remaining[record] > 0:
                remaining[record] -= 1
            else:
                new.append(record)
        self._previous = Counter(records)
        return new


def logical_function(name: str | None) -> str | None:
    """`validate`, `ValidatePayment` or `ValidatePaymentFunction` -> the template's logical id."""
    if not name:
        return None
    key = name.lower().removesuffix("function")
    if key in FUNCTIONS:
        return FUNCTIONS[key]
    choices = ", ".join(sorted({"ingress", "validate", "deduct", "reconcile"}))
    raise UsageError(f"unknown function {name!r}", hint=f"use one of {choices}")


def from_local(raw: dict[str, Any]) -> LogRecord:
    """A record captured by the local stack, whatever spelling of the common keys it uses."""
    stamp = raw.get("timestamp") or raw.get("time") or ""
    if isinstance(stamp, int | float):
        stamp = datetime.fromtimestamp(stamp / (1000 if stamp > 1e11 else 1), UTC).isoformat()
    return LogRecord(
        timestamp=str(stamp),
        function=str(raw.get("logical_id") or raw.get("function") or "").removesuffix("Function"),
        message=str(raw.get("message", "")),
        level=raw.get("level"),
        payment_id=raw.get("payment_id"),
    )


class CloudWatchLogs:
    """FilterLogEvents over the stack's function log groups (AWS target)."""

    def __init__(self, logs: CloudWatchLogsClient, functions: dict[str, str]) -> None:
        """`functions`: logical id -> physical function name, from the stack's resources."""
        self._logs = logs
        self._functions = functions

    def fetch(
        self, function: str | None, payment_id: str | None, start_ms: int | None = None
    ) -> list[LogRecord]:
        """Matching events from each selected function's group, oldest first."""
        logical = logical_function(function)
        records: list[LogRecord] = []
        for logical_id, physical in self._functions.items():
            if logical is not None and logical_id != logical:
                continue
            records.extend(self._group(logical_id, physical, payment_id, start_ms))
        return sorted(records, key=lambda record: record.timestamp)

    def _group(
        self, logical_id: str, physical: str, payment_id: str | None, start_ms: int | None
    ) -> Iterator[LogRecord]:
        kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{physical}"}
        if payment_id:
            kwargs["filterPattern"] = f'"{payment_id}"'
        if start_ms is not None:
            kwargs["startTime"] = start_ms
        try:
            for page in self._logs.get_paginator("filter_log_events").paginate(**kwargs):
                for event in page.get("events", []):
                    stamp = datetime.fromtimestamp(event.get("timestamp", 0) / 1000, UTC)
                    yield LogRecord(
                        timestamp=stamp.isoformat(timespec="milliseconds"),
                        function=logical_id.removesuffix("Function"),
                        message=str(event.get("message", "")).rstrip(),
                        payment_id=payment_id,
                    )
        except self._logs.exceptions.ResourceNotFoundException:
            return  # a function that never ran has no log group yet
