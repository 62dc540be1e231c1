"""CLI start-up: `paycli --help` (and two commands' --help) against `sam logs --help`.

Each command runs `--runs` times, interleaved (one of each per round, so the machine's load
falls on every side alike), as a fresh process from its venv's entry point; the wall time of
each run is taken and the medians printed, with each paycli median as a ratio of sam's (the
goal: at most 0.2). aws-sam-cli pins its own boto3 and click, so it lives in its own venv, as
.ci/run installs it:

    python3 -m venv .venv-sam && .venv-sam/bin/pip install aws-sam-cli
    .venv/bin/python benchmarks/cli_startup.py --runs 15
    git archive 7672d80 | tar -x -C /tmp/base    # an older tree, for an A/B in the same run:
    .venv/bin/python benchmarks/cli_startup.py --runs 15 --base /tmp/base

`--base TREE` adds `python -m paycli --help` from TREE (through PYTHONPATH, with this venv's
packages) and the same from this tree, so the two are compared the same way.

Prints figures; asserts nothing (convention: benchmarks print, tests assert).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAYCLI = Path(sys.executable).parent / "paycli"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
COMMANDS = {
    "paycli --help": [str(PAYCLI), "--help"],
    "paycli pay card --help": [str(PAYCLI), "pay", "card", "--help"],
    "paycli dlq redrive --help": [str(PAYCLI), "dlq", "redrive", "--help"],
}


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run (its output discarded; a failure stops the benchmark). It runs
    from / so that `python -m paycli` imports the tree PYTHONPATH names, not the cwd's."""
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - the two venvs' own entry points
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, cwd="/"
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (>= 10)")
    parser.add_argument("--sam", type=Path, default=SAM, help="the sam executable")
    parser.add_argument("--base", type=Path, help="another source tree to time the same way")
    args = parser.parse_args()
    if not args.sam.exists():
        sys.exit(f"no sam at {args.sam}: python3 -m venv .venv-sam && "
                 ".venv-sam/bin/pip install aws-sam-cli")  # fmt: skip
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "NO_COLOR": "1"}
    commands = {**COMMANDS, "sam logs --help": [str(args.sam), "logs", "--help"]}
    envs = dict.fromkeys(commands, env)
    if args.base:
        module = [sys.executable, "-m", "paycli", "--help"]
        base = args.base.resolve()
        trees = {"python -m paycli --help": ROOT, "(base) python -m paycli --help": base}
        for name, tree in trees.items():
            commands[name] = module
            envs[name] = {**env, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'stack' / 'src'}"}
    for name, argv in commands.items():  # warm the file cache: the first run is not timed
        timed(argv, envs[name])
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            samples[name].append(timed(argv, envs[name]))
    sam = statistics.median(samples["sam logs --help"])
    for name, values in samples.items():
        median = statistics.median(values)
        print(json.dumps({
            "command": name,
            "runs": len(values),
            "median_s": round(median, 3),
            "min_s": round(min(values), 3),
            "ratio_to_sam_logs_help": round(median / sam, 3),
        }))  # fmt: skip
    print(json.dumps({"load_average_1m": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
