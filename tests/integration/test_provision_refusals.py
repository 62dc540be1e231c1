"""The local stack refuses what AWS would refuse at deploy time, in AWS's own words, before it
creates anything: the twin is never more permissive than AWS where the deploy rules can know."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from paycli.local.stack import LocalStack
from paycli.local.template import TemplateError

ROOT = Path(__file__).resolve().parents[2]
API_URL = "http://127.0.0.1:4567"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(time_scale=0.01, log_dir=tmp_path / "logs")
    local.start()
    try:
        yield local
    finally:
        local.stop()


def broken_copy(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of stack/ whose template has one edit (written back as JSON, which is YAML)."""
    target = tmp_path / "stack"
    shutil.copytree(ROOT / "stack", target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / "template.yaml"
    template = yaml_parse(path.read_text(encoding="utf-8"))
    edit(template)
    path.write_text(json.dumps(template, indent=1), encoding="utf-8")
    return path


def sibling_variable(template: dict[str, Any]) -> None:
    events = template["Resources"]["IngressFunction"]["Properties"]["Events"]
    events["Refund"] = {
        "Type": "Api",
        "Properties": {
            "RestApiId": {"Ref": "PaymentsApi"},
            "Path": "/payments/{refund_id}",
            "Method": "delete",
        },
    }


def request_response_pipe(template: dict[str, Any]) -> None:
    parameters = template["Resources"]["PaymentPipe"]["Properties"]["TargetParameters"]
    parameters["StepFunctionStateMachineParameters"]["InvocationType"] = "REQUEST_RESPONSE"


@pytest.mark.parametrize(
    ("edit", "aws_error"),
    [
        (
            sibling_variable,
            # Which of the two variables AWS names depends on its creation order.
            r"BadRequestException: A sibling \(\{(refund|payment)_id\}\) of this resource "
            r"already has a variable path part -- only one is allowed",
        ),
        (
            request_response_pipe,
            r"ValidationException: REQUEST_RESPONSE is not supported for STANDARD state machine "
            r"workflows",
        ),
    ],
    ids=["E9001", "E9030"],
)
def test_a_template_aws_would_refuse_is_refused_before_anything_is_created(
    stack: LocalStack, tmp_path: Path, edit: Callable[[dict[str, Any]], None], aws_error: str
) -> None:
    """The deploy fails with the service's error text and the rule id; no queue exists."""
    template = broken_copy(tmp_path, edit)
    with pytest.raises(TemplateError) as refused:
        stack.deploy(template, api_base_url=API_URL)
    assert re.match(f"AWS would refuse this template: {aws_error} \\[E90", refused.value.message)
    assert refused.value.hint is not None
    assert "paycli validate" in refused.value.hint
    assert stack.client("sqs").list_queues().get("QueueUrls", []) == []


def test_the_real_template_is_not_refused(stack: LocalStack) -> None:
    """The same check lets the real template through (it breaks no error rule)."""
    deployment = stack.deploy(ROOT / "stack" / "template.yaml", api_base_url=API_URL)
    assert deployment.outputs["ApiUrl"] == f"{API_URL}/v1"
