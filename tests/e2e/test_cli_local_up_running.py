"""`paycli local up`: with --lambda-workers on a stack that already runs it starts nothing and
says the option applies to a new stack; Ctrl-C while it waits says the stack may be starting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from waiting import wait_until

from paycli.cli.app import app

pytestmark = pytest.mark.e2e


def test_lambda_workers_on_a_running_stack_says_it_does_not_apply(local_stack: Any) -> None:
    result = CliRunner().invoke(app, ["local", "up", "--lambda-workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    notes = result.stderr.splitlines()
    assert notes[0].startswith(f"The local stack was already running (pid {local_stack.pid})")
    assert notes[1] == (
        "--lambda-workers 2 applies when a stack starts: run `paycli local down` first (its"
        " data goes with it)"
    )


def test_ctrl_c_while_local_up_waits_says_the_stack_may_be_starting(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to a real `paycli local up`) once the daemon was spawned: exit 130 and a
    line saying it may go on starting, with how to see and stop it; before, it only said Ctrl-C
    stopped the command while a daemon came up behind the operator's back."""
    env = {**os.environ, "PAYCLI_HOME": str(tmp_path)}
    log = tmp_path / "local" / "daemon.log"
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "paycli", "local", "up"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        ) as up:  # fmt: skip
            wait_until(log.exists, timeout=60, interval=0.01, what="the daemon's log")
            up.send_signal(signal.SIGINT)
            _, stderr = up.communicate(timeout=60)
    finally:  # the daemon does finish starting: stop it once it is there to be stopped
        wait_until(lambda: _down(env), timeout=120, interval=0.5, what="the daemon to stop")
    assert up.returncode == 130, stderr
    assert stderr.splitlines()[-2:] == [
        "Interrupted: stopped waiting for the local stack: it may go on starting in the background",
        "Hint: `paycli local status` shows it; `paycli local down` stops it",
    ]


def _down(env: dict[str, str]) -> bool:
    """`paycli local down`: True once it stopped a running stack."""
    down = subprocess.run(
        [sys.executable, "-m", "paycli", "local", "down", "--json"], env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return '"stopped": true' in down.stdout
