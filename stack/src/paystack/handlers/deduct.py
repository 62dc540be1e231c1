"""DeductAmount Lambda: {"payment_id", "account_id"} -> {"payment_id", "outcome", "reason",
"balance_after_minor"}.

`account_id` is ValidatePayment's, passed on by the state machine; it lets each attempt read
the payment and the account in one request. It is optional ({"payment_id"} alone still
works) and checked against the stored payment. Safe to invoke any number of times for one
payment: the account is debited once.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from paystack.domain.dynamo import TableNames, utc_now
from paystack.domain.settlement import settle_payment
from paystack.handlers._runtime import bind_payment_id, dynamodb, logger, tracer
from paystack.handlers.validate import payment_id_of


def account_id_of(event: dict[str, Any]) -> str | None:
    """The optional account_id of the payload; present but not a string is a bug upstream."""
    account_id = event.get("account_id")
    if account_id is not None and not isinstance(account_id, str):
        raise ValueError("the payload's account_id must be a string")
    return account_id


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Settle one approved payment: debit, SUCCEEDED and ledger entry in one transaction."""
    payment_id = payment_id_of(event)
    bind_payment_id(payment_id)
    result = settle_payment(
        dynamodb(),
        TableNames.from_env(),
        payment_id,
        utc_now(),
        account_id=account_id_of(event),
    )
    logger.info(
        "payment settled",
        extra={
            "outcome": result["outcome"],
            "reason": result["reason"],
            "balance_after_minor": result["balance_after_minor"],
        },
    )
    return result
