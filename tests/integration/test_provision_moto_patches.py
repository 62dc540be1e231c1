"""Each moto patch in paycli/local/patches/, proven on the behaviour it fixes (MOTO_NOTES):
serialised DynamoDB/SQS, long polls that do not hold the lock, item-level transaction
rollback, no instance tracking, the parse cache, scaled ASL waits and the Lambda seam."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from waiting import wait_until

from paycli.local import patches
from paycli.local.stack import LocalStack

THREADS = 8


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    local = LocalStack(time_scale=0.001)
    local.start()
    try:
        yield local
    finally:
        local.stop()


def make_table(stack: LocalStack, name: str) -> None:
    stack.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def run_threads(count: int, target: Any) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_conditional_decrements_never_overdraw(stack: LocalStack) -> None:
    """MOTO_NOTES: 8x100 conditional decrements on 400 gave 486 successes and -2 unpatched.
    Serialised, exactly 400 succeed and the balance ends at 0."""
    make_table(stack, "balances")
    ddb = stack.client("dynamodb")
    ddb.put_item(TableName="balances", Item={"id": {"S": "acc"}, "balance": {"N": "400"}})
    successes: list[int] = []
    failures: list[str] = []

    def decrement(_index: int) -> None:
        for _ in range(100):
            try:
                ddb.update_item(
                    TableName="balances",
                    Key={"id": {"S": "acc"}},
                    UpdateExpression="SET balance = balance - :one",
                    ConditionExpression="balance >= :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
                successes.append(1)
            except ClientError as exc:
                failures.append(exc.response["Error"]["Code"])

    assert run_threads(THREADS, decrement) == []
    item = ddb.get_item(TableName="balances", Key={"id": {"S": "acc"}})["Item"]
    assert (len(successes), item["balance"]["N"]) == (400, "0")
    assert set(failures) == {"ConditionalCheckFailedException"}
    assert len(failures) == THREADS * 100 - 400


def test_concurrent_receives_deliver_each_message_once(stack: LocalStack) -> None:
    """MOTO_NOTES: concurrent ReceiveMessage raised 'Set changed size during iteration'."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="busy", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    for start in range(0, 200, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)],
        )
    received: list[str] = []

    def consume(_index: int) -> None:
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            received.extend(m["Body"] for m in messages)

    assert run_threads(THREADS, consume) == []
    assert sorted(received, key=int) == [str(i) for i in range(200)]


def test_long_poll_does_not_block_other_calls_and_wakes_on_send(stack: LocalStack) -> None:
    """A 5 s long poll on an empty queue leaves DynamoDB and SQS usable meanwhile, and returns
    as soon as a message arrives (the lock is never held across the wait)."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="idle")["QueueUrl"]
    make_table(stack, "side")
    result: dict[str, Any] = {}
    polling = threading.Event()

    def mark_polling(**_kwargs: Any) -> None:
        polling.set()

    def long_poll() -> None:
        started = time.monotonic()
        result["messages"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get(
            "Messages", []
        )
        result["waited"] = time.monotonic() - started

    # The side calls start once the poll's request is on its way into moto (botocore's
    # before-call event), not after a sleep hoped to be long enough.
    sqs.meta.events.register("before-call.sqs.ReceiveMessage", mark_polling, "test-polling")
    poller = threading.Thread(target=long_poll)
    poller.start()
    assert polling.wait(timeout=5), "the long poll never started"
    sqs.meta.events.unregister("before-call.sqs.ReceiveMessage", unique_id="test-polling")
    started = time.monotonic()
    for i in range(20):
        stack.client("dynamodb").put_item(TableName="side", Item={"id": {"S": str(i)}})
    side_calls = time.monotonic() - started
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    poller.join(timeout=10)

    assert side_calls < 2.5  # would be >= 5 s if the poll held the lock
    assert [m["Body"] for m in result["messages"]] == ["wake up"]
    assert result["waited"] < 4.5


def test_cancelled_transaction_rolls_back_only_touched_items(stack: LocalStack) -> None:
    """The first operation's write and an update are undone when a later condition fails; the
    table object itself is kept (stock moto swapped in a deep copy of the whole table)."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - moto internals

    make_table(stack, "ledger")
    ddb = stack.client("dynamodb")
    for i in range(50):
        ddb.put_item(TableName="ledger", Item={"id": {"S": f"old{i}"}, "v": {"N": str(i)}})
    backend = dynamodb_backends["123456789012"]["us-east-1"]
    table_before = backend.tables["ledger"]

    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "ledger", "Item": {"id": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": {"id": {"S": "old1"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "999"}},
                    }
                },
                {
                    "Put": {
                        "TableName": "ledger",
                        "Item": {"id": {"S": "old2"}},
                        "ConditionExpression": "attribute_not_exists(id)",
                    }
                },
            ]
        )

    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName="ledger", Key={"id": {"S": "new"}})
    old1 = ddb.get_item(TableName="ledger", Key={"id": {"S": "old1"}})["Item"]
    assert old1["v"]["N"] == "1"
    assert backend.tables["ledger"] is table_before
    assert ddb.scan(TableName="ledger", Select="COUNT")["Count"] == 50


