"""The local stack on one core and on two, with and without Lambda worker processes, and against
another checkout (e.g. the old main), A/B in one run: interleaved rounds, medians and ratios.

Each measurement is a child process confined with `taskset -c CPUS` (the client, the daemon
and the daemon's workers all inherit the affinity): it starts a daemon from the given checkout's
venv (own PAYCLI_HOME, free ports), deploys that checkout's template, drives it flat out (or at
--rate) with this checkout's load driver (paycli/core/load.py, what `paycli load` runs), and,
after --warmup unmeasured payments (cold starts), prints one JSON line: completed/s,
accept->terminal latency, CPU and RSS of the daemon and of its worker processes.

    .venv/bin/python benchmarks/cores.py --rounds 3 --n 300 \\
        --config new-w2@0=.:2:0 --config new-w2@01=.:2:0,1 \\
        --config main@0=/tmp/base7672:-:0 --config main@01=/tmp/base7672:-:0,1

A config is LABEL=CHECKOUT:WORKERS:CPUS[:FLAGS] (WORKERS "-": do not pass --lambda-workers,
for a checkout that predates it; FLAGS, comma-separated: "ddb" passes --dynamodb-process, and
NAME=VALUE sets that variable in the config's environment, the daemon's included).
CPU is reported per payment for the daemon, its Lambda workers and its DynamoDB process.
`--rate R` offers R payments/s (open loop) instead of flat out, for latency at a chosen load;
`--window W` reports p99, daemon CPU per payment and RSS per W payments (flatness), and the
daemon's collector pauses (health's "gc", e.g. with PAYCLI_LOCAL_GC_FREEZE=off). Prints
figures; asserts nothing. The machine may be shared: trust ratios of the same run only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from _local_daemon import add_load_options, load_plan

ROOT = Path(__file__).resolve().parents[1]
#: The daemon options a config's FLAGS field may name.
FLAGS = {"ddb": "--dynamodb-process"}
#: Variables that would change a daemon's set-up behind a config's back.
_DAEMON_ENV = ("PAYCLI_LAMBDA_WORKERS", "PAYCLI_DYNAMODB_PROCESS")


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _is_dynamodb_process(pid: int) -> bool:
    return b"paycli.local.dynamodb_process" in Path(f"/proc/{pid}/cmdline").read_bytes()


def _usage(pid: int) -> dict[str, float]:
    """CPU seconds and RSS MB of the daemon, (summed) of its live Lambda workers and of its
    DynamoDB process (--dynamodb-process)."""
    kids = _children(pid)
    cpu_kids = rss_kids = cpu_ddb = rss_ddb = 0.0
    for kid in kids:
        try:
            if _is_dynamodb_process(kid):
                cpu_ddb += _cpu(kid)
                rss_ddb += _rss_mb(kid)
            else:
                cpu_kids += _cpu(kid)
                rss_kids += _rss_mb(kid)
        except OSError:
            continue
    return {
        "cpu": _cpu(pid),
        "rss": _rss_mb(pid),
        "cpu_kids": cpu_kids,
        "rss_kids": rss_kids,
        "cpu_ddb": cpu_ddb,
        "rss_ddb": rss_ddb,
    }


def _rss_total(usage: dict[str, float]) -> float:
    return usage["rss"] + usage["rss_kids"] + usage["rss_ddb"]


def _start_daemon(checkout: Path, workers: str, home: Path, flags: str = "") -> int:
    from paycli.local.state import read_state  # noqa: PLC0415

    argv = [str(checkout / ".venv" / "bin" / "python"), "-m", "paycli.local.daemon"]
    argv += ["--port", "0", "--state-dir", str(home)]
    if workers != "-":
        argv += ["--lambda-workers", workers]
    argv += [FLAGS[flag] for flag in flags.split(",") if flag and "=" not in flag]
    env = {k: v for k, v in os.environ.items() if k not in _DAEMON_ENV}
    log = (home / "daemon.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - a checkout's own daemon
        argv, cwd=checkout, env=env, stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = read_state()
        if state is not None and state.pid == process.pid:
            return process.pid
        if process.poll() is not None:
            break
        time.sleep(0.1)
    msg = f"daemon from {checkout} did not start: see {home / 'daemon.log'}"
    raise RuntimeError(msg)


def _stop_daemon(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _windows(latencies: list[float], size: int) -> list[float]:
    """p99 of each run of `size` payments, in the order they were accepted."""
    out = []
    for start in range(0, len(latencies) - size + 1, size):
        chunk = sorted(latencies[start : start + size])
        out.append(round(chunk[int(0.99 * (len(chunk) - 1))], 3))
    return out


class _Sampler:
    """The daemon's (and its workers') CPU seconds and RSS, every `every` s, in a thread: a
    window's CPU per payment is load-independent, so it shows growth even on a busy machine."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float, float]] = []  # (wall time, cpu s, rss MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _take(self) -> None:
        usage = _usage(self.pid)
        cpu, rss = usage["cpu"] + usage["cpu_kids"], usage["rss"] + usage["rss_kids"]
        self.samples.append((time.time(), cpu, rss))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._take()

    def __enter__(self) -> _Sampler:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()

    def at(self, when: float, column: int) -> float:
        """A column (1 cpu, 2 rss) at `when`, interpolated between the samples around it."""
        previous = self.samples[0]
        for sample in self.samples:
            if sample[0] >= when:
                span = sample[0] - previous[0]
                share = (when - previous[0]) / span if span > 0 else 1.0
                return previous[column] + share * (sample[column] - previous[column])
            previous = sample
        return previous[column]


