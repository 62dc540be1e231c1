"""Speed, DynamoDB: transactions and expressions moto recomputes for every request.

Same answers, less CPU. `apply(speed=False)` leaves these off.
"""

# ruff: noqa: PLC0415 - each patch imports the moto module it changes next to the change
from __future__ import annotations

import collections
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


def _install_expression_traversal(patcher: Patcher) -> None:
    """The node types are the same for the whole walk, so they are asked for once per walk;
    the walk is unchanged (children first, in order; a processed node replaces itself in its
    parent). Node classes are ABCs, whose isinstance checks are slow, so class membership is
    kept per class."""
    # ast_nodes.py starts with "# type: ignore", so mypy sees none of its names.
    ast_nodes: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
    node_type = ast_nodes.Node
    is_node_class: dict[type, bool] = {}

    def traverse(self: Any, root: Any) -> Any:
        kinds = self.nodes_to_be_processed()
        handled: dict[type, bool] = {}
        pre_processing_of_child = self.pre_processing_of_child
        process = self.process

        def visit(node: Any, child_id: int) -> Any:
            cls = type(node)
            is_node = is_node_class.get(cls)
            if is_node is None:
                is_node = is_node_class[cls] = issubclass(cls, node_type)
            if is_node:
                parent_node = node.parent
                if node.children is not None:
                    for index, child in enumerate(node.children):
                        pre_processing_of_child(node, index)
                        visit(child, index)
                hit = handled.get(cls)
                if hit is None:
                    hit = handled[cls] = issubclass(cls, kinds)
                if hit:
                    node = process(node)
                    node.parent = parent_node
                    if parent_node:
                        parent_node.children[child_id] = node
            return node

        return visit(root, -1)

    patcher.set(ast_nodes.DepthFirstTraverser, "traverse", traverse)


EXPRESSION_TRAVERSAL = Patch(
    name="expression_traversal",
    purpose=Purpose.SPEED,
    fixes="Validator.validate runs ten processors over each update's expression tree and "
    "DepthFirstTraverser asks each processor for its node types at every node visited (135 "
    "times per update).",
    targets={
        "moto.dynamodb.parsing.ast_nodes:DepthFirstTraverser": "7891adb36657a6f2",
        "moto.dynamodb.parsing.validators:Validator.validate": "a4499db4ce189baf",
    },
    install=_install_expression_traversal,
    saves=Saving("dynamodb.TransactWriteItems(settlement)", 3.92, 3.572, calls=1000, rounds=3),
)


def _copy_tree(node: Any, parent: Any, node_type: type) -> Any:
    """A copy of a parsed expression tree whose attributes are only nodes, lists of them,
    strings, numbers and None; anything else raises TypeError (the caller deep-copies)."""
    clone = object.__new__(type(node))
    for name, value in vars(node).items():
        if name == "parent":
            copied: Any = parent
        elif isinstance(value, node_type):
            copied = _copy_tree(value, clone, node_type)
        elif type(value) is list:
            copied = [
                _copy_tree(item, clone, node_type) if isinstance(item, node_type) else _leaf(item)
                for item in value
            ]
        else:
            copied = _leaf(value)
        setattr(clone, name, copied)
    return clone


def _leaf(value: Any) -> Any:
    if value is None or type(value) in {str, int, bool}:
        return value
    raise TypeError(type(value))


def _install_expression_tree_copy(patcher: Patcher) -> None:
    """A freshly parsed tree holds only nodes, their child lists and strings (values are bound
    later, on the copy), so it is copied node by node; anything else still goes to
    copy.deepcopy. The copy is what the validator mutates, so a shared parsed tree is never
    changed."""
    node_type = importlib.import_module("moto.dynamodb.parsing.ast_nodes").Node
    validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if memo is None and isinstance(value, node_type) and value.parent is None:
            try:
                return _copy_tree(value, None, node_type)
            except TypeError:
                pass
        return copy.deepcopy(value, memo)

    patcher.set(validators, "deepcopy", deepcopy)


EXPRESSION_TREE_COPY = Patch(
    name="expression_tree_copy",
    purpose=Purpose.SPEED,
    fixes="Validator.__init__ deep-copies the parsed UpdateExpression through copy.deepcopy's "
    "generic machinery (about 0.3 ms).",
    targets={
        "moto.dynamodb.parsing.validators:Validator.__init__": "e2193bb74cac256e",
        "moto.dynamodb.parsing.validators:deepcopy": "483e927a310d78f8",
    },
    install=_install_expression_tree_copy,
    saves=Saving("dynamodb.TransactWriteItems(settlement)", 3.782, 3.555, calls=1000, rounds=3),
)

