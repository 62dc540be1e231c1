"""Every command of README's reference, run as a script runs it: stdout is a pipe, stdin is
not a terminal. stdout holds only data (one JSON document or JSON lines with --json, a table
otherwise, never a spinner, note or prompt), every JSON timestamp has the one form (ISO 8601
UTC, milliseconds, Z), and no run prints a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import TEST_CARDS, LocalStackHandle

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `paycli ([a-z ]+)` \| `(paycli [^`]+)` \|$", re.MULTILINE)
#: Reference rows not run here, and why.
SKIPPED = {
    "deploy": "the example deploys to AWS",
    "destroy": "would stop the session's stack",
    "local down": "would stop the session's stack",
    "local up": "starts a second stack",
    "demo": "covered by its own e2e test",
    "load": "covered by its own e2e test",
    "validate": "reads the template only; no timestamps",
}
#: Commands that change something: run once (with --json), not twice.
ONCE = {"accounts create", "pay", "dlq redrive", "dlq purge", "executions redrive"}
#: Arguments run smaller here: only the output's form is checked, and tests/e2e/test_soak.py
#: runs the soak example as written (500 payments under every fault kind, its figures checked).
SMALLER = {"soak": {"500": "40"}}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TIME_KEYS = ("_at", "_date", "entered", "exited", "timestamp", "cutoff")
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
NOT_DATA = ("Idempotency-Key:", "Traceback", "[y/N]", "Starting", "Deploying", "Showing the")


@pytest.fixture(scope="module")
def ids(local_stack: LocalStackHandle) -> dict[str, str]:
    """A real account and payment (one FAILED, so the DLQ and failed executions have data)."""
    account = local_stack.create_account(balance_minor=100_000)
    payment_ids = []
    for card, final in (("approved", "SUCCEEDED"), ("processing_error", "FAILED")):
        reply = local_stack.pay_card(account, 100, TEST_CARDS[card])
        payment_ids.append(reply.json()["payment_id"])
        local_stack.wait_for_payment(payment_ids[-1], {final})
    return {"acc_demo": account, "pay_5d638bc724f84a378a99cb2d3072dcc7": payment_ids[-1]}


def _examples() -> Iterator[tuple[str, str]]:
    for command, example in ROW.findall(README.read_text(encoding="utf-8")):
        if command not in SKIPPED:
            yield command, example.split(" \\|", maxsplit=1)[0].replace("\\|", "|")


EXAMPLES = list(_examples())


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "paycli", *args],
        capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip


def _timestamps(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _timestamps(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _timestamps(item, key)
    elif isinstance(value, str) and (key.endswith(TIME_KEYS) or LOOKS_LIKE_TIME.match(value)):
        yield key, value


def _documents(stdout: str) -> list[Any]:
    """One JSON document, or JSON lines."""
    try:
        return [json.loads(stdout)]
    except ValueError:
        return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(("command", "example"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_reference_example_off_a_terminal(command: str, example: str, ids: dict[str, str]) -> None:
    args = shlex.split(example)[1:]
    if command == "accounts create":  # a fresh id: the example's is taken by then
        ids = {**ids, "acc_demo": f"acc_ref_{uuid.uuid4().hex[:8]}"}
    args = [ids.get(arg, arg) for arg in args]
    args = [SMALLER.get(command, {}).get(arg, arg) for arg in args]
    if "|" in args:  # `... --json | jq .x`: the part before the pipe
        args = args[: args.index("|")]
    scripted = _run(args if "--json" in args else [*args, "--json"])
    runs = [scripted]
    if command not in ONCE:
        runs.append(_run([a for a in args if a != "--json"]))
    for result in runs:
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
        for marker in NOT_DATA:
            assert marker not in result.stdout, (marker, result.stdout)
    for document in _documents(scripted.stdout):
        for key, stamp in _timestamps(document):
            assert TIMESTAMP.match(stamp), (command, key, stamp)


def test_local_up_on_a_running_stack_says_so(local_stack: LocalStackHandle) -> None:
    """A second `local up` says the stack was already running (and starts nothing)."""
    result = _run(["local", "up", "--json"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pid"] == local_stack.pid
    assert f"already running (pid {local_stack.pid}); nothing started" in result.stderr


def test_executions_watch_streams_each_change_as_it_happens(
    local_stack: LocalStackHandle, ids: dict[str, str]
) -> None:
    """Off a terminal, a line per execution arrives while watch is still running, and what
    was printed stays printed when it is interrupted."""
    with subprocess.Popen(
        [sys.executable, "-m", "paycli", "executions", "watch", "--interval", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert proc.poll() is None  # still watching: the line came as it happened
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    stamp, name, status, _error = first.rstrip("\n").split("  ")
    assert TIMESTAMP.match(stamp)
    assert status in {"RUNNING", "SUCCEEDED", "FAILED"}
    assert len(name) >= 36