def test_successful_transaction_writes_every_item(stack: LocalStack) -> None:
    make_table(stack, "pairs")
    ddb = stack.client("dynamodb")
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "pairs", "Item": {"id": {"S": "a"}}}},
            {"Put": {"TableName": "pairs", "Item": {"id": {"S": "b"}}}},
        ]
    )
    assert ddb.scan(TableName="pairs", Select="COUNT")["Count"] == 2


def test_repeated_expressions_answer_for_their_own_values(stack: LocalStack) -> None:
    """expression_tree_copy, expression_traversal and condition_lexer_cache reuse what one
    expression string parsed to: each call still binds its own values, and a reused condition
    still rejects what it should."""
    make_table(stack, "balances")
    ddb = stack.client("dynamodb")
    ddb.put_item(TableName="balances", Item={"id": {"S": "a"}, "b": {"N": "10"}, "c": {"S": "USD"}})

    def debit(amount: int, currency: str) -> None:
        ddb.update_item(
            TableName="balances",
            Key={"id": {"S": "a"}},
            UpdateExpression="SET b = b - :amount, #note = :note REMOVE gone",
            ConditionExpression="attribute_exists(id) AND b >= :amount AND c = :currency",
            ExpressionAttributeNames={"#note": "note"},
            ExpressionAttributeValues={
                ":amount": {"N": str(amount)},
                ":currency": {"S": currency},
                ":note": {"S": f"-{amount}"},
            },
        )

    debit(3, "USD")
    debit(4, "USD")
    for amount, currency in ((4, "USD"), (1, "EUR")):  # balance 3: too much; wrong currency
        with pytest.raises(ClientError) as caught:
            debit(amount, currency)
        assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    debit(3, "USD")
    item = ddb.get_item(TableName="balances", Key={"id": {"S": "a"}})["Item"]
    assert item["b"] == {"N": "0"}
    assert item["note"] == {"S": "-3"}


def test_model_instances_are_not_tracked(stack: LocalStack) -> None:
    """MOTO_NOTES: BaseModel.instances_tracked grew forever (710 MB after 1,000 payments)."""
    from moto.sqs.models import Message  # noqa: PLC0415 - moto internals

    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="tracked")["QueueUrl"]
    before = len(Message.instances_tracked)  # type: ignore[attr-defined]
    for i in range(20):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    assert len(Message.instances_tracked) == before  # type: ignore[attr-defined]


