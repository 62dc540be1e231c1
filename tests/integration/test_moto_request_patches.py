"""The request-overhead patches in paycli/local/patches.py change how fast moto answers, never
what a client receives: DynamoDB results written with json.dumps parse exactly as the shape
serializer's, cached update expressions apply each request's own values, and only requests
that never leave the process skip SigV4."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from moto.core.botocore_stubber import MockRawResponse
from moto.core.responses import BaseResponse
from moto.dynamodb.responses import DynamoHandler

from paycli.local import patches, sigv4
from paycli.local.stack import LocalStack
from paycli.local.state import LOCAL_ACCESS_KEY

TABLE = "patched-requests"


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    local = LocalStack(time_scale=0.001)
    local.start()
    try:
        local.client("dynamodb").create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield local
    finally:
        local.stop()


# Every attribute type, nested, so the corpus exercises each branch of AttributeValue.
RICH_ITEM: dict[str, Any] = {
    "pk": {"S": "acc"},
    "sk": {"N": "1"},
    "name": {"S": "Zoë ✓"},
    "amount": {"N": "-1250"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "tags": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "blob": {"B": b"\x00\xffraw"},
    "blobs": {"BS": [b"x", b"y"]},
    "nested": {
        "M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {"deep": {"BOOL": False}}}]}},
    },
}


def _requests(ddb: Any) -> list[tuple[str, dict[str, Any]]]:
    """A corpus of DynamoDB requests: every data-plane operation the product and the CLI use,
    each ReturnValues variant, pagination, and error results."""
    key = {"pk": {"S": "acc"}, "sk": {"N": "1"}}
    plain = {k: v for k, v in RICH_ITEM.items() if k not in {"blob", "blobs"}}
    update = {
        "TableName": TABLE,
        "Key": key,
        "UpdateExpression": "SET amount = amount + :d",
        "ExpressionAttributeValues": {":d": {"N": "5"}},
    }
    return [
        ("put_item", {"TableName": TABLE, "Item": plain}),
        ("put_item", {"TableName": TABLE, "Item": plain, "ReturnValues": "ALL_OLD"}),
        ("put_item", {"TableName": TABLE, "Item": {**RICH_ITEM, "sk": {"N": "3"}}}),
        ("get_item", {"TableName": TABLE, "Key": {"pk": {"S": "acc"}, "sk": {"N": "3"}}}),
        ("put_item", {"TableName": TABLE, "Item": {**plain, "sk": {"N": "2"}}}),
        ("get_item", {"TableName": TABLE, "Key": key, "ConsistentRead": True}),
        ("get_item", {"TableName": TABLE, "Key": {"pk": {"S": "none"}, "sk": {"N": "0"}}}),
        ("get_item", {"TableName": TABLE, "Key": key, "ReturnConsumedCapacity": "TOTAL"}),
        ("update_item", update),
        *[("update_item", {**update, "ReturnValues": rv}) for rv in ("ALL_NEW", "UPDATED_OLD")],
        (
            "update_item",
            {
                **update,
                "ConditionExpression": "amount > :big",
                "ExpressionAttributeValues": {":d": {"N": "1"}, ":big": {"N": "99999"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            "query",
            {
                "TableName": TABLE,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "acc"}},
                "Limit": 1,
            },
        ),
        (
            "query",
            {
                "TableName": TABLE,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "acc"}},
                "Select": "COUNT",
            },
        ),
        ("scan", {"TableName": TABLE, "Limit": 1, "ReturnConsumedCapacity": "TOTAL"}),
        ("batch_get_item", {"RequestItems": {TABLE: {"Keys": [key], "ConsistentRead": True}}}),
        ("transact_get_items", {"TransactItems": [{"Get": {"TableName": TABLE, "Key": key}}]}),
        (
            "transact_write_items",
            {
                "TransactItems": [
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": key,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    }
                ]
            },
        ),
        ("transact_write_items", {"TransactItems": [{"Update": update}]}),
        (
            "batch_write_item",
            {
                "RequestItems": {
                    TABLE: [{"DeleteRequest": {"Key": {"pk": {"S": "acc"}, "sk": {"N": "2"}}}}]
                }
            },
        ),
        ("describe_table", {"TableName": TABLE}),
        ("delete_item", {"TableName": TABLE, "Key": key, "ReturnValues": "ALL_OLD"}),
        ("get_item", {"TableName": "no-such-table", "Key": key}),
    ]


def test_dynamodb_results_parse_exactly_as_the_shape_serializer_writes_them(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For each response of the corpus, the body the patch wrote and the body moto's own
    serializer writes for the same result parse (with botocore, as a client does) to the same
    output; and the corpus really took the fast path, not only the fallback."""
    seen: list[tuple[DynamoHandler, Any, tuple[Any, ...]]] = []
    patched = DynamoHandler.serialized

    def recording(self: DynamoHandler, action_result: Any) -> Any:
        response = patched(self, action_result)
        seen.append((self, action_result, response))
        return response

    monkeypatch.setattr(DynamoHandler, "serialized", recording)
    ddb = stack.client("dynamodb")
    for operation, params in _requests(ddb):
        with contextlib.suppress(ClientError):  # errors are part of the corpus
            getattr(ddb, operation)(**params)

    parser = create_parser("json")
    fast = 0
    for handler, action_result, (status, headers, body) in seen:
        ref_status, ref_headers, ref_body = BaseResponse.serialized(handler, action_result)
        shape = ddb.meta.service_model.operation_model(handler._get_action()).output_shape
        if isinstance(action_result.result, Exception):
            assert body == ref_body
            continue
        fast += patches._is_json_native(action_result.result)  # took the json.dumps path
        assert status == ref_status
        assert headers["Content-Type"] == ref_headers["Content-Type"]
        ours = parser.parse({"body": _bytes(body), "headers": headers, "status_code": 200}, shape)
        theirs = parser.parse(
            {"body": _bytes(ref_body), "headers": ref_headers, "status_code": 200}, shape
        )
        ours.pop("ResponseMetadata", None)
        theirs.pop("ResponseMetadata", None)
        assert ours == theirs, handler._get_action()
    # Some errors never reach `serialized` (moto raises them as HTTP errors); every success
    # does, and at least the item-carrying ones were written by the fast path.
    assert fast >= 16, fast


