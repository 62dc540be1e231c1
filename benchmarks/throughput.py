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
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _load import make_accounts, open_loop

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "stack" / "template.yaml"
CARD = "4242424242424242"
ACCOUNTS = 16


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Tracker:
    """Accept and settle times per payment, fed by the ingress driver and the runner's log."""

    accepted: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    settled_at: list[float] = field(default_factory=list)
    early: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    target: int = 0

    def accept(self, payment_id: str) -> None:
        now = time.monotonic()
        with self.lock:
            if payment_id in self.early:  # settled before the driver recorded the 202
                self._settle(payment_id, now, self.early.pop(payment_id))
            else:
                self.accepted[payment_id] = now

    def on_log(self, record: dict[str, Any]) -> None:
        """Runner log listener: DeductAmount's REPORT line means the payment is settled."""
        if record.get("stream") != "report" or record.get("logical_id") != "DeductAmountFunction":
            return
        now = time.monotonic()
        payment_id = record.get("payment_id")
        with self.lock:
            if record.get("error_type"):
                self.errors.append(f"{payment_id}: {record.get('message')}")
                return
            started = self.accepted.pop(str(payment_id), None)
            if started is None:
                self.early[str(payment_id)] = now
            else:
                self._settle(str(payment_id), started, now)

    def _settle(self, _payment_id: str, started: float, ended: float) -> None:
        self.latencies.append(ended - started)
        self.settled_at.append(ended)
        if len(self.latencies) >= self.target:
            self.done.set()


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


def ingress_caller(stack: Any, deployment: Any) -> Callable[[str, int], str]:
    """POST /payments/card through the real ingress handler; returns the payment_id."""
    from paycli.local.api import HttpRequest, RouteTable, build_proxy_event  # noqa: PLC0415

    match = RouteTable(deployment.routes).match("POST", "v1", "/payments/card")
    assert match is not None

    def call(account_id: str, amount: int) -> str:
        body = {
            "amount_minor": amount,
            "currency": "USD",
            "account_id": account_id,
            "card": {"number": CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
        request = HttpRequest(
            method="POST",
            raw_path="/v1/payments/card",
            headers=[("Host", "127.0.0.1"), ("Idempotency-Key", uuid.uuid4().hex)],
            body=json.dumps(body).encode(),
            source_ip="127.0.0.1",
        )
        event = build_proxy_event(
            request, match, request_id=uuid.uuid4().hex, account_id="123456789012"
        )
        result = stack.runner.invoke(match.route.function_name, json.dumps(event).encode())
        response = json.loads(result.payload)
        if result.function_error or response.get("statusCode") != 202:
            raise RuntimeError(f"ingress failed: {result.payload[:300]!r}")
        return str(json.loads(response["body"])["payment_id"])

    return call


def drive(
    args: argparse.Namespace, call: Callable[[str, int], str], accounts: list[str], tracker: Tracker
) -> None:
    """Send N payments from `--clients` threads, open loop at `--rate` per second (0: flat out)."""

    def send(index: int) -> None:
        tracker.accept(call(accounts[index % len(accounts)], 100 + index % 900))

    open_loop(args.n, args.rate, args.clients, send)


def report_progress(tracker: Tracker, t0: float, every: int, stop: threading.Event) -> None:
    """Every `every` settled payments: window rate, cumulative rate, latency, RSS."""
    last_count, last_time = 0, t0
    while not stop.wait(0.2):
        with tracker.lock:
            count = len(tracker.latencies)
            window = tracker.latencies[last_count:count]
        if count - last_count >= every or (tracker.done.is_set() and count > last_count):
            now = time.monotonic()
            print(
                f"  settled {count:>6}  window {len(window) / (now - last_time):6.1f}/s  "
                f"total {count / (now - t0):6.1f}/s  window p50 {percentile(window, 50):.3f}s "
                f"p99 {percentile(window, 99):.3f}s  RSS {rss_mb():7.1f} MB",
                flush=True,
            )
            last_count, last_time = count, now
        if tracker.done.is_set() and last_count >= count:
            return


def run(args: argparse.Namespace) -> dict[str, Any]:

    stack, deployment = build_stack(args)
    accounts = make_accounts(stack.client("dynamodb"), deployment.outputs, ACCOUNTS, "acc_bench")
    call = ingress_caller(stack, deployment)
    tracker = Tracker(target=args.n)
    stack.runner.add_log_listener(tracker.on_log)
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
    t0 = time.monotonic()
    cpu0 = time.process_time()
    stop = threading.Event()
    reporter = threading.Thread(
        target=report_progress, args=(tracker, t0, args.report_every, stop), daemon=True
    )
    reporter.start()
    drive(args, call, accounts, tracker)
    accepted_in = time.monotonic() - t0
    finished = tracker.done.wait(timeout=args.timeout)
    elapsed = (tracker.settled_at[-1] if tracker.settled_at else time.monotonic()) - t0
    cpu = time.process_time() - cpu0
    stop.set()
    reporter.join(timeout=2)
    poller.stop()
    result = summarise(
        args,
        tracker,
        elapsed=elapsed,
        accepted_in=accepted_in,
        finished=finished,
        rss_start=rss_start,
    )
    # CPU per payment does not depend on what else runs on the machine; payments/s does.
    result["cpu_ms_per_payment"] = round(cpu * 1000 / max(1, len(tracker.latencies)), 1)
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


def summarise(
    args: argparse.Namespace,
    tracker: Tracker,
    *,
    elapsed: float,
    accepted_in: float,
    finished: bool,
    rss_start: float,
) -> dict[str, Any]:
    latencies = tracker.latencies
    return {
        "mode": "stock" if args.stock else "patched",
        "n": args.n,
        "settled": len(latencies),
        "complete": finished,
        "accept_seconds": round(accepted_in, 2),
        "elapsed_seconds": round(elapsed, 2),
        "payments_per_second": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "p99_s": round(percentile(latencies, 99), 3),
        "max_s": round(max(latencies, default=float("nan")), 3),
        "mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_mb(), 1),
        "handler_errors": len(tracker.errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="payments to send (default 200)")
    parser.add_argument(
        "--rate",
        type=float,
        default=40.0,
        help="offered payments per second, 0 = as fast as possible",
    )
    parser.add_argument("--clients", type=int, default=4, help="ingress caller threads")
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
    if args.compare and not args.stock:
        command = [
            sys.executable,
            __file__,
            "--stock",
            "--n",
            str(args.n),
            "--rate",
            str(args.rate),
            "--clients",
            str(args.clients),
            "--pollers",
            str(args.pollers),
        ]
        subprocess.run(command, check=False)  # noqa: S603 - our own script


if __name__ == "__main__":
    main()
