"""`paycli deploy` on the local target, with the local stack already running."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from e2e_support import TEMPLATE, LocalStackHandle, start_local_stack, stop_local_stack
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


def test_a_handler_that_cannot_import_says_why_in_payments_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local stack loads handler code from CodeUri at each cold start: code changed under
    a running stack (a merge) made every payment FAILED with only `error: ImportError`, the
    reason visible in `paycli logs` alone. `payments get` shows the handler's message as
    `cause`. (A stack of its own, deployed from a copy of stack/ that the test breaks.)"""
    stack = tmp_path / "stack"
    shutil.copytree(TEMPLATE.parent, stack, ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    monkeypatch.setenv("PAYCLI_HOME", str(home))
    handle = start_local_stack(home, stack / TEMPLATE.name)
    try:
        validate = stack / "src" / "paystack" / "handlers" / "validate.py"
        future = "from __future__ import annotations\n"
        broken = future + "from paystack.domain.money import no_such_name  # a later merge's\n"
        code = validate.read_text(encoding="utf-8")
        assert future in code
        validate.write_text(code.replace(future, broken, 1), encoding="utf-8")
        runner = CliRunner()
        account = runner.invoke(app, ["accounts", "create", "--balance", "10.00", "--json"])
        assert account.exit_code == 0, account.output
        account_id = json.loads(account.stdout)["account_id"]
        paid = runner.invoke(
            app, ["pay", "card", "--amount", "1.00", "--account", account_id, "--wait", "--json"]
        )
        payment_id = json.loads(paid.stdout)["payment_id"]
        got = runner.invoke(app, ["payments", "get", payment_id, "--json"])
        assert got.exit_code == 0, got.output
        view = json.loads(got.stdout)
        assert (view["status"], view["error"]) == ("FAILED", "ImportError")
        assert "cannot import name 'no_such_name'" in view["cause"]
        assert "paystack.domain.money" in view["cause"]
    finally:
        stop_local_stack(handle)
