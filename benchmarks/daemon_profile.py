"""Where the daemon's CPU goes under `paycli load`: a py-spy sample of every thread, sorted into
the part that would leave the daemon if Lambda handlers and their boto3 clients ran in worker
processes (the handler's own code and botocore's client side) and the part that stays (moto's
request/response layers and backends, the interpreter, the pipe, the local API).

    pip install py-spy   # into any venv; pass its path with --py-spy
    .venv/bin/python benchmarks/daemon_profile.py --n 300 --py-spy /tmp/pyspy/bin/py-spy
    PAYCLI_DYNAMODB_PROCESS=1 PAYCLI_LAMBDA_WORKERS=2 .venv/bin/python \
        benchmarks/daemon_profile.py --n 300 --warmup 60 --gil --top 15 --py-spy ...

With --gil only the thread holding the GIL is sampled (shares of CPU, not of busy threads).
The daemon's children (the DynamoDB process, Lambda workers) are sampled too, each kind
reported with its CPU per payment, its shares by service and, with --top, its hottest frames.

The share that leaves is the Amdahl bound on what worker processes can buy: with a fraction p
of the daemon's CPU moved out, the daemon alone can at best go 1/(1-p) times faster. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _local_daemon import TEMPLATE
from http_throughput import cpu_seconds

#: A sample whose stack passes through the runner's handler call ran Lambda code.
HANDLER_FRAME = "_run (paycli/local/runner.py"
#: ...unless it is inside moto's dispatch of the handler's AWS call (stays in the daemon).
MOTO_DISPATCH = "botocore_stubber.py"


def classify(stack: str) -> str:
    if HANDLER_FRAME in stack or "paycli/local/worker" in stack:
        return "stays: moto dispatch of handler calls" if MOTO_DISPATCH in stack else "leaves"
    for needle, name in (
        ("moto/stepfunctions", "stays: step functions interpreter"),
        ("paycli/local/pipe", "stays: pipe poller"),
        ("paycli/local/api", "stays: local api"),
        ("werkzeug", "stays: moto http server"),
    ):
        if needle in stack:
            return name
    return "stays: other"


#: Frames that show which emulated service a sample's request is for (innermost wins).
_SERVICE_FRAMES = (
    ("moto/dynamodb", "dynamodb"),
    ("DynamoHandler", "dynamodb"),
    ("moto/sqs", "sqs"),
    ("SQSResponse", "sqs"),
    ("paycli/local/move_tasks", "sqs"),
)


def by_service(stack: str) -> str:
    """Which emulated service a sample works for: moto's DynamoDB or SQS (request parsing,
    backend, response) wherever it was called from; else the handler's own side (code and
    botocore client), the interpreter, the pipe, the local API, or other. The DynamoDB share
    is what a DynamoDB process would take out of the daemon."""
    frames = stack.split(";")
    for frame in reversed(frames):
        for needle, name in _SERVICE_FRAMES:
            if needle in frame:
                return name
    if "botocore_stubber" in stack or "moto/core" in stack:
        return "moto dispatch (other services)"
    return classify(stack).replace("stays: ", "")


def _children(pid: int) -> dict[int, str]:
    """The daemon's child processes by pid: "dynamodb" or "worker" (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found[int(entry.name)] = "dynamodb" if b"dynamodb_process" in cmdline else "worker"
    return found


