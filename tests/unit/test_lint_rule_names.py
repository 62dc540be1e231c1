"""The execution names paycli makes are ones Step Functions accepts (StartExecution `name`:
1..80 characters, no whitespace, brackets, wildcards or punctuation it reserves), whatever the
stack is called: the pipe's name per SQS message and the redrive's restart name."""

from __future__ import annotations

import uuid
from typing import cast

import pytest

from paycli.core.executions import restart_name
from paycli.lint.deploy.names import is_valid_execution_name
from paycli.local.pipe import PipePoller

LONGEST_PAYMENT_ID = "pay_" + "f" * 32


def test_the_pipes_execution_name_is_valid_for_an_sqs_message_id() -> None:
    """SQS message ids are UUIDs: the name is `{messageId}-{12 hex}`, 49 characters."""
    records = [{"messageId": str(uuid.uuid4()), "body": "{}"}]
    name = PipePoller.execution_name(cast(PipePoller, None), records)
    assert is_valid_execution_name(name)
    assert len(name) == 49


@pytest.mark.parametrize("failed", ["a" * 80, f"{LONGEST_PAYMENT_ID}-r-{'0' * 16}"])
def test_the_restart_name_is_valid_even_for_a_restart_of_a_restart(failed: str) -> None:
    """A restart's name stays within 80 characters whatever the failed execution's name was."""
    assert is_valid_execution_name(restart_name(LONGEST_PAYMENT_ID, failed))


@pytest.mark.parametrize("name", ["", "a" * 81, "has space", "a/b", "x{1}", "semi;colon"])
def test_names_step_functions_refuses_are_refused(name: str) -> None:
    assert not is_valid_execution_name(name)
