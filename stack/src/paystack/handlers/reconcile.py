"""Reconcile Lambda, run by an EventBridge schedule: re-enqueue stranded payments.

The event (a Scheduled Event) carries nothing we need; the cutoff is now minus
STALE_AFTER_SECONDS. Returns {"scanned", "requeued"}. Logs payment ids only, never card data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from paystack.domain.dynamo import TableNames, utc_now
from paystack.domain.reconcile import reconcile_stale
from paystack.handlers._runtime import dynamodb, env_int, env_str, logger, sqs, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """One sweep: every PENDING/PROCESSING payment older than the threshold goes back on the
    queue (bounded per run; the next run takes the rest)."""
    stale_after = timedelta(seconds=env_int("STALE_AFTER_SECONDS"))
    result = reconcile_stale(
        dynamodb(),
        sqs(),
        TableNames.from_env(),
        queue_url=env_str("QUEUE_URL"),
        cutoff=utc_now() - stale_after,
    )
    for payment in result.stale:
        logger.info(
            "payment requeued",
            extra={
                "payment_id": payment.payment_id,
                "status": payment.status,
                "created_at": payment.created_at,
            },
        )
    logger.info("reconcile finished", extra=result.counts() | {"cutoff": result.cutoff})
    return result.counts()
