"""CPU per in-process AWS request on the local stack: the unit cost behind every payment, and
what each speed patch (paycli/local/patches/speed_*.py) saves.

Each payment is about ten requests to moto (`throughput.py --count-calls`), so their cost sets
the stack's ceiling. This times the ones a payment makes, on the provisioned template's tables
and queue (plus a ReceiveMessage with a backlog and one execution of the payment state machine),
with patched moto and (in a subprocess) stock moto.

    .venv/bin/python benchmarks/moto_calls.py            # patched, then stock, and the ratios
    .venv/bin/python benchmarks/moto_calls.py --only     # patched only
    .venv/bin/python benchmarks/moto_calls.py --each     # % of CPU each speed patch saves

`--each` swaps the patches under one running stack: every round measures all patches on, then
each speed patch off in turn (interleaved, so the machine's noise hits all alike), and prints
per patch the largest saving over the operations: (CPU without it - CPU with all) / CPU
without it, median over rounds. A speed patch that saves less than about 5% is removed.

CPU time (process_time), median of 5 rounds: it does not depend on what else the machine runs.
Prints figures; asserts nothing (convention: benchmarks print, tests assert).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "stack" / "template.yaml"
ROUNDS = 5
BACKLOG = 200  # messages queued while ReceiveMessage is timed


def cpu_ms_per_call(call: Callable[[], Any], calls: int, rounds: int = ROUNDS) -> float:
    """Median over `rounds` rounds of CPU milliseconds per call, after a warm-up."""
    for _ in range(min(20, calls)):
        call()
    samples = []
    per_round = max(1, calls // rounds)
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(per_round):
            call()
        samples.append((time.process_time() - started) * 1000 / per_round)
    return round(statistics.median(samples), 3)


def operations(stack: Any, deployment: Any) -> dict[str, tuple[Callable[[], Any], float]]:
    """name -> (one call, its share of --calls), on the deployed template's resources."""
    ddb, sqs, sfn = stack.client("dynamodb"), stack.client("sqs"), stack.client("stepfunctions")
    table = deployment.outputs["AccountsTableName"]
    queue = deployment.outputs["DeadLetterQueueUrl"]
    backlog = sqs.create_queue(QueueName=f"backlog-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for index in range(1000):  # a table with some content, as in a run
        ddb.put_item(
            TableName=table,
            Item={
                "account_id": {"S": f"acc{index}"},
                "balance_minor": {"N": "100000"},
                "currency": {"S": "USD"},
                "version": {"N": "1"},
            },
        )
    for index in range(BACKLOG):
        sqs.send_message(QueueUrl=backlog, MessageBody=str(index))
    key = {"account_id": {"S": "acc5"}}
    machine = deployment.outputs["StateMachineArn"]
    payments, ledger = (
        deployment.outputs["PaymentsTableName"],
        deployment.outputs["LedgerTableName"],
    )
    payment = {"payment_id": {"S": "pay_bench"}}
    ddb.put_item(TableName=payments, Item={**payment, "status": {"S": "processing"}})

    def settlement() -> None:
        """The shape of a payment's settlement (paystack/domain/settlement.py): the payment's
        longer update and condition expressions, repeatable on the same items."""
        now = {"S": "2026-01-01T00:00:00.000000Z"}
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": key,
                        "UpdateExpression": "SET balance_minor = balance_minor - :amount, "
                        "version = version + :one, updated_at = :now",
                        "ConditionExpression": "attribute_exists(account_id) AND "
                        "balance_minor >= :amount AND currency = :currency",
                        "ExpressionAttributeValues": {
                            ":amount": {"N": "1"},
                            ":one": {"N": "1"},
                            ":now": now,
                            ":currency": {"S": "USD"},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": payments,
                        "Key": payment,
                        "UpdateExpression": "SET #status = :status, updated_at = :now "
                        "REMOVE reason, #error, cause",
                        "ConditionExpression": "attribute_exists(payment_id) AND "
                        "NOT #status IN (:succeeded, :declined)",
                        "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                        "ExpressionAttributeValues": {
                            ":status": {"S": "processing"},
                            ":succeeded": {"S": "succeeded"},
                            ":declined": {"S": "declined"},
                            ":now": now,
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": ledger,
                        "Item": {
                            "account_id": {"S": "acc5"},
                            "entry_id": {"S": uuid.uuid4().hex},
                            "amount_minor": {"N": "-1"},
                        },
                        "ConditionExpression": "attribute_not_exists(entry_id)",
                    }
                },
            ]
        )

    def execution() -> None:
        """One payment execution (an unknown payment: Validate, MarkFailed, SendToDlq, Fail)."""
        body = json.dumps({"payment_id": f"pay_{uuid.uuid4().hex}"})
        arn = sfn.start_execution(
            stateMachineArn=machine, name=uuid.uuid4().hex, input=json.dumps([{"body": body}])
        )["executionArn"]
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            time.sleep(0.002)

    return {
        "dynamodb.GetItem": (
            lambda: ddb.get_item(TableName=table, Key=key, ConsistentRead=True),
            1.0,
        ),
        "dynamodb.UpdateItem": (
            lambda: ddb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET version = version + :one",
                ConditionExpression="attribute_exists(account_id)",
                ExpressionAttributeValues={":one": {"N": "1"}},
            ),
            1.0,
        ),
        "dynamodb.TransactWriteItems": (
            lambda: ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": key,
                            "UpdateExpression": "SET balance_minor = balance_minor - :a",
                            "ConditionExpression": "balance_minor >= :a",
                            "ExpressionAttributeValues": {":a": {"N": "1"}},
                        }
                    }
                ]
            ),
            1.0,
        ),
        "dynamodb.TransactWriteItems(settlement)": (settlement, 0.5),
        "sqs.SendMessage": (
            lambda: sqs.send_message(QueueUrl=queue, MessageBody='{"payment_id": "x"}'),
            0.25,
        ),
        f"sqs.ReceiveMessage({BACKLOG} queued)": (
            lambda: sqs.receive_message(
                QueueUrl=backlog, MaxNumberOfMessages=10, VisibilityTimeout=0
            ),
            0.05,
        ),
        f"sqs.GetQueueAttributes({BACKLOG} queued)": (
            lambda: sqs.get_queue_attributes(
                QueueUrl=backlog,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "QueueArn",
                ],
            ),
            0.05,
        ),
        "stepfunctions.execution": (execution, 0.02),
    }