def test_asl_parse_is_cached() -> None:
    """MOTO_NOTES: about 25 ms to parse the ASL per execution; parsed once per definition."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import (  # noqa: PLC0415
        AmazonStateLanguageParser,
    )

    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    with patches.applied():
        assert AmazonStateLanguageParser.parse(definition) is AmazonStateLanguageParser.parse(
            definition
        )
    assert AmazonStateLanguageParser.parse(definition) is not AmazonStateLanguageParser.parse(
        definition
    ), "restore() puts moto's own parser back"


ROLE = "arn:aws:iam::123456789012:role/sfn"


def run_machine(
    stack: LocalStack,
    definition: dict[str, Any],
    timeout: float = 10,
    execution_input: str = "{}",
) -> Any:
    sfn = stack.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"m{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="run", input=execution_input)[
        "executionArn"
    ]

    def ended() -> Any:
        described = sfn.describe_execution(executionArn=execution)
        return described if described["status"] != "RUNNING" else None

    return wait_until(ended, timeout=timeout, what=f"execution {execution} to end")


def test_asl_waits_follow_the_time_scale(stack: LocalStack) -> None:
    """MOTO_NOTES: Retry waits are real sleeps. At time scale 0.001 a 1,000 s Wait state
    finishes in about a second."""
    described = run_machine(
        stack,
        {
            "StartAt": "Pause",
            "States": {"Pause": {"Type": "Wait", "Seconds": 1000, "End": True}},
        },
    )
    assert described["status"] == "SUCCEEDED"


def test_lambda_invoke_reaches_the_runner_with_lambdas_error_shape(
    stack: LocalStack, tmp_path: Any
) -> None:
    """The LambdaSimpleBackend.invoke seam: boto3's lambda.invoke runs the registered handler;
    a raised exception comes back as FunctionError Unhandled with errorType."""
    from paycli.local.model import FunctionSpec  # noqa: PLC0415

    (tmp_path / "seam_handler.py").write_text(
        "class IssuerUnavailableError(Exception):\n    pass\n\n"
        "def ok(event, context):\n    return {'doubled': event['n'] * 2}\n\n"
        "def boom(event, context):\n    raise IssuerUnavailableError('down')\n",
        encoding="utf-8",
    )
    lam = stack.client("lambda")
    for name in ("ok", "boom"):
        stack.runner.register(
            FunctionSpec(
                logical_id=name,
                function_name=f"seam-{name}",
                arn=f"arn:aws:lambda:us-east-1:123456789012:function:seam-{name}",
                code_dir=tmp_path,
                handler=f"seam_handler.{name}",
            )
        )

    ok = lam.invoke(FunctionName="seam-ok", Payload=b'{"n": 21}')
    boom = lam.invoke(FunctionName="seam-boom", Payload=b"{}")

    assert json.loads(ok["Payload"].read()) == {"doubled": 42}
    assert boom["FunctionError"] == "Unhandled"
    assert json.loads(boom["Payload"].read())["errorType"] == "IssuerUnavailableError"


def test_queue_counts_stay_right_around_sends(stack: LocalStack) -> None:
    """SendMessage skips the ApproximateNumberOfMessages* walk for itself only: the counts a
    caller asks for are still exact."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"}, {"Id": "b", "MessageBody": "b"}]
    )
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"


def test_definite_json_path_below_an_array_index_is_the_value(stack: LocalStack) -> None:
    """AWS: `$[0].body` on a Pipes batch is the body string (moto 5.2.5 gave a 1-element
    list), so States.StringToJson($[0].body) parses the SQS message as the ASL expects."""
    described = run_machine(
        stack,
        {
            "StartAt": "Parse",
            "States": {
                "Parse": {
                    "Type": "Pass",
                    "Parameters": {"message.$": "States.StringToJson($[0].body)"},
                    "End": True,
                }
            },
        },
        execution_input=json.dumps([{"body": json.dumps({"payment_id": "pay_1"})}]),
    )
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"message": {"payment_id": "pay_1"}}


def test_definite_json_paths_share_the_jsonpath_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """definite_json_paths (a correctness patch, installed before the speed ones) parses through
    whatever `parse` moto's json_path holds at call time, so jsonpath_cache serves it: one
    parse per path string, not a new PLY parser per evaluation (that was +12 ms daemon CPU per
    payment)."""
    from moto.stepfunctions.parser.asl.utils import json_path  # noqa: PLC0415

    parsed: list[str] = []
    moto_parse = json_path.parse  # type: ignore[attr-defined]

    def counting_parse(path: str) -> Any:
        parsed.append(path)
        return moto_parse(path)

    monkeypatch.setattr(json_path, "parse", counting_parse)
    batch = [{"body": "one"}]
    with patches.applied():
        values = [json_path.extract_json("$[0].body", batch) for _ in range(3)]
    assert values == ["one", "one", "one"]
    assert parsed == ["$[0].body"]


def test_interpreter_threads_are_not_kept(stack: LocalStack) -> None:
    """moto appended every execution's and Task's Thread to TMP_THREADS and never read it."""
    from moto.stepfunctions.parser.asl.component.state.exec import (  # noqa: PLC0415
        execute_state,
    )
    from moto.stepfunctions.parser.backend import execution_worker  # noqa: PLC0415

    for _ in range(3):
        run_machine(stack, {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    assert len(execution_worker.TMP_THREADS) == 0
    assert len(execute_state.TMP_THREADS) == 0


def test_finished_execution_keeps_history_and_description(stack: LocalStack) -> None:
    """A finished execution's interpreter state is compacted to its event list: history and
    DescribeExecution (output, error, cause) are what they were."""
    described = run_machine(
        stack,
        {
            "StartAt": "Work",
            "States": {
                "Work": {"Type": "Pass", "Result": {"ok": 1}, "Next": "Stop"},
                "Stop": {"Type": "Fail", "Error": "Boom", "Cause": "on purpose"},
            },
        },
    )
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "Boom",
        "on purpose",
    )
    events = stack.client("stepfunctions").get_execution_history(
        executionArn=described["executionArn"]
    )["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted"
    assert types[-1] == "ExecutionFailed"
    assert "PassStateExited" in types
