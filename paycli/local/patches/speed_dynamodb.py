"""Speed, DynamoDB: transactions and expressions moto recomputes for every request.

Same answers, less CPU. `apply(speed=False)` leaves these off.
"""

# ruff: noqa: PLC0415 - each patch imports the moto module it changes next to the change
from __future__ import annotations

import copy
import functools
import importlib
import json
import math
import threading
from functools import wraps
from typing import Any

from paycli.local.patches._base import Patch, Patcher, Purpose, Saving


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any]:
    """The (hash, range) DynamoType pair an operation touches."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_attr = table.range_key_attr
    range_value = DynamoType(attrs[range_attr]) if range_attr is not None else None
    return hash_value, range_value


def _restore_items(snapshots: list[tuple[Any, Any, Any, Any]]) -> None:
    """Put every touched item back as it was, newest snapshot last-restored-first."""
    for table, hash_value, range_value, item in reversed(snapshots):
        if range_value is not None:
            if item is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item


_skip_table_backup = threading.local()


class _TransactionCopy:
    """Stands in for the `copy` module inside moto.dynamodb.models.

    While this thread runs the patched transact_write_items, `deepcopy(table)` (the whole-table
    backup) returns the table itself: the original's rollback then re-assigns the live table to
    its own name (a no-op) and the item snapshots do the real rollback. Everywhere else, and on
    every other thread, it is the real `copy.deepcopy`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_skip_table_backup, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _install_transact_write_items(patcher: Patcher) -> None:
    """The original backs up whole tables to roll back a cancelled transaction; this version
    snapshots only the items the transaction touches and rolls those back, then delegates each
    operation to the original with tables still intact."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    patcher.set(dynamodb_models, "copy", _TransactionCopy())

    @wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            for op_type, op in entry.items():
                table = self.tables.get(op.get("TableName"))
                if table is None or op_type not in {"Put", "Delete", "Update"}:
                    continue
                try:
                    hash_value, range_value = _item_key(table, op_type, op)
                except (KeyError, TypeError):
                    continue  # malformed: the original raises the proper validation error
                current = table.get_item(hash_value, range_value)
                snapshots.append((table, hash_value, range_value, copy.deepcopy(current)))
        _skip_table_backup.active = True
        try:
            original(self, transact_items)
        except BaseException:
            _restore_items(snapshots)
            raise
        finally:
            _skip_table_backup.active = False

    patcher.set(DynamoDBBackend, "transact_write_items", transact_write_items)


TRANSACT_WRITE_ITEMS = Patch(
    name="transact_write_items",
    purpose=Purpose.SPEED,
    fixes="TransactWriteItems deep-copies every touched table to roll back: 22 ms at 1k "
    "items, 102 ms at 5k, 458 ms at 20k. Only the touched items are snapshotted.",
    targets={
        "moto.dynamodb.models:DynamoDBBackend.transact_write_items": "7d1752689437315a",
        "moto.dynamodb.models.table:Table.get_item": "22ca95e44e025f7e",
    },
    install=_install_transact_write_items,
    saves=Saving("dynamodb.TransactWriteItems", 24.85, 1.51),
)


def _is_json_native(value: Any) -> bool:
    """True for a tree of str, int, bool, finite float, list and dict only: what DynamoDB's
    wire format holds apart from blobs (floats: ConsumedCapacity), and what json.dumps writes
    exactly as the shape serializer does."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(type(key) is str and _is_json_native(item) for key, item in value.items())
    if kind is list:
        return all(_is_json_native(item) for item in value)
    return False


DYNAMODB_CONTENT_TYPE = "application/x-amz-json-1.0"


def _install_dynamodb_json_results(patcher: Patcher) -> None:
    """A successful result made only of strings, integers, finite floats, booleans, lists and
    dicts is written with json.dumps; anything else (errors, blobs, timestamps, None) still
    takes the serializer. tests/integration/test_moto_request_patches.py parses both bodies
    with botocore for a corpus of operations and compares them."""
    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler

    serialize = BaseResponse.serialized

    @wraps(serialize)
    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if type(result) is not dict or not _is_json_native(result):
            return serialize(self, action_result)
        headers = {"Content-Type": DYNAMODB_CONTENT_TYPE, **self.response_headers}
        return 200, headers, json.dumps(result, separators=(",", ":"))

    patcher.set(DynamoHandler, "serialized", serialized)


DYNAMODB_JSON_RESULTS = Patch(
    name="dynamodb_json_results",
    purpose=Purpose.SPEED,
    fixes="Every DynamoDB result goes through moto's generic shape serializer (32 lookups for "
    "a three-attribute GetItem, about 0.8 ms) to produce what DynamoHandler already built in "
    "wire form.",
    targets={"moto.core.responses:BaseResponse.serialized": "13346b9dcf82b22c"},
    install=_install_dynamodb_json_results,
    saves=Saving("dynamodb.GetItem", 1.041, 0.688),
)


def _install_update_expression_cache(patcher: Patcher) -> None:
    """The parsed tree is only read (find_clauses) or deep-copied before it is processed
    (Validator.__init__), so one parse per expression string is shared (bounded cache)."""
    parser = importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
    patcher.set(parser, "make", staticmethod(functools.lru_cache(maxsize=512)(parser.make)))


UPDATE_EXPRESSION_CACHE = Patch(
    name="update_expression_cache",
    purpose=Purpose.SPEED,
    fixes="UpdateItem parses its UpdateExpression twice per request (responses.py, then the "
    "backend), about 0.45 ms each; a TransactWriteItems Update does the same.",
    targets={
        "moto.dynamodb.parsing.expressions:UpdateExpressionParser.make": "86bf142b19a5fd67",
        "moto.dynamodb.parsing.validators:Validator.__init__": "e2193bb74cac256e",
    },
    install=_install_update_expression_cache,
    saves=Saving("dynamodb.UpdateItem", 3.032, 2.373, calls=2000, rounds=3),
)


PATCHES = (
    TRANSACT_WRITE_ITEMS,
    DYNAMODB_JSON_RESULTS,
    UPDATE_EXPRESSION_CACHE,
)
