"""CPU per in-process AWS request on the local stack: the unit cost behind every payment.

Each payment is about ten requests to moto (`throughput.py --count-calls`), so their cost sets
the stack's ceiling. This times the ones a payment makes, on the provisioned template's tables
and queue, with patched moto and (in a subprocess, since patches are process-wide) stock moto.

    .venv/bin/python benchmarks/moto_calls.py            # patched, then stock, and the ratios
    .venv/bin/python benchmarks/moto_calls.py --only     # patched only

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "stack" / "template.yaml"
ROUNDS = 5


def cpu_ms_per_call(call: Callable[[], Any], calls: int) -> float:
    """Median over ROUNDS rounds of CPU milliseconds per call, after a warm-up."""
    for _ in range(20):
        call()
    samples = []
    per_round = max(1, calls // ROUNDS)
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(per_round):
            call()
        samples.append((time.process_time() - started) * 1000 / per_round)
    return round(statistics.median(samples), 3)


def measure(*, patched: bool, calls: int) -> dict[str, float]:
    from paycli.local.stack import LocalStack  # noqa: PLC0415 - after arg parsing

    stack = LocalStack(time_scale=0.01, patch_moto=patched)
    stack.start()
    deployment = stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1")
    ddb, sqs = stack.client("dynamodb"), stack.client("sqs")
    table = deployment.outputs["AccountsTableName"]
    queue = deployment.outputs["DeadLetterQueueUrl"]
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
    key = {"account_id": {"S": "acc5"}}
    results = {
        "dynamodb.GetItem": cpu_ms_per_call(
            lambda: ddb.get_item(TableName=table, Key=key, ConsistentRead=True), calls
        ),
        "dynamodb.UpdateItem": cpu_ms_per_call(
            lambda: ddb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET version = version + :one",
                ConditionExpression="attribute_exists(account_id)",
                ExpressionAttributeValues={":one": {"N": "1"}},
            ),
            calls,
        ),
        "dynamodb.TransactWriteItems": cpu_ms_per_call(
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
            calls,
        ),
        "sqs.SendMessage": cpu_ms_per_call(
            lambda: sqs.send_message(QueueUrl=queue, MessageBody='{"payment_id": "x"}'),
            calls // 4,
        ),
    }
    stack.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per operation")
    parser.add_argument("--stock", action="store_true", help="stock moto only (used internally)")
    parser.add_argument("--only", action="store_true", help="patched only, no stock comparison")
    args = parser.parse_args()
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
