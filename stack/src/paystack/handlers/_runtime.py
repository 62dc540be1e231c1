"""What the three handlers share: Powertools objects, the AWS clients, environment settings.

The clients are built once per Lambda container (first use, then cached), never per
invocation. They are built lazily rather than at import so that importing a handler (the
template checks do, to prove every Handler string resolves) needs no AWS region or endpoint.
Endpoints come from the standard AWS configuration (AWS_ENDPOINT_URL on the local stack), so
there is no local-only branch here.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools import Logger, Tracer

from paystack.domain.redact import described
from paystack.domain.store import PAYMENT_ID_RE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient

logger = Logger()
tracer = Tracer()


def bind_payment_id(value: object) -> None:
    """Add the payment id to every later log line of this invocation, once it is known to be
    one: a value that fails the format (it may be a card number typed into a URL) is logged
    as its kind and length only (convention 14)."""
    if isinstance(value, str) and PAYMENT_ID_RE.fullmatch(value):
        logger.append_keys(payment_id=value)
    else:
        logger.append_keys(invalid_payment_id=described(value))


@cache
def dynamodb() -> DynamoDBClient:
    """The container's DynamoDB client."""
    return boto3.client("dynamodb")


@cache
def sqs() -> SQSClient:
    """The container's SQS client."""
    return boto3.client("sqs")


def env_int(name: str, *, minimum: int = 1) -> int:
    """An integer setting from the function's environment; a bad value is a deployment
    error and fails loudly rather than falling back to a default."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip().isdigit() or int(raw) < minimum:
        raise RuntimeError(f"environment variable {name} must be an integer >= {minimum}")
    return int(raw)


def env_str(name: str) -> str:
    """A required string setting from the function's environment."""
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value
