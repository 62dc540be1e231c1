"""`payments reconcile`: the operator's run of the scheduled reconciler, on either target.

The query and the re-enqueue are paystack's own `reconcile_stale` (the ReconcileFunction's
domain function) called with the CLI's clients, so the operator and the schedule cannot
disagree on what "stranded" means. This module only parses the age and shapes the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from paystack.domain.dynamo import TableNames
from paystack.domain.reconcile import DEFAULT_BATCH_LIMIT, ReconcileResult, reconcile_stale

from paycli.core.errors import UsageError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

_AGE: Final = re.compile(r"(\d+)\s*([smhd])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
#: The template's STALE_AFTER_SECONDS (900): the same threshold as the schedule by default.
DEFAULT_OLDER_THAN: Final = "15m"


def parse_age(text: str, option: str = "--older-than") -> timedelta:
    """ "0s", "90s", "15m", "2h", "1d" as a timedelta; a UsageError naming `option` and the
    forms otherwise, or when the age reaches back past the calendar (the callers subtract it
    from now)."""
    match = _AGE.fullmatch(text.strip().lower())
    if match is None:
        raise UsageError(
            f"cannot read {option} {text!r}", hint="use an age such as 0s, 15m, 2h or 1d"
        )
    try:
        age = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        _ = datetime.now(UTC) - age
    except OverflowError:
        raise UsageError(
            f"{option} {text!r} reaches back before the year 1",
            hint="use an age such as 0s, 15m, 2h or 1d",
        ) from None
    return age


@dataclass(frozen=True)
class ReconcileReport:
    """What one operator run found and (unless dry) sent back to the payment queue."""

    older_than: timedelta
    limit: int
    result: ReconcileResult

    def view(self) -> dict[str, Any]:
        """Stable JSON fields (README): counts, the cutoff, and the payments picked."""
        return {
            "dry_run": self.result.dry_run,
            "older_than_seconds": int(self.older_than.total_seconds()),
            "cutoff": self.result.cutoff,
            "limit": self.limit,
            "scanned": self.result.scanned,
            "requeued": self.result.requeued,
            "payments": [
                {
                    "payment_id": p.payment_id,
                    "status": p.status,
                    "created_at": p.created_at,
                    "updated_at": p.updated_at,
                }
                for p in self.result.stale
            ],
        }


class ReconcileService:
    """Finds PENDING/PROCESSING payments older than an age and enqueues them again."""

    def __init__(
        self, ddb: DynamoDBClient, sqs: SQSClient, payments_table: str, queue_url: str
    ) -> None:
        """Clients and the stack's PaymentsTableName / QueueUrl outputs."""
        self._ddb, self._sqs = ddb, sqs
        self._tables = TableNames(payments=payments_table)
        self._queue_url = queue_url

    def run(
        self,
        older_than: str = DEFAULT_OLDER_THAN,
        *,
        dry_run: bool = False,
        limit: int = DEFAULT_BATCH_LIMIT,
        now: datetime | None = None,
    ) -> ReconcileReport:
        """One sweep; a duplicate message is harmless (the workflow is idempotent per payment),
        so running this while the schedule also runs is safe."""
        if limit < 1:
            raise UsageError("--limit must be at least 1")
        age = parse_age(older_than)
        result = reconcile_stale(
            self._ddb,
            self._sqs,
            self._tables,
            queue_url=self._queue_url,
            cutoff=(now or datetime.now(UTC)) - age,
            limit=limit,
            dry_run=dry_run,
        )
        return ReconcileReport(older_than=age, limit=limit, result=result)
