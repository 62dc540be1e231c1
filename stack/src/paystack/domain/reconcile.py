"""The reconciler: find accepted payments no execution will finish, and enqueue them again.

Two ways a payment can be stranded short of a terminal state:
- ingress committed its transaction (payment PENDING) but crashed before SendMessage, and the
  client never retried the Idempotency-Key (a retry would have re-sent the message);
- an execution ended outside the ASL's Catch (TimeoutSeconds hit, an operator's StopExecution,
  a States.Runtime error), leaving the payment PENDING or PROCESSING.

Both are found the same way: the ByStatus index, PENDING and PROCESSING partitions, created and
last updated before a cutoff well past the state machine's TimeoutSeconds. Re-enqueuing is safe
because every step downstream is idempotent per payment: ValidatePayment never reopens a
settled payment, DeductAmount writes `debit#{payment_id}` once, and MarkFailed only touches an
unsettled one. A message sent here for a payment that did finish meanwhile only starts an
execution that returns the stored outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from paystack.domain.dynamo import TableNames, iso_timestamp
from paystack.domain.intake import enqueue
from paystack.domain.payment import Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

BY_STATUS_INDEX = "ByStatus"
#: Statuses short of a terminal one. FAILED is terminal here: it is in the DLQ already.
STRANDABLE = (Status.PENDING, Status.PROCESSING)
#: At most this many payments per run: a backlog drains over a few runs (every 5 minutes on
#: AWS) instead of one run outliving its Lambda timeout.
DEFAULT_BATCH_LIMIT = 500


@dataclass(frozen=True, slots=True)
class StalePayment:
    """A payment the reconciler picked: enough to log and show, no card details."""

    payment_id: str
    status: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What one run found and sent; `requeued` is 0 for a dry run."""

    cutoff: str
    stale: tuple[StalePayment, ...]
    requeued: int
    dry_run: bool

    @property
    def scanned(self) -> int:
        """How many stale payments were found (at most the batch limit)."""
        return len(self.stale)

    def counts(self) -> dict[str, int]:
        """The Lambda's return value: {"scanned", "requeued"}."""
        return {"scanned": self.scanned, "requeued": self.requeued}


def stale_payments(
    ddb: DynamoDBClient, tables: TableNames, cutoff: datetime, *, limit: int
) -> list[StalePayment]:
    """PENDING then PROCESSING payments created and last updated before `cutoff`, oldest
    first within each status, at most `limit`. Index queries only, never a Scan.

    The updated_at filter keeps a payment a `dlq redrive` moved back to PROCESSING minutes ago
    out, however old it is: its execution is still allowed to run.
    """
    found: list[StalePayment] = []
    for status in STRANDABLE:
        for payment in _query_status(ddb, tables, status, iso_timestamp(cutoff)):
            if len(found) >= limit:
                return found
            found.append(payment)
    return found


def _query_status(
    ddb: DynamoDBClient, tables: TableNames, status: Status, cutoff: str
) -> Iterator[StalePayment]:
    """One ByStatus partition below the cutoff, lazily paginated."""
    kwargs: dict[str, Any] = {
        "TableName": tables.payments,
        "IndexName": BY_STATUS_INDEX,
        "KeyConditionExpression": "#status = :status AND created_at < :cutoff",
        "FilterExpression": "updated_at < :cutoff",
        "ProjectionExpression": "payment_id, #status, created_at, updated_at",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":status": {"S": status.value}, ":cutoff": {"S": cutoff}},
    }
    while True:
        page = ddb.query(**kwargs)
        for item in page.get("Items", []):
            yield StalePayment(
                payment_id=item["payment_id"]["S"],
                status=item["status"]["S"],
                created_at=item["created_at"]["S"],
                updated_at=item.get("updated_at", item["created_at"])["S"],
            )
        start = page.get("LastEvaluatedKey")
        if not start:
            return
        kwargs["ExclusiveStartKey"] = start


def reconcile_stale(
    ddb: DynamoDBClient,
    sqs: SQSClient,
    tables: TableNames,
    *,
    queue_url: str,
    cutoff: datetime,
    limit: int = DEFAULT_BATCH_LIMIT,
    dry_run: bool = False,
) -> ReconcileResult:
    """Send {"payment_id"} to the payment queue again for each stale payment.

    This is the retry of ingress's SendMessage (and of an execution that ended outside its
    Catch); the downstream guards (see the module docstring) make a duplicate harmless, so a
    run that crashes halfway is simply repeated by the next one.
    """
    stale = tuple(stale_payments(ddb, tables, cutoff, limit=limit))
    if not dry_run:
        for payment in stale:
            enqueue(sqs, queue_url, payment.payment_id)
    return ReconcileResult(
        cutoff=iso_timestamp(cutoff),
        stale=stale,
        requeued=0 if dry_run else len(stale),
        dry_run=dry_run,
    )
