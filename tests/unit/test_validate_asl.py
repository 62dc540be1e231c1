"""The state-machine checks of `paycli validate` on small hand-written definitions.

Each test breaks one thing that Step Functions would reject only at deploy time (or that moto's
interpreter would hit only mid-execution) and proves the offline check names it.
"""

from __future__ import annotations

import json
from typing import Any

from paycli.lint.asl import (
    check_asl,
    check_moto_parses,
    check_state_graph,
    check_substitutions,
    substitute,
)
from paycli.lint.findings import Finding, Severity

WHERE = "machine.asl.json"


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    """A definition starting at the first state given."""
    return {"StartAt": next(iter(states)), "States": states}


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_a_well_formed_machine_has_no_findings() -> None:
    """Task -> Choice -> Succeed/Fail with a Catch: every target real, every state reachable."""
    definition = machine(
        Work={"Type": "Pass", "Next": "Check"},
        Check={
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}],
            "Default": "Failed",
        },
        Done={"Type": "Succeed"},
        Failed={"Type": "Fail", "Error": "E", "Cause": "c"},
    )
    assert check_state_graph(definition, WHERE) == []
    assert check_moto_parses(json.dumps(definition), WHERE) == []


def test_next_to_a_missing_state_is_named_even_though_moto_accepts_it() -> None:
    """moto's parser does not check targets: ours reports the state and the field."""
    definition = machine(Work={"Type": "Pass", "Next": "Nowhere"}, Done={"Type": "Succeed"})
    findings = check_state_graph(definition, WHERE)
    unknown = [f for f in findings if f.code == "asl-unknown-target"]
    assert len(unknown) == 1
    assert unknown[0].severity is Severity.ERROR
    assert "'Nowhere'" in unknown[0].message
    assert unknown[0].location == f"{WHERE}: States.Work.Next"
    assert check_moto_parses(json.dumps(definition), WHERE) == []


def test_choice_default_and_catch_targets_are_checked() -> None:
    """Default, Choices[i].Next and Catch[i].Next are transitions like Next."""
    definition = machine(
        Work={
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler"}],
            "Next": "Check",
        },
        Check={
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Yes"}],
            "Default": "No",
        },
        Done={"Type": "Succeed"},
    )
    locations = {f.location for f in check_state_graph(definition, WHERE)}
    assert {
        f"{WHERE}: States.Work.Catch[0].Next",
        f"{WHERE}: States.Check.Choices[0].Next",
        f"{WHERE}: States.Check.Default",
    } <= locations


def test_start_at_must_name_a_state() -> None:
    definition = {"StartAt": "Begin", "States": {"Done": {"Type": "Succeed"}}}
    findings = check_state_graph(definition, WHERE)
    assert [f.location for f in findings if f.code == "asl-unknown-target"] == [f"{WHERE}: StartAt"]


def test_a_state_without_next_or_end_has_no_way_out() -> None:
    definition = machine(Work={"Type": "Pass"})
    assert codes(check_state_graph(definition, WHERE)) == ["asl-no-way-out"]


def test_a_state_with_both_next_and_end_is_an_error() -> None:
    definition = machine(
        Work={"Type": "Pass", "Next": "Done", "End": True}, Done={"Type": "Succeed"}
    )
    assert "asl-no-way-out" in codes(check_state_graph(definition, WHERE))


def test_unreachable_states_are_reported() -> None:
    """A state no transition leads to: Step Functions refuses the whole definition."""
    definition = machine(Work={"Type": "Pass", "End": True}, Orphan={"Type": "Succeed"})
    findings = check_state_graph(definition, WHERE)
    assert [(f.code, f.location) for f in findings] == [
        ("asl-unreachable", f"{WHERE}: States.Orphan")
    ]


def test_a_loop_with_no_exit_is_a_dead_end() -> None:
    """Every state has a Next, yet no path ever ends: the execution would run until timeout."""
    definition = machine(
        Ping={"Type": "Pass", "Next": "Pong"},
        Pong={"Type": "Wait", "Seconds": 1, "Next": "Ping"},
    )
    dead = [f.location for f in check_state_graph(definition, WHERE) if f.code == "asl-dead-end"]
    assert dead == [f"{WHERE}: States.Ping", f"{WHERE}: States.Pong"]


def test_a_choice_without_default_is_only_a_warning() -> None:
    definition = machine(
        Check={
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}],
        },
        Done={"Type": "Succeed"},
    )
    findings = check_state_graph(definition, WHERE)
    assert [(f.code, f.severity) for f in findings] == [("asl-choice-no-default", Severity.WARNING)]


def test_parallel_branches_are_checked_as_machines() -> None:
    definition = machine(
        Fan={
            "Type": "Parallel",
            "Branches": [machine(Inner={"Type": "Pass", "Next": "Missing"})],
            "End": True,
        }
    )
    findings = check_state_graph(definition, WHERE)
    assert f"{WHERE}: States.Fan.Branches[0]: States.Inner.Next" in {f.location for f in findings}


def test_every_placeholder_needs_a_substitution_and_every_substitution_a_use() -> None:
    text = '{"a": "${Known}", "b": "${Missing}"}'
    findings = check_substitutions(text, {"Known": "x", "Unused": "y"}, WHERE)
    assert [(f.code, f.severity) for f in findings] == [
        ("asl-missing-substitution", Severity.ERROR),
        ("asl-unused-substitution", Severity.WARNING),
    ]
    assert "${Missing}" in findings[0].message
    assert "Unused" in findings[1].message


def test_substitute_gives_intrinsics_json_safe_stand_ins() -> None:
    """A !GetAtt X.Arn becomes an ARN, a !Ref the logical id; quotes cannot break the JSON."""
    text = '{"f": "${Fn}", "q": "${Queue}", "s": "${Quoted}"}'
    values = {
        "Fn": {"Fn::GetAtt": ["ValidatePaymentFunction", "Arn"]},
        "Queue": {"Ref": "PaymentDeadLetterQueue"},
        "Quoted": 'say "hi"',
    }
    result = json.loads(substitute(text, values))
    assert result["f"].startswith("arn:aws:")
    assert result["f"].endswith(":ValidatePaymentFunction")
    assert result["q"] == "PaymentDeadLetterQueue"
    assert result["s"] == 'say "hi"'


def test_invalid_json_after_substitution_is_located() -> None:
    findings = check_asl('{"StartAt": "A",\n "States": {', {}, WHERE)
    assert codes(findings) == ["asl-json"]
    assert findings[0].location.startswith(f"{WHERE}:2:")


def test_moto_rejects_an_unknown_intrinsic_function() -> None:
    """The interpreter the local stack runs would fail on it: reported with moto's reason."""
    definition = machine(
        Parse={
            "Type": "Pass",
            "Parameters": {"message.$": "States.NoSuchFunction($[0].body)"},
            "End": True,
        }
    )
    findings = check_moto_parses(json.dumps(definition), WHERE)
    assert codes(findings) == ["asl-parse"]
    assert "NoSuchFunction" in findings[0].message


def test_moto_rejects_an_unknown_state_type() -> None:
    definition = machine(Work={"Type": "Bogus", "End": True})
    findings = check_moto_parses(json.dumps(definition), WHERE)
    assert codes(findings) == ["asl-parse"]
    assert "Bogus" in findings[0].message
