"""End-to-end throughput of the embedded local stack, in process.

Each payment takes the real path: an API Gateway proxy event into the real ingress handler (via
the Lambda runner), SQS, the project's pipe poller (paycli/local/pipe.py) starting the real
payment.asl.json on moto's interpreter, ValidatePayment and DeductAmount, settled in DynamoDB.
Latency is accept (ingress answered 202) -> terminal (DeductAmount settled the payment).

    .venv/bin/python benchmarks/throughput.py                 # N=200, open loop at 40/s
    .venv/bin/python benchmarks/throughput.py --rate 0        # as fast as it goes
    .venv/bin/python benchmarks/throughput.py --n 5000        # the flat-over-5,000 check
    .venv/bin/python benchmarks/throughput.py --stock         # moto without paycli's fixes

Prints figures; asserts nothing about time (convention: benchmarks print, tests assert).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from _local_daemon import add_load_options, load_plan

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "stack" / "template.yaml"


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class HandlerLog:
    """The runner's log: handler errors (a REPORT line with an error type), and per function
    the invocations' durations and the bytes their application log lines carry (the figures
    `paycli cost` takes for Lambda duration and CloudWatch Logs)."""

    errors: list[str] = field(default_factory=list)
    durations_ms: dict[str, list[float]] = field(default_factory=dict)
    log_lines: dict[str, int] = field(default_factory=dict)
    log_bytes: dict[str, int] = field(default_factory=dict)

    def on_log(self, record: dict[str, Any]) -> None:
        function = str(record.get("logical_id"))
        if record.get("stream") != "report":
            body = record.get("fields") or record.get("message") or ""
            self.log_lines[function] = self.log_lines.get(function, 0) + 1
            self.log_bytes[function] = self.log_bytes.get(function, 0) + len(json.dumps(body))
            return
        self.durations_ms.setdefault(function, []).append(float(record["duration_ms"]))
        if record.get("error_type"):
            self.errors.append(f"{record.get('payment_id')}: {record.get('message')}")

    def profile(self) -> dict[str, dict[str, float]]:
        """Per function: invocations, p50/p95 duration (ms), application log lines and bytes
        per invocation (the structured fields only: Powertools adds its context keys)."""
        result = {}
        for function, durations in sorted(self.durations_ms.items()):
            count = len(durations)
            ordered = sorted(durations)
            result[function] = {
                "invocations": count,
                "p50_ms": round(ordered[count // 2], 1),
                "p95_ms": round(ordered[min(count - 1, int(count * 0.95))], 1),
                "log_lines_per_invocation": round(self.log_lines.get(function, 0) / count, 2),
                "log_field_bytes_per_invocation": round(self.log_bytes.get(function, 0) / count, 1),
            }
        return result


def count_aws_calls() -> dict[str, int]:
    """Count every request moto handles by service.action (wraps BaseResponse.setup_class,
    which every request passes once, in process or over HTTP)."""
    from moto.core.responses import BaseResponse  # noqa: PLC0415

    counts: dict[str, int] = {}
    lock = threading.Lock()
    original = BaseResponse.setup_class

    def setup_class(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        key = f"{type(self).__module__.split('.')[1]}.{self._get_action()}"
        with lock:
            counts[key] = counts.get(key, 0) + 1
        return result

    BaseResponse.setup_class = setup_class  # type: ignore[method-assign]
    return counts


def build_stack(args: argparse.Namespace) -> tuple[Any, Any]:
    from paycli.local.stack import LocalStack  # noqa: PLC0415 - after arg parsing

    # Retries scaled down; Schedule events (the reconcile sweep, a GSI query over every
    # payment) at their real rate, as on AWS: at 0.01 a 5-minute sweep would run every 3 s.
    stack = LocalStack(time_scale=0.01, patch_moto=not args.stock, schedule_time_scale=1.0)
    stack.start()
    deployment = stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1")
    return stack, deployment


def ingress_pay(stack: Any, deployment: Any) -> Callable[[Any], Any]:
    """The load driver's `pay`, in process: an API Gateway proxy event for POST
    /payments/{method} into the real ingress handler through the Lambda runner."""
    from paycli.core.payments import Payment, PayResult  # noqa: PLC0415
    from paycli.local.api import HttpRequest, RouteTable, build_proxy_event  # noqa: PLC0415

    routes = RouteTable(deployment.routes)

    def pay(request: Any) -> Any:
        path = f"/payments/{request.method}"
        match = routes.match("POST", "v1", path)
        assert match is not None
        http = HttpRequest(
            method="POST",
            raw_path=f"/v1{path}",
            headers=[("Host", "127.0.0.1"), ("Idempotency-Key", request.idempotency_key)],
            body=json.dumps(request.body()).encode(),
            source_ip="127.0.0.1",
        )
        event = build_proxy_event(http, match, request_id=uuid.uuid4().hex, account_id="1" * 12)
        result = stack.runner.invoke(match.route.function_name, json.dumps(event).encode())
        response = json.loads(result.payload)
        if result.function_error or response.get("statusCode") not in (200, 202):
            raise RuntimeError(f"ingress failed: {result.payload[:300]!r}")
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        replayed = headers.get("idempotent-replayed", "").lower() == "true"
        view = Payment.from_view(json.loads(response["body"]))
        return PayResult(view, request.idempotency_key, replayed)

    return pay


class WindowReporter:
    """The load driver's progress callback: a line every `every` settled payments with the
    window's rate, the cumulative rate and RSS."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.last_count, self.last_elapsed = 0, 0.0

    def __call__(self, progress: Any) -> None:
        count, elapsed = progress.terminal, progress.elapsed_s
        if count - self.last_count < self.every and count < progress.total:
            return
        if count == self.last_count:
            return
        window = (count - self.last_count) / max(1e-9, elapsed - self.last_elapsed)
        print(
            f"  settled {count:>6}  window {window:6.1f}/s  total {count / elapsed:6.1f}/s  "
            f"RSS {rss_mb():7.1f} MB",
            flush=True,
        )
        self.last_count, self.last_elapsed = count, elapsed


