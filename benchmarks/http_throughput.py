"""End-to-end throughput of the local stack as a user meets it: the real daemon, over HTTP.

Starts `python -m paycli.local.daemon` the way `paycli local up` does (own PAYCLI_HOME, free
ports), deploys stack/template.yaml, creates accounts, then POSTs SigV4-signed card payments
to the local API with the CLI's own ApiClient from client threads in *this* process, so signing
and HTTP on the client side do not share the daemon's interpreter. Afterwards every payment is
read back from DynamoDB: accept -> terminal latency is the payment's `updated_at` (written by
DeductAmount when it settles) minus the wall-clock time the 202 arrived here.

    .venv/bin/python benchmarks/http_throughput.py --n 500 --rate 0
    .venv/bin/python benchmarks/http_throughput.py --n 5000 --rate 25

The daemon's CPU per payment comes from /proc/<pid>/stat (Linux). Prints figures; asserts
nothing (convention: benchmarks print, tests assert).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _load import make_accounts, open_loop

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "stack" / "template.yaml"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parse_stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def drive(args: argparse.Namespace, api: Any, accounts: list[str]) -> dict[str, float]:
    """POST --n payments, open loop at --rate/s from --clients threads; returns payment_id ->
    wall time the 202 arrived."""
    accepted: dict[str, float] = {}
    lock = threading.Lock()

    def send(index: int) -> None:
        body = {
            "amount_minor": 100 + index % 900,
            "currency": "USD",
            "account_id": accounts[index % len(accounts)],
            "card": CARD,
        }
        reply = api.request(
            "POST", "/payments/card", body=body, headers={"Idempotency-Key": f"bench-{index}"}
        )
        now = time.time()
        with lock:
            accepted[str(reply.body["payment_id"])] = now

    open_loop(args.n, args.rate, args.clients, send)
    return accepted


def settled(ddb: Any, table: str, ids: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Wait until every payment in `ids` is terminal; their items by id."""
    terminal = {"SUCCEEDED", "DECLINED", "FAILED"}
    deadline = time.monotonic() + timeout
    items: dict[str, dict[str, Any]] = {}
    while True:
        items = {}
        for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                items[item["payment_id"]["S"]] = item
        done = [i for i in ids if items.get(i, {}).get("status", {}).get("S") in terminal]
        if len(done) == len(ids) or time.monotonic() > deadline:
            return items
        time.sleep(1.0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from botocore.credentials import Credentials  # noqa: PLC0415 - after PAYCLI_HOME is set

    from paycli.core.api import ApiClient  # noqa: PLC0415
    from paycli.local import control  # noqa: PLC0415
    from paycli.local.state import read_state  # noqa: PLC0415

    control.up()
    try:
        outputs = control.deploy(TEMPLATE)
        state = read_state()
        assert state is not None
        ddb = make_client("dynamodb", state.endpoint)
        accounts = make_accounts(ddb, outputs, args.accounts, "acc_http")
        credentials = Credentials(control.LOCAL_ACCESS_KEY, control.LOCAL_SECRET_KEY)
        api = ApiClient(outputs["ApiUrl"], credentials, control.LOCAL_REGION, timeout=60)
        rss_start, cpu_start = rss_mb(state.pid), cpu_seconds(state.pid)
        t0 = time.time()
        accepted = drive(args, api, accounts)
        accept_seconds = time.time() - t0
        items = settled(ddb, outputs["PaymentsTableName"], set(accepted), args.timeout)
        cpu_end = cpu_seconds(state.pid)
        cpu = (cpu_end[0] - cpu_start[0], cpu_end[1] - cpu_start[1])
        return summarise(
            args,
            accepted,
            items,
            t0=t0,
            accept_seconds=accept_seconds,
            cpu=cpu,
            rss_start=rss_start,
            pid=state.pid,
        )
    finally:
        control.down()


def make_client(service: str, endpoint: str) -> Any:
    import boto3  # noqa: PLC0415

    from paycli.local import control  # noqa: PLC0415

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=control.LOCAL_REGION,
        aws_access_key_id=control.LOCAL_ACCESS_KEY,
        aws_secret_access_key=control.LOCAL_SECRET_KEY,
    )


def summarise(
    args: argparse.Namespace,
    accepted: dict[str, float],
    items: dict[str, dict[str, Any]],
    *,
    t0: float,
    accept_seconds: float,
    cpu: tuple[float, float],
    rss_start: float,
    pid: int,
) -> dict[str, Any]:
    latencies, ends, statuses = [], [], {}
    for payment_id, accepted_at in accepted.items():
        item = items.get(payment_id, {})
        status = item.get("status", {}).get("S", "MISSING")
        statuses[status] = statuses.get(status, 0) + 1
        if status in {"SUCCEEDED", "DECLINED", "FAILED"}:
            end = parse_stamp(item["updated_at"]["S"])
            ends.append(end)
            latencies.append(max(0.0, end - accepted_at))
    elapsed = (max(ends) if ends else time.time()) - t0
    return {
        "n": args.n,
        "rate": args.rate or "max",
        "clients": args.clients,
        "statuses": statuses,
        "accept_seconds": round(accept_seconds, 2),
        "elapsed_seconds": round(elapsed, 2),
        "payments_per_second": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "p99_s": round(percentile(latencies, 99), 3),
        "max_s": round(max(latencies, default=float("nan")), 3),
        "daemon_cpu_ms_per_payment": round(sum(cpu) * 1000 / max(1, len(latencies)), 1),
        "daemon_system_cpu_share": round(cpu[1] / sum(cpu), 2) if sum(cpu) else None,
        "daemon_rss_start_mb": round(rss_start, 1),
        "daemon_rss_end_mb": round(rss_mb(pid), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="payments to send (default 500)")
    parser.add_argument("--rate", type=float, default=0.0, help="offered/s, 0 = flat out")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--accounts", type=int, default=50, help="accounts paid from")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paycli-bench-") as home:
        os.environ["PAYCLI_HOME"] = home
        print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
