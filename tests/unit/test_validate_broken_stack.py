"""`paycli validate` on copies of the real stack with one thing broken each.

Every test copies stack/ to tmp_path, makes one realistic mistake, and proves the check that
should catch it reports exactly that mistake, where it is. The real stack is clean (see
test_template_invariants.py), so any finding here comes from the break.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from paycli.lint.asl import check_state_machines
from paycli.lint.cfn import lint_sam, lint_translated, load_template
from paycli.lint.cfn import translate_template as translate
from paycli.lint.code import check_functions
from paycli.lint.findings import Finding, Severity
from paycli.lint.validate import validate_stack

STACK = Path(__file__).resolve().parents[2] / "stack"
ASL = "statemachine/payment.asl.json"


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    copy = tmp_path / "stack"
    shutil.copytree(STACK, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` (a test that matches nothing would prove nothing)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    """1-based line number of the one line containing `needle`."""
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(lines) == 1
    return lines[0]


def template_of(stack: Path) -> dict[str, Any]:
    template, findings = load_template((stack / "template.yaml").read_text(encoding="utf-8"))
    assert findings == []
    assert template is not None
    return template


def errors(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.location) for f in findings if f.severity is Severity.ERROR]


def test_a_wrong_case_code_uri_is_reported_for_every_function_using_it(stack: Path) -> None:
    """`Src/` works on macOS and fails on Lambda: each function inheriting it is named."""
    edit(stack / "template.yaml", "CodeUri: src/", "CodeUri: Src/")
    findings = check_functions(template_of(stack), stack)
    where = f"template.yaml:{line_of(stack / 'template.yaml', 'CodeUri: Src/')}:"
    assert {f.code for f in findings} == {"path-case"}
    assert {f.message.split(".")[0] for f in findings} == {
        "IngressFunction",
        "ValidatePaymentFunction",
        "DeductAmountFunction",
        "ReconcileFunction",
    }
    assert all(f.location.startswith(where) for f in findings)
    assert "'Src' is 'src' on disk" in findings[0].message


def test_a_missing_code_uri_directory_is_reported(stack: Path) -> None:
    edit(stack / "template.yaml", "CodeUri: src/", "CodeUri: source/")
    findings = check_functions(template_of(stack), stack)
    assert {f.code for f in findings} == {"path-missing"}
    assert len(findings) == 4  # one per function inheriting Globals' CodeUri
    assert "'source' does not exist" in findings[0].message


def test_a_handler_naming_a_missing_function_is_reported(stack: Path) -> None:
    """A typo in the function name: the module parses, the name is not defined in it."""
    edit(
        stack / "template.yaml",
        "Handler: paystack.handlers.validate.handler",
        "Handler: paystack.handlers.validate.handle",
    )
    findings = check_functions(template_of(stack), stack)
    line = line_of(stack / "template.yaml", "paystack.handlers.validate.handle")
    assert errors(findings) == [("handler-missing-function", f"template.yaml:{line}:16")]
    assert "ValidatePaymentFunction" in findings[0].message
    assert "'handle'" in findings[0].message


def test_a_handler_module_in_the_wrong_case_is_reported(stack: Path) -> None:
    edit(
        stack / "template.yaml",
        "Handler: paystack.handlers.deduct.handler",
        "Handler: paystack.Handlers.deduct.handler",
    )
    findings = check_functions(template_of(stack), stack)
    assert [f.code for f in findings] == ["path-case"]
    assert "'Handlers' is 'handlers' on disk" in findings[0].message


def test_a_handler_naming_a_missing_module_is_reported(stack: Path) -> None:
    edit(
        stack / "template.yaml",
        "Handler: paystack.handlers.deduct.handler",
        "Handler: paystack.handlers.refund.handler",
    )
    findings = check_functions(template_of(stack), stack)
    assert [f.code for f in findings] == ["handler-missing-module"]
    assert "paystack/handlers/refund.py" in findings[0].message


def test_a_handler_module_using_newer_python_syntax_is_reported(stack: Path) -> None:
    """Handlers run on 3.11 locally: a 3.12-only `type` statement must not slip in."""
    deduct = stack / "src" / "paystack" / "handlers" / "deduct.py"
    deduct.write_text(deduct.read_text() + "\ntype Amount = int\n")
    findings = check_functions(template_of(stack), stack)
    assert [f.code for f in findings] == ["handler-syntax"]
    assert "3.11" in findings[0].message


def test_a_placeholder_without_substitution_is_reported(stack: Path) -> None:
    """${DeductAmountFunctionARN} (wrong case) has no value; the real name goes unused."""
    edit(stack / ASL, "${DeductAmountFunctionArn}", "${DeductAmountFunctionARN}")
    findings = check_state_machines(template_of(stack), stack)
    assert [(f.code, f.severity) for f in findings] == [
        ("asl-missing-substitution", Severity.ERROR),
        ("asl-unused-substitution", Severity.WARNING),
    ]
    assert "${DeductAmountFunctionARN}" in findings[0].message
    assert findings[0].location == ASL


def test_a_next_to_a_state_that_does_not_exist_is_reported(stack: Path) -> None:
    path = stack / ASL
    definition = json.loads(path.read_text())
    definition["States"]["DeductAmount"]["Next"] = "IsSetled"
    path.write_text(json.dumps(definition, indent=2))
    findings = check_state_machines(template_of(stack), stack)
    assert errors(findings) == [
        ("asl-unknown-target", f"{ASL}: States.DeductAmount.Next"),
        ("asl-unreachable", f"{ASL}: States.IsSettled"),
    ]
    assert "'IsSetled'" in findings[0].message


def test_a_definition_uri_in_the_wrong_case_is_reported(stack: Path) -> None:
    edit(
        stack / "template.yaml",
        "DefinitionUri: statemachine/payment.asl.json",
        "DefinitionUri: StateMachine/payment.asl.json",
    )
    findings = check_state_machines(template_of(stack), stack)
    assert [f.code for f in findings] == ["path-case"]
    assert "PaymentStateMachine.DefinitionUri" in findings[0].message


def test_a_rest_api_reference_to_a_missing_api_fails_translation(stack: Path) -> None:
    edit(
        stack / "template.yaml",
        "RestApiId: !Ref PaymentsApi\n            Path: /payments/card",
        "RestApiId: !Ref PaymentApi\n            Path: /payments/card",
    )
    translated, findings = translate(template_of(stack))
    assert translated is None
    assert [(f.source, f.code, f.location) for f in findings] == [
        ("sam-translator", "sam-translate", "template.yaml: Resources.IngressFunction")
    ]
    assert "RestApiId" in findings[0].message


def test_a_policy_ref_to_a_missing_function_is_traced_to_its_sam_resource(stack: Path) -> None:
    """The broken !Ref ends up in a generated role: the finding names the SAM resource."""
    edit(
        stack / "template.yaml",
        "LambdaInvokePolicy: {FunctionName: !Ref DeductAmountFunction}",
        "LambdaInvokePolicy: {FunctionName: !Ref DeductFunction}",
    )
    template = template_of(stack)
    translated, translate_findings = translate(template)
    assert translate_findings == []
    assert translated is not None
    findings = lint_translated(translated, sam_ids=set(template["Resources"]))
    assert [(f.source, f.code) for f in findings] == [("cfn-lint (translated)", "E1020")]
    assert findings[0].location.startswith("translated: Resources.PaymentStateMachineRole.")
    assert findings[0].location.endswith("(from PaymentStateMachine)")
    assert "'DeductFunction'" in findings[0].message


def test_a_getatt_to_a_missing_resource_is_caught_only_after_translation(stack: Path) -> None:
    """A typo'd GetAtt whose name starts with a SAM resource's id: cfn-lint accepts it in the
    SAM form (SAM generates resources named so), the translated lint and the report do not."""
    edit(
        stack / "template.yaml",
        "DeductAmountFunctionArn: !GetAtt DeductAmountFunction.Arn",
        "DeductAmountFunctionArn: !GetAtt DeductAmountFunctions.Arn",
    )
    assert lint_sam((stack / "template.yaml").read_text()) == []
    report = validate_stack(stack)
    assert not report.ok
    assert [(f.source, f.code, f.location) for f in report.errors] == [
        (
            "cfn-lint (translated)",
            "E1010",
            "translated: Resources.PaymentStateMachine.Properties.DefinitionSubstitutions."
            "DeductAmountFunctionArn.Fn::GetAtt.0",
        )
    ]
    assert "'DeductAmountFunctions'" in report.errors[0].message
    assert "is not one of the" in report.errors[0].message  # the long list is shortened


def test_a_ref_in_a_function_environment_is_checked_only_after_translation(stack: Path) -> None:
    """cfn-lint never checks Refs in a SAM function's Environment: any name passes."""
    edit(stack / "template.yaml", "LEDGER_TABLE: !Ref LedgerTable", "LEDGER_TABLE: !Ref Ledger")
    assert lint_sam((stack / "template.yaml").read_text()) == []
    template = template_of(stack)
    translated, _ = translate(template)
    assert translated is not None
    findings = lint_translated(translated, sam_ids=set(template["Resources"]))
    assert [(f.code, f.location) for f in findings] == [
        (
            "E1020",
            "translated: Resources.DeductAmountFunction.Properties.Environment.Variables."
            "LEDGER_TABLE.Ref",
        )
    ]


