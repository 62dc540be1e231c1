"""The deploy rules (paycli/lint/rules) on copies of the real stack with one thing broken each.

Each test breaks the template the way a real change would (edited as data and written back, so
the test does not depend on the template's exact text), translates it as `sam deploy` would and
proves the one rule it breaks reports it with AWS's own error text, while the real template
passes that rule. `paycli validate` and plain `cfn-lint` (through .cfnlintrc) run the same
rules: the last tests prove each of those entry points applies them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from paycli.core.rehearsal import Step, rehearse
from paycli.core.settings import Settings
from paycli.lint.deploy import deploy_problems
from paycli.lint.deploy._model import Problem
from paycli.lint.translate import translate
from paycli.lint.validate import validate_stack

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "stack"
LONG_STACK_NAME = "payments-" + "x" * 50  # a valid stack name of 59 characters

Edit = Callable[[dict[str, Any]], None]


def load(stack_dir: Path = STACK) -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse((stack_dir / "template.yaml").read_text("utf-8"))
    return template


def problems(
    template: dict[str, Any], *, region: str = "us-east-1", stack_name: str = "paycli"
) -> dict[str, list[Problem]]:
    """Rule id -> problems, for the template translated for `region`."""
    found: dict[str, list[Problem]] = {}
    for rule_id, problem in deploy_problems(
        translate(template, region=region), region=region, stack_name=stack_name
    ):
        found.setdefault(rule_id, []).append(problem)
    return found


def resources(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]
    return found


def add_api_event(path: str, method: str = "delete") -> Edit:
    def edit(template: dict[str, Any]) -> None:
        events = resources(template)["IngressFunction"]["Properties"]["Events"]
        events["Broken"] = {
            "Type": "Api",
            "Properties": {"RestApiId": {"Ref": "PaymentsApi"}, "Path": path, "Method": method},
        }

    return edit


def function_name(name: str) -> Edit:
    def edit(template: dict[str, Any]) -> None:
        resources(template)["IngressFunction"]["Properties"]["FunctionName"] = {"Fn::Sub": name}

    return edit


def drop_log_delivery(template: dict[str, Any]) -> None:
    machine = resources(template)["PaymentStateMachine"]["Properties"]
    machine["Policies"] = [p for p in machine["Policies"] if "logs:" not in json.dumps(p)]


def log_group_name(template: dict[str, Any]) -> None:
    logs = resources(template)["PaymentStateMachineLogs"]
    logs.setdefault("Properties", {})["LogGroupName"] = "/paycli/payment-state-machine"


def request_response(template: dict[str, Any]) -> None:
    target = resources(template)["PaymentPipe"]["Properties"]["TargetParameters"]
    target["StepFunctionStateMachineParameters"]["InvocationType"] = "REQUEST_RESPONSE"


def powertools_layer(prefix: str) -> Edit:
    """Every function's layers: the Powertools layer under another ARN prefix."""

    def edit(template: dict[str, Any]) -> None:
        layer = f"{prefix}:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"
        template["Globals"]["Function"]["Layers"] = [{"Fn::Sub": layer}]

    return edit


def caller_credentials(template: dict[str, Any]) -> None:
    api = resources(template)["PaymentsApi"]["Properties"]
    api["Auth"]["InvokeRole"] = "CALLER_CREDENTIALS"


# rule id, how to break it, deploy options, AWS's error text the problem carries.
CASES: list[tuple[str, Edit, dict[str, str], str]] = [
    (
        "E9001",
        add_api_event("/payments/{other_id}"),
        {},
        "of this resource already has a variable path part -- only one is allowed",
    ),
    (
        "E9002",
        add_api_event("/payments/card$"),
        {},
        "BadRequestException: Resource's path part only allow a-zA-Z0-9._- and curly braces",
    ),
    (
        "E9003",
        add_api_event("/files/{proxy+}/meta", "get"),
        {},
        "BadRequestException: Cannot create a child of a resource with a greedy path variable: "
        "{proxy+}",
    ),
    (
        "E9010",
        function_name("${AWS::StackName}-ingress-function"),
        {"stack_name": LONG_STACK_NAME},
        "at 'functionName' failed to satisfy constraint: Member must have length less than or "
        "equal to 64",
    ),
    (
        "E9020",
        drop_log_delivery,
        {},
        "AccessDeniedException: The state machine IAM Role is not authorized to access the Log "
        "Destination",
    ),
    ("W9021", log_group_name, {}, "limited to 5,120 characters"),
    (
        "E9030",
        request_response,
        {},
        "REQUEST_RESPONSE is not supported for STANDARD state machine workflows",
    ),
    (
        "E9040",
        powertools_layer("arn:${AWS::Partition}:lambda:${AWS::Region}:123456789012"),
        {},
        "not authorized to perform: lambda:GetLayerVersion on resource: "
        "arn:aws:lambda:us-east-1:123456789012:layer:AWSLambdaPowertoolsPythonV3",
    ),
    ("E9050", caller_credentials, {}, "Invalid permissions on Lambda function"),
]