def _bytes(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def test_a_cached_update_expression_applies_each_requests_own_values(stack: LocalStack) -> None:
    """The parsed UpdateExpression is shared between requests; the values bound into it are
    not: the same expression with :d = 1, then 10, then 100 adds 111."""
    ddb = stack.client("dynamodb")
    key = {"pk": {"S": "counter"}, "sk": {"N": "0"}}
    ddb.put_item(TableName=TABLE, Item={**key, "n": {"N": "0"}})
    for delta in ("1", "10", "100"):
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET n = n + :d",
            ExpressionAttributeValues={":d": {"N": delta}},
        )
    item = ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "111"}
    for _ in range(2):  # a bad expression is refused every time, not only before caching
        with pytest.raises(ClientError, match="ValidationException"):
            ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET n = = :d")


def test_in_process_requests_carry_the_credential_scope_and_each_its_own_request_id(
    stack: LocalStack,
) -> None:
    """moto reads the access key and region from the Authorization header: an in-process
    request keeps the client's real credential scope; response request ids stay unique."""
    headers: list[dict[str, str | bytes]] = []
    ddb = stack.client("dynamodb")
    ddb.meta.events.register(
        "before-send.dynamodb", lambda request, **_: headers.append(dict(request.headers))
    )
    ids = {ddb.describe_table(TableName=TABLE)["ResponseMetadata"]["RequestId"] for _ in range(20)}
    assert len(ids) == 20
    authorization = headers[-1]["Authorization"]
    if isinstance(authorization, bytes):  # botocore's prepared headers hold bytes
        authorization = authorization.decode()
    assert f"Credential={LOCAL_ACCESS_KEY}/" in authorization
    assert "/us-east-1/dynamodb/aws4_request" in authorization


