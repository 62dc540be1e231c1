"""The real SAM app passes every offline check, and matches the contract in docs/design.md.

One `validate_stack` run of the real stack is shared by the module (cfn-lint takes about a
second per template). A failure lists the findings, which say what to fix and where.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from paycli.lint.asl import check_state_machines
from paycli.lint.cfn import load_template
from paycli.lint.cfn import translate_template as translate
from paycli.lint.code import check_functions
from paycli.lint.findings import ValidationReport
from paycli.lint.validate import find_stack_dir, validate_stack

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stack"
DESIGN = REPO / "docs" / "design.md"


@pytest.fixture(scope="module")
def report() -> ValidationReport:
    return validate_stack(STACK)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, findings = load_template((STACK / "template.yaml").read_text(encoding="utf-8"))
    assert findings == []
    assert loaded is not None
    return loaded


def _listing(report: ValidationReport, source: str) -> list[str]:
    return [
        f"{f.severity} {f.code} {f.location}: {f.message}"
        for f in report.findings
        if f.source == source
    ]


@pytest.mark.parametrize(
    "source", ["template", "cfn-lint", "sam-translator", "cfn-lint (translated)", "asl", "code"]
)
def test_the_real_stack_has_no_findings(report: ValidationReport, source: str) -> None:
    """Not even warnings: the template, its translation, the ASL and the code are all clean."""
    assert _listing(report, source) == []


def test_the_report_covers_every_finding_source(report: ValidationReport) -> None:
    """A new source of findings must be added to the parametrized test above."""
    known = {"template", "cfn-lint", "sam-translator", "cfn-lint (translated)", "asl", "code"}
    assert {f.source for f in report.findings} <= known
    assert report.ok


def test_every_handler_and_code_path_resolves_with_exact_case(
    template: dict[str, Any],
) -> None:
    """CodeUri directories and Handler modules/functions exist as spelled (Lambda is Linux)."""
    assert check_functions(template, STACK) == []


def test_the_state_machine_definition_is_complete(template: dict[str, Any]) -> None:
    """DefinitionUri exists as spelled; every ${X} substituted; every target a real state."""
    assert check_state_machines(template, STACK) == []


def test_the_translation_has_the_generated_resources_sam_deploy_would_create(
    template: dict[str, Any],
) -> None:
    """The offline translation is the real one: roles, API stage and deployment appear."""
    translated, findings = translate(template)
    assert findings == []
    assert translated is not None
    types = {r["Type"] for r in translated["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert {"AWS::IAM::Role", "AWS::ApiGateway::Stage", "AWS::StepFunctions::StateMachine"} <= types
    assert "PaymentStateMachineRole" in translated["Resources"]


def _design_table() -> dict[str, tuple[str, list[str]]]:
    """docs/design.md's resource table: logical id -> (type column, output keys)."""
    rows: dict[str, tuple[str, list[str]]] = {}
    section = DESIGN.read_text(encoding="utf-8").split("## Resources", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("Logical id", "") or set(cells[0]) <= {"-"}:
            continue
        outputs = re.findall(r"`([A-Za-z]+)`", cells[2].split("(")[0])
        # "PaymentPipe + PipeRole | AWS::Pipes::Pipe, AWS::IAM::Role": pairs, in order
        ids, types = cells[0].split("+"), cells[1].split(",")
        for logical_id, type_column in zip(ids, types, strict=True):
            rows[logical_id.strip()] = (type_column.strip(), outputs)
    return rows


def test_the_template_has_the_resources_and_outputs_the_design_names(
    template: dict[str, Any],
) -> None:
    """docs/design.md is the contract between stack, local stack and CLI: names must agree."""
    rows = _design_table()
    resources = template["Resources"]
    outputs = template["Outputs"]
    assert isinstance(resources, dict)
    assert isinstance(outputs, dict)
    assert len(rows) >= 13
    for logical_id, (type_column, output_keys) in rows.items():
        assert logical_id in resources, f"{logical_id} is in the design but not in the template"
        declared = resources[logical_id]["Type"]
        assert type_column.startswith(declared), f"{logical_id}: {declared} vs {type_column}"
        for key in output_keys:
            assert key in outputs, f"output {key} ({logical_id}) missing from the template"


def test_find_stack_dir_finds_this_checkout_s_stack() -> None:
    """In the repo (an editable install) the bundled stack is the repo's stack/ directory."""
    assert find_stack_dir().resolve() == STACK.resolve()


def test_find_stack_dir_prefers_the_stack_bundled_in_a_wheel(tmp_path: Path) -> None:
    """An installed wheel has paycli/_stack (pyproject's force-include); it wins over stack/."""
    package = tmp_path / "paycli"
    assert find_stack_dir(package) == tmp_path / "stack"
    (package / "_stack").mkdir(parents=True)
    (package / "_stack" / "template.yaml").write_text("Resources: {}\n")
    assert find_stack_dir(package) == package / "_stack"


def _design_environment() -> dict[str, list[str]]:
    """docs/design.md's environment table: variable -> function logical ids ("all" expanded)."""
    section = DESIGN.read_text(encoding="utf-8").split("## Environment variables", 1)[1]
    section = section.split("\n## ", 1)[0]
    functions = [
        "IngressFunction",
        "ValidatePaymentFunction",
        "DeductAmountFunction",
        "ReconcileFunction",
    ]
    table: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"[A-Z_, ]+", cells[0]):
            continue
        users = cells[1].split("(")[0].strip()
        names = functions if users == "all" else [f"{u.strip()}Function" for u in users.split(",")]
        for variable in cells[0].split(","):
            table[variable.strip()] = names
    return table


def test_each_function_gets_the_environment_the_design_promises(
    template: dict[str, Any],
) -> None:
    """Handlers read these names; one missing from a function fails only at run time."""
    table = _design_environment()
    assert len(table) >= 10
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    for variable, functions in table.items():
        for function in functions:
            own = template["Resources"][function]["Properties"].get("Environment", {})
            declared = {**globals_env, **own.get("Variables", {})}
            assert variable in declared, f"{function} lacks {variable} (docs/design.md)"