@pytest.mark.parametrize(("rule_id", "edit", "options", "error"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_catches_its_broken_copy_and_passes_the_real_template(
    rule_id: str, edit: Edit, options: dict[str, str], error: str
) -> None:
    """The broken copy breaks exactly the rule it targets, with AWS's words; the real template,
    under the same deploy options, does not break it."""
    assert rule_id not in problems(load(), **options)
    broken = load()
    edit(broken)
    found = problems(broken, **options)
    assert set(found) - set(problems(load(), **options)) == {rule_id}
    assert any(error in p.error for p in found[rule_id]), found[rule_id]


def test_the_same_long_name_fits_under_the_default_stack_name() -> None:
    """E9010 depends on the stack name: paycli's default stack name leaves room for it."""
    broken = load()
    function_name("${AWS::StackName}-ingress-function")(broken)
    assert "E9010" not in problems(broken)
    assert "E9010" in problems(broken, stack_name=LONG_STACK_NAME)


def test_an_invalid_stack_name_is_refused_as_cloudformation_would() -> None:
    """CreateStack's own pattern: a stack name starting with a digit is refused."""
    found = problems(load(), stack_name="1payments")
    assert "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*" in (
        found["E9010"][0].error
    )


@pytest.mark.parametrize(
    ("region", "publisher", "other"),
    [
        ("us-gov-west-1", "165093116878", "017000801446"),
        ("us-gov-east-1", "165087284144", "165093116878"),
        ("cn-north-1", "498634801083", "017000801446"),
        ("eu-west-1", "017000801446", "498634801083"),
    ],
)
def test_the_powertools_layer_is_checked_against_each_partitions_publisher(
    region: str, publisher: str, other: str
) -> None:
    """The publisher's account passes in its region; another partition's account fails."""
    for account, passes in ((publisher, True), (other, False)):
        template = load()
        powertools_layer(f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:{account}")(template)
        assert ("E9040" not in problems(template, region=region)) is passes, (region, account)


@pytest.fixture
def stack_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "stack"
    shutil.copytree(STACK, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def write(stack_dir: Path, template: dict[str, Any]) -> None:
    """JSON is YAML: the edited template is written back as JSON, intrinsics in long form."""
    (stack_dir / "template.yaml").write_text(json.dumps(template, indent=1), encoding="utf-8")


def test_paycli_validate_applies_the_rules_with_its_stack_name(stack_copy: Path) -> None:
    """`paycli validate` (validate_stack) runs the rules on the translation, with --stack-name."""
    broken = load(stack_copy)
    function_name("${AWS::StackName}-ingress-function")(broken)
    write(stack_copy, broken)
    errors = validate_stack(stack_copy, stack_name=LONG_STACK_NAME).errors
    assert "E9010" in {f.code for f in errors}
    # Located at the SAM source of the name: the FunctionName line of the copy.
    lines = (stack_copy / "template.yaml").read_text(encoding="utf-8").splitlines()
    sub = next(i for i, line in enumerate(lines, 1) if "${AWS::StackName}-ingress-function" in line)
    assert [f.location.split(":")[:2] for f in errors if f.code == "E9010"] == [
        ["template.yaml", str(sub - 1)]
    ]
    assert "E9010" not in {f.code for f in validate_stack(stack_copy).errors}


def test_plain_cfn_lint_applies_the_rules_through_cfnlintrc(stack_copy: Path) -> None:
    """`cfn-lint template.yaml` in the repo (as CI and editor plugins run it) reads .cfnlintrc,
    translates the SAM template and reports a rule with the line of the SAM source."""
    broken = load(stack_copy)
    request_response(broken)
    write(stack_copy, broken)
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", str(stack_copy / "template.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(stack_copy)},  # no user-level .cfnlintrc
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if ":E9030:" in line]
    assert len(lines) == 1, result.stdout + result.stderr
    assert "REQUEST_RESPONSE is not supported for STANDARD state machine workflows" in lines[0]


def test_the_deploy_dry_run_checks_names_under_the_deploys_stack_name(stack_copy: Path) -> None:
    """`deploy --dry-run` runs the rules with the stack name the deploy would use."""
    broken = load(stack_copy)
    function_name("${AWS::StackName}-ingress-function")(broken)
    write(stack_copy, broken)

    def validate_step(stack_name: str) -> Step:
        report = rehearse(stack_copy, Settings(target="aws", stack_name=stack_name), "us-east-1")
        return {step.name: step for step in report.steps}["validate"]

    refused = validate_step(LONG_STACK_NAME)
    assert not refused.ok
    assert "E9010" in refused.detail
    assert validate_step("paycli").ok


def test_a_layer_mapping_without_the_regions_partition_fails_as_cloudformation_would() -> None:
    """The real template maps the Powertools account per partition; GovCloud is not mapped, so
    CloudFormation would fail the FindInMap (E9040 says so with its error text)."""
    found = problems(load(), region="us-gov-west-1")
    assert "Template error: Unable to get mapping for PowertoolsLayer::aws-us-gov::Account" in {
        p.error for p in found["E9040"]
    }
    assert "E9040" not in problems(load(), region="cn-north-1")
