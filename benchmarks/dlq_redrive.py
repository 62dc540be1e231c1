"""DLQ redrive speed on the local stack, and a count that nothing was lost.

Starts the daemon the way `paycli local up` does (own PAYCLI_HOME, free ports), deploys
stack/template.yaml, puts `--n` messages in the dead-letter queue (bodies naming payments that
do not exist, as a poison message would), then runs `paycli dlq redrive`'s service and prints
messages moved per second: `--method task` is SQS's StartMessageMoveTask (what `paycli dlq
redrive` uses, implemented by the local stack in paycli/local/move_tasks.py: 500 messages in
any second at most, AWS's cap), `--method loop` the receive-send-delete loop it used locally
before (still `--max`'s path), `--method both` (the default) runs the two one after the other
on the same stack, for the A/B. The pipe keeps running meanwhile, as it would for an operator:
each moved message starts an execution, which finds no payment and ends in the ASL's
PaymentNotFound state. So once the stack is quiet, each of the N payment ids must be in exactly
one execution's input (or still in a queue): that is the "none lost" check.

    .venv/bin/python benchmarks/dlq_redrive.py --n 1000
    .venv/bin/python benchmarks/dlq_redrive.py --n 1000 --method loop --workers 1   # one loop

Prints figures; asserts nothing (convention: benchmarks print, tests assert).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from _local_daemon import deployed_stack, load_average_1m, print_figures


def fill(sqs: Any, dlq_url: str, n: int) -> set[str]:
    """N poison messages in the DLQ (ten per SendMessageBatch); their payment ids."""
    ids = [f"pay_{uuid.uuid4().hex}" for _ in range(n)]
    for start in range(0, n, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"payment_id": p})}
            for i, p in enumerate(ids[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=dlq_url, Entries=entries)
    return set(ids)


def executions_by_payment(sfn: Any, machine: str) -> list[str]:
    """The payment id in each execution's input (the pipe's batch of one SQS record)."""
    found = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
        for execution in page["executions"]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            (record,) = json.loads(described["input"])
            found.append(json.loads(record["body"]).get("payment_id", "?"))
    return found


def quiet(services: Any, timeout: float) -> float:
    """Wait until both queues are empty and no execution runs; seconds waited."""
    started = time.monotonic()
    sfn, machine = services.target.sfn(), services.outputs.StateMachineArn
    while time.monotonic() - started < timeout:
        stats = services.dlq().stats()
        idle = stats.queue_messages == stats.queue_in_flight == stats.dlq_in_flight == 0
        running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")
        if idle and not running["executions"]:
            break
        time.sleep(1.0)
    return time.monotonic() - started


def phase(services: Any, method: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the DLQ, redrive it by `method`, wait for quiet, count what ran."""
    from paycli.core.dlq import MOVE_WORKERS, DlqService, settled_payments  # noqa: PLC0415

    sqs, out = services.target.sqs(), services.outputs
    ids = fill(sqs, out.DeadLetterQueueUrl, args.n)
    dlq = services.dlq()  # the move task, as `paycli dlq redrive` runs it
    if method == "loop":
        ddb, table = services.target.dynamodb(), out.PaymentsTableName
        dlq = DlqService(
            sqs,
            out.QueueUrl,
            out.DeadLetterQueueUrl,
            move_task_supported=False,
            settled=lambda found: settled_payments(ddb, table, found),
            workers=args.workers or MOVE_WORKERS,
        )
    started = time.monotonic()
    report = dlq.redrive()
    seconds = time.monotonic() - started
    waited = quiet(services, args.timeout)
    found = [p for p in executions_by_payment(services.target.sfn(), out.StateMachineArn)
             if p in ids]  # fmt: skip
    left = services.dlq().stats().dlq_messages
    return {
        "method": report.method,
        "n": args.n,
        "workers": dlq.workers if method == "loop" else None,
        "moved": report.moved,
        "failed": report.failed,
        "redrive_seconds": round(seconds, 2),
        "moved_per_s": round(report.moved / seconds, 1) if seconds else None,
        "settle_seconds": round(waited, 1),
        "executions": len(found),
        "dlq_after": left,
        "lost": len(ids - set(found)) - left,
        "duplicated": len(found) - len(set(found)),
        "load_average_1m": load_average_1m(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Each method on the same stack, one after the other: {"task": ..., "loop": ...}."""
    methods = ["task", "loop"] if args.method == "both" else [args.method]
    # The ASL's retry waits in milliseconds (time_scale 0.01), as in the e2e tests.
    with deployed_stack(time_scale=0.01) as services:
        return {method: phase(services, method, args) for method in methods}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="messages in the DLQ (default 1000)")
    parser.add_argument(
        "--method", choices=["task", "loop", "both"], default="both", help="default: both"
    )
    parser.add_argument("--workers", type=int, default=0, help="loops (default: the CLI's)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for quiet")
    print_figures(parser, run)


if __name__ == "__main__":
    main()
