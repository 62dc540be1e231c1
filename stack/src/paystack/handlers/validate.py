"""ValidatePayment Lambda: {"payment_id", "execution_arn"} -> {"payment_id", "outcome", "reason"}.

Raises IssuerUnavailableError (Step Functions retries it by that name) and lets any other
exception out as a Lambda error, which the state machine's Catch turns into FAILED + DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from paystack.domain.dynamo import TableNames, utc_now
from paystack.domain.methods import SimulatedIssuer
from paystack.domain.validation import ValidationSettings, validate_payment
from paystack.handlers._runtime import bind_payment_id, dynamodb, env_int, logger, tracer

ISSUER = SimulatedIssuer()


def payment_id_of(event: Any) -> str:
    """The payment_id of a Step Functions payload; a malformed payload is a bug upstream."""
    if not isinstance(event, dict) or not isinstance(event.get("payment_id"), str):
        raise ValueError("the payload must be an object with a string payment_id")
    return str(event["payment_id"])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Approve or decline one payment (idempotent: a settled payment returns its outcome)."""
    payment_id = payment_id_of(event)
    bind_payment_id(payment_id)
    settings = ValidationSettings(env_int("MAX_AMOUNT_MINOR"), ISSUER)
    execution_arn = event.get("execution_arn")
    result = validate_payment(
        dynamodb(),
        TableNames.from_env(),
        payment_id,
        execution_arn=execution_arn,
        settings=settings,
        now=utc_now(),
    )
    logger.info(
        "payment validated", extra={"outcome": result["outcome"], "reason": result["reason"]}
    )
    return result