def test_a_stack_dir_without_template_is_one_error(tmp_path: Path) -> None:
    report = validate_stack(tmp_path)
    assert [f.code for f in report.findings] == ["template-missing"]
    assert not report.ok


FUNCTION_HEADER = "Transform: AWS::Serverless-2016-10-31\nResources:\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Resources: [\n  - :\n", ("cfn-lint", "E0000")),
        (FUNCTION_HEADER + "  - a\n", ("cfn-lint", "cfn-lint-crash")),
        (
            FUNCTION_HEADER + "  F:\n    Type: AWS::Serverless::Function\n    Properties: hi\n",
            ("sam-translator", "sam-translate"),
        ),
        (
            FUNCTION_HEADER + "  S:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
            "      DefinitionUri: x.json\n      DefinitionSubstitutions: hi\n",
            ("cfn-lint", "E3012"),
        ),
    ],
    ids=["yaml-syntax", "resources-as-list", "properties-not-a-map", "substitutions-not-a-map"],
)
def test_a_malformed_template_is_reported_not_crashed_on(
    tmp_path: Path, text: str, expected: tuple[str, str]
) -> None:
    """Even where cfn-lint itself crashes, the report says so and the exit code follows."""
    (tmp_path / "template.yaml").write_text(text)
    (tmp_path / "x.json").write_text('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')
    report = validate_stack(tmp_path)
    assert not report.ok
    assert expected in {(f.source, f.code) for f in report.errors}


def test_a_nested_serverless_application_is_not_translated_offline() -> None:
    """The translator would call the Serverless Application Repository: skipped, and said so."""
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Nested": {
                "Type": "AWS::Serverless::Application",
                "Properties": {"Location": {"ApplicationId": "arn:x", "SemanticVersion": "1.0.0"}},
            }
        },
    }
    translated, findings = translate(template)
    assert translated is None
    assert [(f.code, f.severity) for f in findings] == [("sam-translate-skipped", Severity.WARNING)]
    assert "Nested" in findings[0].message
