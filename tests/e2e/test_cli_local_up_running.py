"""`paycli local up --lambda-workers N` on a stack that already runs starts nothing; it says
that the option applies to a new stack instead of ignoring it without a word."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

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
