"""DynamoDB's typed attribute values to plain Python, at the boundary (convention 4).

DynamoDB numbers come back as Decimal; money is an int of minor units, so integral numbers
become int here and nowhere else. A fractional number would be a bug upstream: kept as str.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

_DESERIALIZER = TypeDeserializer()


def _plain(value: Any) -> Any:
    """Decimal -> int (or str when fractional), recursively through maps and lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | set):
        return [_plain(inner) for inner in value]
    return value


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A low-level client item ({"amount_minor": {"N": "1250"}}) as {"amount_minor": 1250}."""
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}