def test_requests_to_other_hosts_are_still_signed_for_real(stack: LocalStack) -> None:
    """A client of the local API (a loopback host, never answered in process) sends a SigV4
    signature that the local API's verifier accepts, while the mock is active."""
    sent: list[Any] = []

    def capture(request: Any, **_: Any) -> Any:
        sent.append(request)
        return AWSResponse(request.url, 200, HTTPHeaders(), MockRawResponse(b"{}"))

    session = boto3.session.Session(
        aws_access_key_id="AKIDLOCALTEST", aws_secret_access_key="local-secret"
    )
    client = session.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}),
    )
    client.meta.events.register("before-send.sqs", capture)
    client.list_queues()
    (request,) = sent
    split = urlsplit(request.url)
    headers = [
        (name, value.decode() if isinstance(value, bytes) else value)
        for name, value in request.headers.items()
    ]
    headers.append(("Host", split.netloc))
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    access_key = sigv4.verify(
        request.method,
        split.path or "/",
        headers,
        body,
        access_key="AKIDLOCALTEST",
        secret_key="local-secret",
        region="us-east-1",
        service="sqs",
    )
    assert access_key == "AKIDLOCALTEST"
    assert json.loads(body) == {}


def _apply_updates(ddb: Any, key: dict[str, Any]) -> dict[str, Any]:
    """Every kind of update clause and condition, on one item."""
    ddb.put_item(
        TableName=TABLE,
        Item={
            **key,
            "n": {"N": "1"},
            "gone": {"S": "x"},
            "tags": {"SS": ["a", "b"]},
            "items": {"L": [{"S": "first"}]},
            "doc": {"M": {"level": {"N": "5"}}},
        },
    )
    ddb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET n = n + :one, #d.#l = #d.#l - :one, "
        "fresh = if_not_exists(fresh, :zero), #items = list_append(#items, :more) "
        "REMOVE gone ADD tally :one DELETE tags :a",
        ConditionExpression="attribute_exists(n) AND n < :ten AND NOT #d.#l IN (:zero, :ten)",
        ExpressionAttributeNames={"#d": "doc", "#l": "level", "#items": "items"},
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":zero": {"N": "0"},
            ":ten": {"N": "10"},
            ":more": {"L": [{"S": "second"}]},
            ":a": {"SS": ["a"]},
        },
    )
    condition = "attribute_exists(n) AND n < :ten AND NOT #d.#l IN (:zero, :ten)"
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.update_item(  # same condition text, values that make it false
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET n = n + :one",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#d": "doc", "#l": "level"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}, ":ten": {"N": "2"}},
        )
    with pytest.raises(ClientError, match="Cannot update attribute pk"):
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET pk = :v",
            ExpressionAttributeValues={":v": {"S": "other"}},
        )
    item: dict[str, Any] = ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    return item


def test_update_and_condition_expressions_give_the_same_items_when_cached(
    stack: LocalStack,
) -> None:
    """Parsed update expressions, their copies, the tree walk and lexed conditions are reused
    from the second request on; the same requests on a second item give the same result as on
    the first, and that result is DynamoDB's."""
    ddb = stack.client("dynamodb")
    first = _apply_updates(ddb, {"pk": {"S": "first"}, "sk": {"N": "0"}})
    second = _apply_updates(ddb, {"pk": {"S": "second"}, "sk": {"N": "0"}})
    assert {**second, "pk": first["pk"]} == first
    assert first["n"] == {"N": "2"}
    assert first["doc"] == {"M": {"level": {"N": "4"}}}
    assert first["fresh"] == {"N": "0"}
    assert first["items"] == {"L": [{"S": "first"}, {"S": "second"}]}
    assert first["tally"] == {"N": "1"}
    assert first["tags"] == {"SS": ["b"]}
    assert "gone" not in first


