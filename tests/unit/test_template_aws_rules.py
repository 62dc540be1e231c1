"""AWS deploy-time rules the translated template must meet (docs: /work/shared/AWS_NOTES.md).

Each test reads the template as `sam deploy` would send it (the offline samtranslator
translation) and fails on the template as it was before issue 10: sibling path variables, the
caller's credentials on the integration, tables retained after a failed create, a state machine
log group outside /aws/vendedlogs/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from paystack.domain.payment import METHODS

from paycli.lint.cfn import load_template
from paycli.lint.cfn import translate_template as translate

STACK = Path(__file__).resolve().parents[2] / "stack"
#: CloudFormation's longest stack name.
MAX_STACK_NAME = 128
#: CloudWatch Logs' longest log group name.
MAX_LOG_GROUP_NAME = 512


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    template, findings = load_template((STACK / "template.yaml").read_text(encoding="utf-8"))
    assert findings == []
    assert template is not None
    result, findings = translate(template)
    assert findings == []
    assert result is not None
    return result


def _api_body(translated: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI body of the (one) REST API, as SAM generated it."""
    resources = translated["Resources"].values()
    (api,) = [r for r in resources if r["Type"] == "AWS::ApiGateway::RestApi"]
    body: dict[str, Any] = api["Properties"]["Body"]
    return body


def _rest_api_paths(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = _api_body(translated)["paths"]
    return paths


def test_each_method_has_a_static_resource_with_its_own_model(translated: dict[str, Any]) -> None:
    """POST /payments/card|bank|wallet, each validated against its own model, and
    GET /payments/{payment_id}: nothing else."""
    paths = _rest_api_paths(translated)
    expected = {f"/payments/{m}": {"post"} for m in METHODS} | {"/payments/{payment_id}": {"get"}}
    assert {path: set(ops) for path, ops in paths.items()} == expected
    models = {paths[f"/payments/{m}"]["post"]["parameters"][0]["schema"]["$ref"] for m in METHODS}
    assert len(models) == len(METHODS)
    for method in METHODS:
        operation = paths[f"/payments/{method}"]["post"]
        assert operation["x-amazon-apigateway-request-validator"] == "body-only"
        model = operation["parameters"][0]["schema"]["$ref"].rsplit("/", 1)[1]
        definitions = _api_body(translated)["definitions"]
        assert method in definitions[model]["required"]


def test_no_level_of_the_api_has_two_variable_names(translated: dict[str, Any]) -> None:
    """API Gateway: "A sibling ({method}) of this resource already has a variable path part --
    only one is allowed". Under one parent, every `{...}` child has the same name."""
    variables: dict[str, set[str]] = {}
    for path in _rest_api_paths(translated):
        parts = [p for p in path.split("/") if p]
        for depth, part in enumerate(parts):
            if part.startswith("{"):
                parent = "/" + "/".join(parts[:depth])
                variables.setdefault(parent, set()).add(part)
    assert {parent: names for parent, names in variables.items() if len(names) > 1} == {}


def test_api_gateway_invokes_with_the_lambda_permission_not_the_callers_credentials(
    translated: dict[str, Any],
) -> None:
    """`Auth: InvokeRole: NONE`: no integration carries `credentials` (SAM's default for
    AWS_IAM is arn:aws:iam::*:user/*, so callers would need lambda:InvokeFunction too)."""
    operations = [op for ops in _rest_api_paths(translated).values() for op in ops.values()]
    assert operations
    for operation in operations:
        assert "credentials" not in operation["x-amazon-apigateway-integration"]
    permissions = [
        r for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"
    ]
    assert any(p["Properties"]["Principal"] == "apigateway.amazonaws.com" for p in permissions)


def test_tables_are_retained_except_when_their_creation_rolls_back(
    translated: dict[str, Any],
) -> None:
    """A failed first deploy removes its tables; a stack deletion or replacement keeps them."""
    tables = {
        name: r
        for name, r in translated["Resources"].items()
        if r["Type"] == "AWS::DynamoDB::Table"
    }
    assert len(tables) == 4
    for name, table in tables.items():
        assert table.get("DeletionPolicy") == "RetainExceptOnCreate", name
        assert table.get("UpdateReplacePolicy") == "Retain", name


def test_the_state_machine_logs_to_a_vended_log_group_named_after_the_stack(
    translated: dict[str, Any],
) -> None:
    """/aws/vendedlogs/states/{stack}-...: AWS's advice (the account's Logs resource policy is
    limited to 5,120 characters); unique per stack; within 512 characters for a 128-character
    stack name."""
    resources = translated["Resources"]
    (machine,) = [r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    name = resources[group_id]["Properties"]["LogGroupName"]["Fn::Sub"]
    assert name.startswith("/aws/vendedlogs/states/")
    assert "${AWS::StackName}" in name
    longest = name.replace("${AWS::StackName}", "s" * MAX_STACK_NAME)
    assert "${" not in longest
    assert len(longest) <= MAX_LOG_GROUP_NAME
    assert re.fullmatch(r"[\w\-./#]+", longest)
