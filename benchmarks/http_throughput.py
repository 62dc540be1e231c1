"""End-to-end throughput of the local stack as a user meets it: the real daemon, over HTTP.

Starts `python -m paycli.local.daemon` the way `paycli local up` does (own PAYCLI_HOME, free
ports), deploys stack/template.yaml, then runs the CLI's load driver (paycli/core/load.py, the
same code as `paycli load`) from *this* process: SigV4-signed POSTs to the local API from
`--clients` threads, so signing and HTTP on the client side do not share the daemon's
interpreter. Latency is accept -> terminal: the payment's `updated_at` minus the wall-clock time
its 202 arrived.

    .venv/bin/python benchmarks/http_throughput.py --n 500 --rate 0
    .venv/bin/python benchmarks/http_throughput.py --n 5000 --rate 25

The daemon's CPU per payment comes from /proc/<pid>/stat (Linux). Prints figures; asserts
nothing (convention: benchmarks print, tests assert).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from _local_daemon import (
    add_load_options,
    deployed_stack,
    load_average_1m,
    load_plan,
    print_figures,
)


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


def run(args: argparse.Namespace) -> dict[str, Any]:
    from paycli.local.state import read_state  # noqa: PLC0415

    with deployed_stack() as services:
        state = read_state()
        assert state is not None
        driver = services.load()
        plan = load_plan(args, timeout=args.timeout)
        rss_start, cpu_start = rss_mb(state.pid), cpu_seconds(state.pid)
        report = driver.run(plan)
        cpu_end = cpu_seconds(state.pid)
        cpu = (cpu_end[0] - cpu_start[0], cpu_end[1] - cpu_start[1])
        view = report.view()
        del view["accounts"]
        return {
            **view,
            "daemon_cpu_ms_per_payment": round(sum(cpu) * 1000 / max(1, report.completed), 1),
            "daemon_system_cpu_share": round(cpu[1] / sum(cpu), 2) if sum(cpu) else None,
            "daemon_rss_start_mb": round(rss_start, 1),
            "daemon_rss_end_mb": round(rss_mb(state.pid), 1),
            "load_average_1m": load_average_1m(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser, n=500)
    parser.add_argument("--timeout", type=float, default=600.0)
    print_figures(parser, run)


if __name__ == "__main__":
    main()