_SIGNED = {
    "User-Agent": "Boto3/1.40.0 md/Botocore#1.44.8 ua/2.1 os/linux lang/python#3.11.7",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/x/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
    "amz-sdk-invocation-id": "3f2a",
    "amz-sdk-request": "attempt=1",
}
# (method, url, headers, body): each shape is built twice, the second from its template.
ENVIRON_CORPUS: list[tuple[str, str, dict[str, Any], bytes | None]] = [
    (
        "POST",
        "https://dynamodb.us-east-1.amazonaws.com/",
        {
            "X-Amz-Target": "DynamoDB_20120810.GetItem",
            "Content-Type": "application/x-amz-json-1.0",
            **_SIGNED,
            "Content-Length": "56",
        },
        b'{"TableName": "t", "Key": {"pk": {"S": "Zo\xc3\xab"}}, "x": 1}',
    ),
    (
        "POST",
        "https://sqs.us-east-1.amazonaws.com/",
        {
            "X-Amz-Target": b"AmazonSQS.SendMessage",  # bytes values, as botocore may send
            "Content-Type": b"application/x-amz-json-1.0",
            **_SIGNED,
            "Transfer-Encoding": "chunked",  # left out, as moto does
        },
        b'{"QueueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "MessageBody": "{}"}',
    ),
    (
        "POST",
        "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/"
        "arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations?Qualifier=%24LATEST",
        {"X-Amz-Invocation-Type": "RequestResponse", **_SIGNED},
        b'{"payment_id": "pay_1"}',
    ),
    (
        "PUT",
        "http://127.0.0.1:5000/bucket/key%2Fwith%20space?x-id=PutObject",
        {"x-amz-meta-my_key": "kept", "X-Amz-Meta-Other": "v", **_SIGNED},
        b"\x00\xffbinary",
    ),
    (  # two names werkzeug folds into one key: never from a template
        "POST",
        "https://sqs.us-east-1.amazonaws.com/",
        {"X-Thing": "a", "X_Thing": "b", **_SIGNED},
        b"{}",
    ),
    ("GET", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f", _SIGNED, b""),
    ("GET", "https://sts.amazonaws.com/?Action=GetCallerIdentity", _SIGNED, None),
]


def _built(method: str, url: str, headers: dict[str, Any], body: bytes | None) -> Any:
    from moto.core.request import Request  # noqa: PLC0415 - as patched (or not) now

    request = Request.from_primitives(method, url, dict(headers), body)
    environ = dict(request.environ)
    environ.pop("wsgi.input")  # read below, as request.data
    environ.pop("werkzeug.request", None)
    return {
        "environ": environ,
        "headers": list(request.headers),
        "data": request.data,
        "raw_url": request.raw_url,
        "values": request.values.to_dict(flat=False),
        "content_type": request.content_type,
    }


@pytest.mark.parametrize("case", ENVIRON_CORPUS, ids=lambda case: f"{case[0]} {case[1][:40]}")
def test_a_request_built_from_its_shapes_template_is_the_one_werkzeug_builds(
    case: tuple[str, str, dict[str, Any], bytes | None],
) -> None:
    """request_environ_cache: the second request of a shape (method, URL, header names) is
    built from the first one's environ; its environ, headers, body, URL and form values are
    what moto's werkzeug path gives, for JSON, query and REST requests, bytes header values,
    meta headers kept by their original names, and folded names (never cached)."""
    stock = _built(*case)
    with patches.applied():
        assert "request_environ_cache" in patches.active()
        first = _built(*case)
        second = _built(*case)
    assert first == stock
    assert second == stock


def test_a_cached_condition_parse_is_evaluated_against_each_items_state(
    stack: LocalStack,
) -> None:
    """condition_parse_cache: the same condition with the same names and values, parsed once,
    still decides per item and per moment (the second identical decrement fails once the
    balance is too low); a name only the condition uses counts as used every time (the
    parser's found-names come with the cached parse) and one nothing uses is refused every
    time."""
    ddb = stack.client("dynamodb")
    key = {"pk": {"S": "cond"}, "sk": {"N": "0"}}
    ddb.put_item(TableName=TABLE, Item={**key, "balance": {"N": "5"}})
    decrement = {
        "Update": {
            "TableName": TABLE,
            "Key": key,
            "UpdateExpression": "SET balance = balance - :amount",
            "ConditionExpression": "attribute_exists(pk) AND balance >= :amount",
            "ExpressionAttributeValues": {":amount": {"N": "3"}},
        }
    }
    ddb.transact_write_items(TransactItems=[decrement])
    with pytest.raises(ClientError, match="TransactionCanceledException") as refused:
        ddb.transact_write_items(TransactItems=[decrement])
    reasons = refused.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["ConditionalCheckFailed"]
    item = ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    assert item["balance"] == {"N": "2"}
    for _ in range(2):
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET balance = :v",
            ConditionExpression="attribute_exists(#p)",
            ExpressionAttributeNames={"#p": "pk"},
            ExpressionAttributeValues={":v": {"N": "2"}},
        )
        with pytest.raises(ClientError, match="unused in expressions"):
            ddb.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET balance = :v",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#unused": "x"},
                ExpressionAttributeValues={":v": {"N": "1"}},
            )
    assert "condition_parse_cache" in patches.active()