def _started(*, patched: bool) -> tuple[Any, Any]:
    from paycli.local.stack import LocalStack  # noqa: PLC0415 - after arg parsing

    stack = LocalStack(time_scale=0.01, patch_moto=patched, schedule_time_scale=1.0)
    stack.start()
    return stack, stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1")


def measure(*, patched: bool, calls: int) -> dict[str, float]:
    stack, deployment = _started(patched=patched)
    try:
        ops = operations(stack, deployment)
        return {
            name: cpu_ms_per_call(call, max(5, int(calls * share)))
            for name, (call, share) in ops.items()
        }
    finally:
        stack.stop()


def patch_operations() -> dict[str, str]:
    """The operation each speed patch is for (its record's `saves`): `--each` measures it there."""
    from paycli.local import patches  # noqa: PLC0415

    return {
        patch.name: patch.saves.operation for patch in patches.PATCHES if patch.saves is not None
    }


def each(*, calls: int, rounds: int, names: list[str] | None = None) -> dict[str, Any]:
    """Per speed patch, on its operation: CPU ms per call with every patch and without it,
    measured in A B B A order per round (drift in the process cancels out), garbage collected
    before each measurement."""
    import gc  # noqa: PLC0415

    from paycli.local import patches  # noqa: PLC0415

    stack, deployment = _started(patched=True)
    ops = operations(stack, deployment)
    operation_of = patch_operations()
    result: dict[str, Any] = {}

    def sample(name: str, exclude: tuple[str, ...]) -> float:
        call, share = ops[operation_of[name]]
        patches.restore()
        patches.apply(exclude=exclude)
        try:
            gc.collect()
            return cpu_ms_per_call(call, max(5, int(calls * share)), rounds=1)
        finally:
            patches.restore()
            patches.apply()

    try:
        for name, operation in operation_of.items():
            if names and name not in names:
                continue
            with_all: list[float] = []
            without: list[float] = []
            for _ in range(rounds):
                with_all.append(sample(name, ()))
                without.append(sample(name, (name,)))
                without.append(sample(name, (name,)))
                with_all.append(sample(name, ()))
            on, off = statistics.median(with_all), statistics.median(without)
            result[name] = {
                "operation": operation,
                "cpu_ms_with": round(on, 3),
                "cpu_ms_without": round(off, 3),
                "saves_pct": round(100 * (off - on) / off, 1),
            }
            print(json.dumps({name: result[name]}), file=sys.stderr, flush=True)
    finally:
        stack.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per operation")
    parser.add_argument("--stock", action="store_true", help="stock moto only (used internally)")
    parser.add_argument("--only", action="store_true", help="patched only, no stock comparison")
    parser.add_argument("--each", action="store_true", help="what each speed patch saves")
    parser.add_argument("--rounds", type=int, default=3, help="rounds for --each")
    parser.add_argument("--patch", action="append", help="with --each: only this patch")
    args = parser.parse_args()
    if args.each:
        print(json.dumps(each(calls=args.calls, rounds=args.rounds, names=args.patch), indent=1))
        return
    if args.stock:
        print(json.dumps(measure(patched=False, calls=args.calls)))
        return
    patched = measure(patched=True, calls=args.calls)
    print(json.dumps({"patched_cpu_ms_per_call": patched}))
    if args.only:
        return
    command = [sys.executable, __file__, "--stock", "--calls", str(args.calls)]
    stock = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)  # noqa: S603 - our own script
    print(json.dumps({"stock_cpu_ms_per_call": stock}))
    ratios = {name: round(stock[name] / patched[name], 2) for name in patched}
    print(json.dumps({"stock_over_patched": ratios}))


if __name__ == "__main__":
    main()
