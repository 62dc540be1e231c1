"""The local stack stopped (`paycli local down`) in the middle of `paycli load`: the run ends
with one error line naming the cause and the fix, no traceback, no more sends (on a stack of
its own: this test stops it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import local_stack_at
from waiting import wait_until

from paycli.local import control

pytestmark = pytest.mark.e2e


def test_load_says_the_stack_went_away_in_one_line(tmp_path: Path) -> None:
    """It used to print the watcher thread's botocore traceback, try every remaining payment
    against a closed port (one error each), and report accepted payments that were neither
    finished nor unfinished."""
    with local_stack_at(tmp_path / "home") as stack:
        dynamodb = stack.client("dynamodb")
        table = stack.outputs["PaymentsTableName"]

        def payments() -> int:
            return int(dynamodb.scan(TableName=table, Select="COUNT")["Count"])

        args = ["load", "--count", "300", "--rate", "10", "--accounts", "2", "--json"]
        with subprocess.Popen(
            [sys.executable, "-m", "paycli", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        ) as load:  # fmt: skip
            wait_until(lambda: payments() >= 5, timeout=120, what="the run's first payments")
            assert control.down()
            stdout, stderr = load.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    assert load.returncode == 5, stderr
    assert stdout == ""
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    assert "cannot reach" in errors[0]
    assert any(
        line.startswith("Hint: ") and "paycli local up" in line for line in stderr.splitlines()
    )
