"""The DynamoDB boundary: table names, item (de)serialisation, timestamps, error inspection.

DynamoDB returns every number as Decimal; `from_item` turns them into int here, once, so the
rest of the code only ever sees integer minor units. Floats are refused by boto3's serializer,
which is what we want: a float amount is a bug.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from paystack.domain.backoff import Backoff

# Re-exported: the domain imports them from here (they live apart, free of boto3).
from paystack.domain.timestamps import iso_timestamp as iso_timestamp  # noqa: PLC0414
from paystack.domain.timestamps import normalize_timestamp as normalize_timestamp  # noqa: PLC0414

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesTypeDef,
        TransactWriteItemTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()

# BatchGetItem requests sent before giving up on keys DynamoDB keeps leaving unprocessed, and
# the full-jitter backoff between them: the base doubles per retry (20, 40, 80 ms), capped.
BATCH_GET_ATTEMPTS = 4
BATCH_GET_BACKOFF = Backoff(base_seconds=0.02, cap_seconds=0.2)


class BatchReadIncompleteError(Exception):
    """BatchGetItem still left keys unprocessed after BATCH_GET_ATTEMPTS requests (the tables'
    throughput is exhausted): a technical failure, like a throttled GetItem after botocore's
    retries. Nothing was written, so the caller may simply be run again."""


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


def transact(ddb: DynamoDBClient, items: Sequence[TransactWriteItemTypeDef]) -> ClientError | None:
    """Write `items` as one transaction: None once written, or the TransactionCanceledException
    when a condition or a conflicting write stopped it (nothing written; its
    cancellation_reasons say which item and why). Any other error raises."""
    try:
        ddb.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) != "TransactionCanceledException":
            raise
        return exc
    return None


def cancellation_reasons(error: ClientError) -> list[dict[str, Any]]:
    """TransactWriteItems' per-item CancellationReasons, in the order the items were sent."""
    reasons = error.response.get("CancellationReasons", [])
    return [dict(reason) for reason in reasons]


def cancelled_item(error: ClientError, index: int) -> Item | None:
    """The ALL_OLD copy of transaction item `index` when that item's condition failed (sent
    with ReturnValuesOnConditionCheckFailure=ALL_OLD); None if it did not fail there or no item
    existed."""
    reasons = cancellation_reasons(error)
    if index >= len(reasons) or reasons[index].get("Code") != "ConditionalCheckFailed":
        return None
    item = reasons[index].get("Item")
    return dict(item) if item else None


def condition_failure_item(error: ClientError) -> Item | None:
    """The item a failed conditional write found, when it was sent with
    ReturnValuesOnConditionCheckFailure=ALL_OLD; None if there was no item (or no copy)."""
    response: Mapping[str, Any] = error.response
    item = response.get("Item")
    return dict(item) if item else None


def get_consistent(
    ddb: DynamoDBClient, table: str, key: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The item under `key` ({attribute: plain value}), read strongly consistently and
    deserialised, or None."""
    item = ddb.get_item(TableName=table, Key=to_item(key), ConsistentRead=True).get("Item")
    return None if item is None else from_item(item)


T = TypeVar("T")


def find_by_id(
    ddb: DynamoDBClient,
    table: str,
    key: tuple[str, str],
    pattern: re.Pattern[str],
    parse: Callable[[dict[str, Any]], T],
) -> T | None:
    """The item whose key attribute `key[0]` is `key[1]`, read strongly consistently and
    parsed, or None. An id that does not fit `pattern` cannot be ours: None without a call."""
    name, value = key
    if not pattern.fullmatch(value):
        return None
    attrs = get_consistent(ddb, table, {name: value})
    return None if attrs is None else parse(attrs)


def batch_get_consistent(
    ddb: DynamoDBClient, keys: Mapping[str, list[Item]], *, backoff: Backoff = BATCH_GET_BACKOFF
) -> dict[str, list[Item]]:
    """The items found under `keys` ({table: [key, ...]}), read strongly consistently in one
    BatchGetItem: {table: [item, ...]}, missing items simply absent, in no particular order.

    DynamoDB may answer part of a batch and return the rest as UnprocessedKeys (with HTTP 200,
    so botocore's retries never see it). Those keys, and only those, are asked again after a
    short backoff, still ConsistentRead; after BATCH_GET_ATTEMPTS requests the read fails with
    BatchReadIncompleteError rather than passing off a partial answer as "not found".
    """
    found: dict[str, list[Item]] = {table: [] for table in keys}
    pending: dict[str, KeysAndAttributesTypeDef] = {
        table: {"Keys": table_keys, "ConsistentRead": True}
        for table, table_keys in keys.items()
        if table_keys
    }
    for attempt in range(BATCH_GET_ATTEMPTS):
        if not pending:
            break
        if attempt:
            backoff.pause(attempt)
        response = ddb.batch_get_item(RequestItems=pending)
        for table, items in response.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        pending = {
            table: {"Keys": unprocessed["Keys"], "ConsistentRead": True}
            for table, unprocessed in response.get("UnprocessedKeys", {}).items()
            if unprocessed.get("Keys")
        }
    if pending:
        tables = ", ".join(sorted(pending))
        raise BatchReadIncompleteError(
            f"BatchGetItem left keys of {tables} unprocessed after {BATCH_GET_ATTEMPTS} requests"
        )
    return found
