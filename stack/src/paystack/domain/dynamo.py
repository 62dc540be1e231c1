"""The DynamoDB boundary: table names, item (de)serialisation, timestamps, error inspection.

DynamoDB returns every number as Decimal; `from_item` turns them into int here, once, so the
rest of the code only ever sees integer minor units. Floats are refused by boto3's serializer,
which is what we want: a float amount is a bug.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item = dict[str, AttributeValueTypeDef]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True, slots=True)
class TableNames:
    """Physical table names; each function's environment names the ones it may touch."""

    payments: str = ""
    accounts: str = ""
    ledger: str = ""
    idempotency: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TableNames:
        """Read PAYMENTS_TABLE, ACCOUNTS_TABLE, LEDGER_TABLE, IDEMPOTENCY_TABLE (docs/design.md).

        Read per invocation rather than at import: the local stack runs several functions in
        one process with a per-thread environment.
        """
        env = os.environ if environ is None else environ
        return cls(
            payments=env.get("PAYMENTS_TABLE", ""),
            accounts=env.get("ACCOUNTS_TABLE", ""),
            ledger=env.get("LEDGER_TABLE", ""),
            idempotency=env.get("IDEMPOTENCY_TABLE", ""),
        )


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z, the format of every *_at attribute; it sorts
    lexically in time order, which the ByStatus/ByAccount indexes rely on."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_item(values: Mapping[str, Any]) -> Item:
    """Serialise a plain dict to DynamoDB's typed form, dropping None (absent attribute)."""
    return {key: _SERIALIZER.serialize(value) for key, value in values.items() if value is not None}


def to_value(value: Any) -> AttributeValueTypeDef:
    """Serialise one expression attribute value."""
    return _SERIALIZER.serialize(value)


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Deserialise a typed item, converting every Decimal to int (we store integers only)."""
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    """Decimal -> int; a fractional number in our tables is corruption, so it raises."""
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"non-integer number {value} in a table that stores only integers")
        return int(value)
    return value


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError, e.g. ConditionalCheckFailedException."""
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_reasons(error: ClientError) -> list[dict[str, Any]]:
    """TransactWriteItems' per-item CancellationReasons, in the order the items were sent."""
    reasons = error.response.get("CancellationReasons", [])
    return [dict(reason) for reason in reasons]


def condition_failure_item(error: ClientError) -> Item | None:
    """The item a failed conditional write found, when it was sent with
    ReturnValuesOnConditionCheckFailure=ALL_OLD; None if there was no item (or no copy)."""
    response: Mapping[str, Any] = error.response
    item = response.get("Item")
    return dict(item) if item else None