_CONDITION_CACHE_SIZE = 512


def _install_condition_lexer_cache(patcher: Patcher) -> None:
    """The tokens depend only on the expression string; they are cached per string and handed
    out as fresh tokens (`children` is the only mutable field, and a lexed token's is empty)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lex = ConditionExpressionParser._lex_condition_expression
    cache: dict[str, tuple[Any, ...]] = {}

    @wraps(lex)
    def lex_condition_expression(self: Any) -> Any:
        expression = self.condition_expression
        tokens = cache.get(expression)
        if tokens is None:
            lexed = lex(self)
            if len(cache) >= _CONDITION_CACHE_SIZE or any(token.children for token in lexed):
                return lexed
            tokens = cache.setdefault(expression, tuple(lexed))
        return collections.deque(token._replace(children=[]) for token in tokens)

    patcher.set(ConditionExpressionParser, "_lex_condition_expression", lex_condition_expression)


CONDITION_LEXER_CACHE = Patch(
    name="condition_lexer_cache",
    purpose=Purpose.SPEED,
    fixes="ConditionExpressionParser lexes each ConditionExpression from scratch, compiling "
    "its token regexes for every token (about 0.1 ms per condition).",
    targets={
        "moto.dynamodb.comparisons"
        ":ConditionExpressionParser._lex_condition_expression": "df99105f034470ac",
    },
    install=_install_condition_lexer_cache,
    saves=Saving("dynamodb.TransactWriteItems(settlement)", 3.967, 3.503, calls=1000, rounds=3),
)


#: How many (expression, names, values) condition parses are kept (least recently used go).
_CONDITION_PARSES = 256


def _install_condition_parse_cache(patcher: Patcher) -> None:
    """The parsed condition (an Op tree that evaluation only reads) and the names and values
    it used depend only on the expression and the request's names and values; a parse of the
    same three is handed out again, with the parser's found-lists filled as a parse fills
    them. Values that are not JSON (binary) are parsed each time; failures are never kept."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = ConditionExpressionParser.parse
    cache: collections.OrderedDict[tuple[Any, str, str], Any] = collections.OrderedDict()
    lock = threading.Lock()

    @wraps(parse)
    def cached_parse(self: Any) -> Any:
        try:
            key = (
                self.condition_expression,
                json.dumps(self.expression_attribute_names, sort_keys=True),
                json.dumps(self.expression_attribute_values, sort_keys=True),
            )
        except (TypeError, ValueError):  # bytes values: not worth a key
            return parse(self)
        with lock:
            entry = cache.get(key)
            if entry is not None:
                cache.move_to_end(key)
        if entry is None:
            names_before = len(self.expr_attr_names_found)
            values_before = len(self.expr_attr_values_found)
            op = parse(self)
            entry = (
                op,
                tuple(self.expr_attr_names_found[names_before:]),
                tuple(self.expr_attr_values_found[values_before:]),
            )
            with lock:
                cache[key] = entry
                if len(cache) > _CONDITION_PARSES:
                    cache.popitem(last=False)
            return op
        op, names, values = entry
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return op

    patcher.set(ConditionExpressionParser, "parse", cached_parse)


CONDITION_PARSE_CACHE = Patch(
    name="condition_parse_cache",
    purpose=Purpose.SPEED,
    fixes="TransactWriteItems parses each item's ConditionExpression three times with the "
    "same names and values (the transaction's check, then update_item or put_item, each "
    "building its own parser): nine parses for the settlement's three items.",
    targets={
        "moto.dynamodb.comparisons:ConditionExpressionParser.parse": "3b1a02a62b20154d",
        "moto.dynamodb.comparisons:ConditionExpressionParser.__init__": "ffaabd8cbd497446",
        "moto.dynamodb.models:DynamoDBBackend.transact_write_items": "7d1752689437315a",
    },
    install=_install_condition_parse_cache,
    saves=Saving("dynamodb.TransactWriteItems(settlement)", 4.95, 3.926, calls=1000, rounds=3),
)

PATCHES = (
    TRANSACT_WRITE_ITEMS,
    DYNAMODB_JSON_RESULTS,
    UPDATE_EXPRESSION_CACHE,
    EXPRESSION_TRAVERSAL,
    EXPRESSION_TREE_COPY,
    CONDITION_LEXER_CACHE,
    CONDITION_PARSE_CACHE,
)
