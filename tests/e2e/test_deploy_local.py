"""`paycli deploy` on the local target, with the local stack already running."""

from __future__ import annotations

import json

import pytest
from e2e_support import LocalStackHandle
from typer.testing import CliRunner

from paycli.cli.app import app

pytestmark = pytest.mark.e2e


def test_deploy_to_a_running_local_stack_does_not_say_it_starts_one(
    local_stack: LocalStackHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spinner (shown as on a terminal) says "Deploying the template", not "Starting the
    local stack": it runs already. The outputs are the running deployment's."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: render the spinner as on a terminal
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    result = CliRunner().invoke(app, ["deploy", "--json"])
    assert result.exit_code == 0, result.output
    assert "Deploying the template" in result.stderr
    assert "Starting the local stack" not in result.stderr
    assert json.loads(result.stdout)["QueueUrl"] == local_stack.outputs["QueueUrl"]