def run(args: argparse.Namespace) -> dict[str, Any]:
    from paycli.core.accounts import AccountsService  # noqa: PLC0415 - after arg parsing
    from paycli.core.load import LoadDriver  # noqa: PLC0415

    stack, deployment = build_stack(args)
    outputs = deployment.outputs
    ddb = stack.client("dynamodb")
    accounts = AccountsService(ddb, outputs["AccountsTableName"], outputs["LedgerTableName"])
    driver = LoadDriver(ingress_pay(stack, deployment), ddb, outputs["PaymentsTableName"], accounts)
    handler_log = HandlerLog()
    stack.runner.add_log_listener(handler_log.on_log)
    calls = count_aws_calls() if args.count_calls else None
    (spec,) = deployment.pipes
    poller = stack.pipe_poller(spec, pollers=args.pollers)
    poller.start()
    rss_start = rss_mb()
    print(
        f"{'stock' if args.stock else 'patched'} moto, N={args.n}, rate "
        f"{args.rate or 'max'}/s, {args.clients} clients, {args.pollers} pollers, "
        f"RSS at start {rss_start:.1f} MB",
        flush=True,
    )
    plan = replace(load_plan(args, timeout=args.timeout), poll_interval=0.2)
    cpu0 = time.process_time()
    report = driver.run(plan, on_progress=WindowReporter(args.report_every))
    cpu = time.process_time() - cpu0
    poller.stop()
    view = report.view()
    del view["accounts"]
    result: dict[str, Any] = {
        "mode": "stock" if args.stock else "patched",
        **view,
        "settled": report.completed,
        "complete": report.ok,
        "handler_errors": len(handler_log.errors),
        "lambda_profile": handler_log.profile(),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_mb(), 1),
    }
    # CPU per payment does not depend on what else runs on the machine; payments/s does.
    # It includes the driver's own reads (about one BatchGetItem per poll interval).
    result["cpu_ms_per_payment"] = round(cpu * 1000 / max(1, report.completed), 1)
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    if calls is not None:
        per_payment = {k: round(v / args.n, 2) for k, v in sorted(calls.items())}
        result["aws_calls_per_payment"] = per_payment
    result |= execution_counts(stack, spec.target_arn)
    result |= queue_depths(stack, deployment)
    stack.stop()
    return result


def execution_counts(stack: Any, state_machine_arn: str) -> dict[str, int]:
    """Executions by status at the end: all SUCCEEDED when every payment went through once."""
    sfn = stack.client("stepfunctions")
    counts: dict[str, int] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        for execution in page["executions"]:
            key = f"executions_{execution['status'].lower()}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def queue_depths(stack: Any, deployment: Any) -> dict[str, int]:
    sqs = stack.client("sqs")
    depths = {}
    for key in ("QueueUrl", "DeadLetterQueueUrl"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=deployment.outputs[key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[f"{key}_visible"] = int(attributes["ApproximateNumberOfMessages"])
        depths[f"{key}_in_flight"] = int(attributes["ApproximateNumberOfMessagesNotVisible"])
    return depths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser, n=200, clients=4, rate=40.0, accounts=16)
    parser.add_argument("--pollers", type=int, default=2, help="pipe poller threads")
    parser.add_argument(
        "--report-every",
        type=int,
        default=0,
        help="print a progress line every K settled (default N/10)",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--stock",
        action="store_true",
        help="only the Lambda seam and time scale: moto's own behaviour",
    )
    parser.add_argument(
        "--count-calls",
        action="store_true",
        help="also print AWS requests per payment by service.action (the handlers' and the"
        " interpreter's; the pipe calls moto's backends directly)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run --stock in a subprocess (patches are process-wide)",
    )
    args = parser.parse_args()
    args.report_every = args.report_every or max(1, args.n // 10)
    result = run(args)
    print(json.dumps(result))
    if args.compare and not args.stock:  # the same flags, on stock moto
        flags = [arg for arg in sys.argv[1:] if arg != "--compare"]
        command = [sys.executable, __file__, *flags, "--stock"]
        subprocess.run(command, check=False)  # noqa: S603 - our own script


if __name__ == "__main__":
    main()
