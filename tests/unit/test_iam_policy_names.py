"""`paycli iam policy` on AWS: the ARN patterns match the names CloudFormation generates for the
stack and not another stack's, and the command prints a policy IAM accepts."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from paycli.cli.app import app


def allows(pattern: str, arn: str) -> bool:
    """IAM's resource matching: `*` any run of characters, `?` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def operator_policy(stack_name: str = "paycli") -> dict[str, object]:
    result = CliRunner().invoke(
        app,
        [
            "iam", "policy", "--for", "operator", "--json", "--region", "eu-west-1",
            "--account-id", "123456789012", "--stack-name", stack_name,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def resources_for(document: dict[str, object], action: str) -> list[str]:
    statements = document["Statement"]
    assert isinstance(statements, list)
    return [r for s in statements if action in s["Action"] for r in s["Resource"]]


def test_patterns_match_cloudformation_generated_names_of_this_stack_only() -> None:
    """CloudFormation names a table `{stack}-{LogicalId}-{suffix}` and a state machine
    `{LogicalId}-{suffix}` (aws/aws-sam-cli#2022): this stack's match, another stack's not."""
    document = operator_policy()
    tables = resources_for(document, "dynamodb:GetItem")
    ours = "arn:aws:dynamodb:eu-west-1:123456789012:table/paycli-PaymentsTable-1Q2W3E4R5T6Y"
    theirs = "arn:aws:dynamodb:eu-west-1:123456789012:table/other-PaymentsTable-1Q2W3E4R5T6Y"
    assert any(allows(p, ours) for p in tables)
    assert not any(allows(p, theirs) for p in tables)
    machines = resources_for(document, "states:ListExecutions")
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:PaymentStateMachine-3ypO3dryEmXE"
    assert any(allows(p, machine) for p in machines)
    stacks = resources_for(document, "cloudformation:DescribeStacks")
    assert stacks == ["arn:aws:cloudformation:eu-west-1:123456789012:stack/paycli/*"]


def test_the_policy_is_a_valid_iam_document_without_wildcard_actions() -> None:
    """Version 2012-10-17, Allow statements with unique Sids, no `*` action or `*` resource."""
    document = operator_policy("prod-payments")
    assert document["Version"] == "2012-10-17"
    statements = document["Statement"]
    assert isinstance(statements, list)
    assert len({s["Sid"] for s in statements}) == len(statements)
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
        assert "*" not in statement["Resource"]


def test_an_unknown_principal_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["iam", "policy", "--for", "admin"])
    assert result.exit_code == 2
    assert "unknown --for 'admin'" in result.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--stack-name", "1 bad/name", "'1 bad/name' is not a CloudFormation stack name"),
        ("--region", "nowhere", "'nowhere' is not an AWS region"),
        ("--account-id", "12345", "'12345' is not an AWS account id"),
    ],
)
def test_a_bad_scope_is_refused_in_one_line(option: str, value: str, message: str) -> None:
    """A typo in the scope would make a policy that grants nothing: it is refused instead."""
    result = CliRunner().invoke(app, ["iam", "policy", "--for", "payer", option, value])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