def _window_usage(sampler: _Sampler, accepted: list[float], size: int) -> dict[str, list[float]]:
    """Per window of `size` payments (accept order): daemon+workers CPU ms per payment over
    the window's accept span (at a fixed offered rate, its share of the run), and RSS at its
    end."""
    cpu, rss = [], []
    for start in range(0, len(accepted) - size + 1, size):
        begin = accepted[start]
        end = accepted[start + size] if start + size < len(accepted) else sampler.samples[-1][0]
        used = sampler.at(end, 1) - sampler.at(begin, 1)
        cpu.append(round(used * 1000 / size, 1))
        rss.append(round(sampler.at(end, 2), 1))
    return {"cpu_ms_windows": cpu, "rss_mb_windows": rss}


def measure_one(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in this (already confined) process: start, deploy, load, stop."""
    from paycli.core.context import AppContext  # noqa: PLC0415 - after PAYCLI_HOME is set
    from paycli.core.settings import resolve_settings  # noqa: PLC0415
    from paycli.local import control  # noqa: PLC0415

    checkout = Path(args.checkout).resolve()
    pid = _start_daemon(checkout, args.workers, Path(os.environ["PAYCLI_HOME"]), args.flags)
    try:
        control.deploy(checkout / "stack" / "template.yaml")
        driver = AppContext(resolve_settings(flags={"target": "local"})).services().load()
        plan = load_plan(args, timeout=600)
        if args.warmup:  # cold starts (worker processes, handler imports) are not measured
            driver.run(replace(plan, count=args.warmup, rate=0.0))
        before = _usage(pid)
        with _Sampler(pid) as sampler:
            report = driver.run(plan)
        after = _usage(pid)
        collector = control.health().get("gc")  # None from a checkout that predates it
    finally:
        _stop_daemon(pid)
    done = max(1, report.completed)
    ordered = sorted(report.payments, key=lambda p: p.accepted_at)
    latencies = [p.latency_s for p in ordered if p.latency_s is not None]
    accepted = [p.accepted_at for p in ordered]
    windows = _window_usage(sampler, accepted, args.window) if args.window else {}
    return {
        "completed": report.completed,
        "completed_per_s": report.completed_per_s,
        "p50_s": report.latency_s["p50"],
        "p99_s": report.latency_s["p99"],
        "outcomes": report.outcomes,
        "errors": report.errors,
        "daemon_cpu_ms": round((after["cpu"] - before["cpu"]) * 1000 / done, 1),
        "workers_cpu_ms": round((after["cpu_kids"] - before["cpu_kids"]) * 1000 / done, 1),
        "dynamodb_cpu_ms": round((after["cpu_ddb"] - before["cpu_ddb"]) * 1000 / done, 1),
        "rss_start_mb": round(_rss_total(before), 1),
        "rss_end_mb": round(_rss_total(after), 1),
        "rss_kb_per_payment": round((_rss_total(after) - _rss_total(before)) * 1024 / done, 2),
        "p99_windows_s": _windows(latencies, args.window) if args.window else [],
        **windows,
        "load_1m": round(os.getloadavg()[0], 2),
        "gc": collector,
    }


def _run_config(label: str, spec: str, args: argparse.Namespace) -> dict[str, Any]:
    checkout, workers, cpus, *flags = spec.split(":")
    with tempfile.TemporaryDirectory(prefix="paycli-cores-") as home:
        argv = ["taskset", "-c", cpus, sys.executable, __file__, "--one"]
        argv += ["--checkout", checkout, "--workers", workers, "--n", str(args.n)]
        argv += ["--flags", ",".join(flags)]
        argv += ["--clients", str(args.clients), "--rate", str(args.rate)]
        argv += ["--accounts", str(args.accounts), "--mix", args.mix, "--window", str(args.window)]
        argv += ["--warmup", str(args.warmup)]
        config_env = dict(f.split("=", 1) for f in ",".join(flags).split(",") if "=" in f)
        env = {**os.environ, **config_env, "PAYCLI_HOME": home}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        return {"label": label, "failed": done.stderr.strip().splitlines()[-3:]}
    return {"label": label, **json.loads(done.stdout.strip().splitlines()[-1])}


def _summary(results: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for label in labels:
        mine = [r for r in results if r["label"] == label and "failed" not in r]
        if not mine:
            continue
        summary[label] = {
            key: statistics.median(r[key] for r in mine)
            for key in (
                "completed_per_s",
                "p50_s",
                "p99_s",
                "daemon_cpu_ms",
                "workers_cpu_ms",
                "dynamodb_cpu_ms",
                "rss_end_mb",
            )
        } | {"runs": [r["completed_per_s"] for r in mine]}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", action="append", default=[], help="LABEL=CHECKOUT:W:CPUS[:VAR=V,VAR=V]"
    )
    parser.add_argument("--rounds", type=int, default=3)
    add_load_options(parser, n=300)
    parser.add_argument("--warmup", type=int, default=60, help="unmeasured payments first")
    parser.add_argument("--window", type=int, default=0, help="p99 per this many payments")
    parser.add_argument("--ratio", action="append", default=[], help="A/B: label A over label B")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkout", help=argparse.SUPPRESS)
    parser.add_argument("--workers", help=argparse.SUPPRESS)
    parser.add_argument("--flags", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args)))
        return
    configs = dict(c.split("=", 1) for c in args.config)
    labels = list(configs)
    results = []
    for round_ in range(args.rounds):
        order = labels[round_ % len(labels) :] + labels[: round_ % len(labels)]
        for label in order:  # interleaved, and a different one first each round
            result = _run_config(label, configs[label], args)
            result["round"] = round_
            print(json.dumps(result), flush=True)
            results.append(result)
    summary = _summary(results, labels)
    ratios = {}
    for pair in args.ratio:
        a, b = pair.split("/")
        if a in summary and b in summary:
            ratios[pair] = round(summary[a]["completed_per_s"] / summary[b]["completed_per_s"], 2)
    print(json.dumps({"medians": summary, "ratios": ratios}))


if __name__ == "__main__":
    main()
