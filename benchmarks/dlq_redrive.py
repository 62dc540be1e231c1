"""DLQ redrive speed on the local stack, as an operator gets it, and a count that nothing was lost.

Starts the daemon the way `paycli local up` does (own PAYCLI_HOME, free ports), deploys
stack/template.yaml, puts `--n` messages in the dead-letter queue (bodies naming payments that
do not exist, as a poison message would), then runs `paycli --target local dlq redrive --json`
as a command (this venv's console script, a process of its own) and times it from the moment
it is started to the moment its report ("moved": N) appears on stdout: that interval, start-up
and imports included, is what `moved_per_s` divides by (`exit_seconds` adds the interpreter's
exit; `stats_command_seconds` is `paycli dlq stats` just before, the same start-up and first
reads). `--method task` is plain `dlq redrive`, SQS's StartMessageMoveTask (implemented by the
local stack in paycli/local/move_tasks.py at AWS's cap: never more than 500 * t moved t seconds
in, so N messages take at least N / 500 s: `floor_seconds`); `--method loop` is `dlq redrive
--max N`, the receive-send-delete loop; `--method both` (the default) runs the two one after the
other on the same stack, for the A/B. The pipe keeps running meanwhile, as it would for an
operator: each moved message starts an execution, which finds no payment and ends in the ASL's
PaymentNotFound state. So once the stack is quiet, each of the N payment ids must be in exactly
one execution's input (or still in a queue): that is the "none lost" check.

    .venv/bin/python benchmarks/dlq_redrive.py --n 1000
    .venv/bin/python benchmarks/dlq_redrive.py --n 1000 --method task

Prints figures; asserts nothing (convention: benchmarks print, tests assert).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _local_daemon import deployed_stack, load_average_1m, print_figures

MAX_RATE = 500  # StartMessageMoveTask's cap, messages a second (SQS API reference)


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


def dlq_arn(sqs: Any, out: Any) -> str:
    """The DLQ's ARN (the move task's SourceArn)."""
    attrs = sqs.get_queue_attributes(QueueUrl=out.DeadLetterQueueUrl, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def command(arguments: list[str]) -> tuple[dict[str, Any], float, float, float, float]:
    """`paycli --target local ARGUMENTS --json` as an operator runs it: its JSON report,
    seconds from its start to the report's first byte on stdout and to its exit, the
    wall-clock time (epoch seconds) it was started, and the CPU seconds it used."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    paycli = Path(sys.executable).with_name("paycli")
    argv = [str(paycli), "--target", "local", *arguments, "--json"]
    with tempfile.TemporaryFile("w+") as stderr:
        wall, started = time.time(), time.monotonic()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)  # noqa: S603 - our own CLI
        assert process.stdout is not None
        first = process.stdout.read(1)
        reported = time.monotonic() - started
        rest = process.stdout.read()
        code = process.wait()
        exited = time.monotonic() - started
        if code != 0:
            stderr.seek(0)
            msg = f"{' '.join(argv[1:])} exited {code}: {stderr.read().strip()}"
            raise RuntimeError(msg)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    return json.loads(first + rest), reported, exited, wall, seconds


def phase(services: Any, method: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the DLQ, redrive it by `method` through the CLI, wait for quiet, count what ran."""
    sqs, out = services.target.sqs(), services.outputs
    ids = fill(sqs, out.DeadLetterQueueUrl, args.n)
    # The same start-up and first reads as the redrive's, without moving anything.
    _, stats_seconds, _, _, _ = command(["dlq", "stats"])
    arguments = ["dlq", "redrive"] + (["--max", str(args.n)] if method == "loop" else [])
    report, seconds, exited, wall, cpu = command(arguments)
    # The move task's own StartedTimestamp (the stack's clock, this machine's): what came
    # before it (start-up, first reads) and after it (the task, then the command noticing).
    task_started = None
    if method == "task":
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn(sqs, out), MaxResults=1)
        task_started = tasks["Results"][0]["StartedTimestamp"] / 1000 - wall
    waited = quiet(services, args.timeout)
    found = [p for p in executions_by_payment(services.target.sfn(), out.StateMachineArn)
             if p in ids]  # fmt: skip
    left = services.dlq().stats().dlq_messages
    return {
        "method": report["method"],
        "command": "paycli --target local " + " ".join(arguments) + " --json",
        "n": args.n,
        "moved": report["moved"],
        "failed": report["failed"],
        "redrive_seconds": round(seconds, 3),
        "moved_per_s": round(report["moved"] / seconds, 1) if seconds else None,
        "exit_seconds": round(exited, 3),
        "command_cpu_seconds": round(cpu, 3),
        "stats_command_seconds": round(stats_seconds, 3),
        "to_task_start_seconds": None if task_started is None else round(task_started, 3),
        "task_start_to_report_seconds": (
            None if task_started is None else round(seconds - task_started, 3)
        ),
        "floor_seconds": round(args.n / MAX_RATE, 3) if method == "task" else None,
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
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for quiet")
    print_figures(parser, run)


if __name__ == "__main__":
    main()