def _spy(args: argparse.Namespace, pid: int, raw: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own profiler on our own processes
        [
            args.py_spy,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--nonblocking",
            "--rate",
            "100",
            *(["--gil"] if args.gil else []),
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _read(raw: Path) -> list[tuple[str, int]]:
    samples = []
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count = line.rpartition(" ")
        if count.isdigit():  # py-spy leaves idle (sleeping, waiting) threads out
            samples.append((stack, int(count)))
    return samples


def _top_frames(samples: list[tuple[str, int]], n: int) -> dict[str, float]:
    """The innermost frames taking the most samples (self time), as shares."""
    leaves: Counter[str] = Counter()
    for stack, count in samples:
        leaves[stack.rsplit(";", 1)[-1]] += count
    total = sum(leaves.values()) or 1
    return {frame: round(count / total, 3) for frame, count in leaves.most_common(n)}


def _process_view(samples: list[tuple[str, int]], cpu_ms: float, top: int) -> dict[str, Any]:
    services: Counter[str] = Counter()
    for stack, count in samples:
        services[by_service(stack)] += count
    total = sum(services.values()) or 1
    return {
        "cpu_ms_per_payment": round(cpu_ms, 1),
        "samples": total,
        "by_service": {k: round(v / total, 3) for k, v in services.most_common()},
        "top_self_frames": _top_frames(samples, top) if top else {},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from paycli.core.context import AppContext  # noqa: PLC0415 - after PAYCLI_HOME is set
    from paycli.core.load import LoadPlan  # noqa: PLC0415
    from paycli.core.settings import resolve_settings  # noqa: PLC0415
    from paycli.local import control  # noqa: PLC0415
    from paycli.local.state import read_state  # noqa: PLC0415

    control.up()
    try:
        control.deploy(TEMPLATE)
        state = read_state()
        assert state is not None
        driver = AppContext(resolve_settings(flags={"target": "local"})).services().load()
        if args.warmup:  # cold starts (worker processes, handler imports) are not sampled
            driver.run(LoadPlan(count=args.warmup, concurrency=args.clients, accounts=50))
        raw = Path(args.raw) if args.raw else Path(os.environ["PAYCLI_HOME"]) / "spy.txt"
        kinds = {state.pid: "daemon", **_children(state.pid)}
        raws = {pid: raw.with_suffix(f".{kind}.{pid}.txt") for pid, kind in kinds.items()}
        raws[state.pid] = raw
        spies = [_spy(args, pid, path) for pid, path in raws.items()]
        time.sleep(1.0)
        cpu0 = {pid: sum(cpu_seconds(pid)) for pid in kinds}
        report = driver.run(LoadPlan(count=args.n, concurrency=args.clients, accounts=50))
        done = max(1, report.completed)
        cpu_ms = {pid: (sum(cpu_seconds(pid)) - cpu0[pid]) * 1000 / done for pid in kinds}
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)
        samples = _read(raw)
        shares: Counter[str] = Counter()
        for stack, count in samples:
            shares[classify(stack)] += count
        total = sum(shares.values()) or 1
        leaves = shares["leaves"] / total
        processes: dict[str, Any] = {}
        for kind in ("dynamodb", "worker"):
            pids = [pid for pid, k in kinds.items() if k == kind]
            if pids:
                merged = [item for pid in pids for item in _read(raws[pid])]
                cpu = sum(cpu_ms[pid] for pid in pids)
                processes[kind] = {"pids": len(pids), **_process_view(merged, cpu, args.top)}
        return {
            "payments": report.completed,
            "completed_per_s": round(report.completed_per_s, 1),
            "daemon_cpu_ms_per_payment": round(cpu_ms[state.pid], 1),
            "samples": total,
            "shares": {k: round(v / total, 3) for k, v in shares.most_common()},
            "daemon": _process_view(samples, cpu_ms[state.pid], args.top),
            "children": processes,
            "leaves_share": round(leaves, 3),
            "amdahl_bound_x": round(1 / (1 - leaves), 2) if leaves < 1 else None,
        }
    finally:
        control.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--py-spy", default="py-spy")
    parser.add_argument("--raw", default="", help="keep the collapsed stacks here")
    parser.add_argument("--warmup", type=int, default=0, help="unsampled payments first")
    parser.add_argument("--top", type=int, default=0, help="show the N hottest self frames")
    parser.add_argument(
        "--gil", action="store_true", help="sample only the thread holding the GIL (CPU shares)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paycli-prof-") as home:
        os.environ["PAYCLI_HOME"] = home
        print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
