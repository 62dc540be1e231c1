"""The state machines' definitions, as Step Functions would get them after
`DefinitionSubstitutions`: placeholders, JSON, the state graph, and moto's ASL parser (what the
local stack executes). Step Functions rejects most of these only at CreateStateMachine, i.e. at
deploy time, and moto's parser accepts a `Next` to a state that does not exist.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

from paycli.core.sam import DEFINITION_VARIABLE
from paycli.lint.code import path_finding, resolve_exact
from paycli.lint.findings import DEFAULT_REGION, Finding, error, warning
from paycli.lint.translate import resources

_PLACEHOLDER_ACCOUNT = "123456789012"
_TERMINAL_TYPES = frozenset({"Succeed", "Fail"})


def check_state_machines(template: Mapping[str, Any], stack_dir: Path) -> list[Finding]:
    """Every AWS::Serverless::StateMachine: its DefinitionUri file, then its definition."""
    findings: list[Finding] = []
    for logical_id, resource in resources(template).items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            continue  # malformed: cfn-lint reports it
        text, where, problems = _definition_text(logical_id, props, stack_dir)
        findings += problems
        substitutions = props.get("DefinitionSubstitutions") or {}
        if text is not None and isinstance(substitutions, dict):  # else cfn-lint reports it
            findings += check_asl(text, substitutions, where)
    return findings


def _definition_text(
    logical_id: str, props: Mapping[str, Any], stack_dir: Path
) -> tuple[str | None, str, list[Finding]]:
    """The definition as text with where it came from, or None and why it cannot be read."""
    uri = props.get("DefinitionUri")
    if isinstance(props.get("Definition"), dict):
        return json.dumps(props["Definition"]), f"{logical_id}.Definition", []
    if not isinstance(uri, str) or uri.startswith("s3://"):
        return None, "", []
    path, problems = resolve_exact(stack_dir, uri)
    if path is not None and not path.is_file():
        problems.append(("path-missing", "is not a file"))
    findings = [path_finding(p, logical_id, "DefinitionUri", uri, uri) for p in problems]
    if path is None or not path.is_file():
        return None, uri, findings
    return path.read_text(encoding="utf-8"), uri, findings


def check_asl(text: str, substitutions: Mapping[str, Any], where: str) -> list[Finding]:
    """An ASL definition as Step Functions would get it after `DefinitionSubstitutions`."""
    findings = check_substitutions(text, substitutions, where)
    substituted = substitute(text, substitutions)
    try:
        definition = json.loads(substituted)
    except json.JSONDecodeError as exc:
        findings.append(
            error(
                "asl",
                "asl-json",
                f"not valid JSON after substitution: {exc.msg}",
                f"{where}:{exc.lineno}:{exc.colno}",
            )
        )
        return findings
    if not isinstance(definition, dict):
        findings.append(error("asl", "asl-json", "the definition is not a JSON object", where))
        return findings
    findings += check_state_graph(definition, where)
    findings += check_moto_parses(substituted, where)
    return findings


def check_substitutions(text: str, substitutions: Mapping[str, Any], where: str) -> list[Finding]:
    """Every `${X}` has a substitution (error) and every substitution is used (warning)."""
    used = set(DEFINITION_VARIABLE.findall(text))
    findings = [
        error(
            "asl",
            "asl-missing-substitution",
            f"${{{name}}} has no entry in DefinitionSubstitutions",
            where,
        )
        for name in sorted(used - set(substitutions))
    ]
    findings += [
        warning(
            "asl",
            "asl-unused-substitution",
            f"DefinitionSubstitutions.{name} is not used by the definition",
            where,
        )
        for name in sorted(set(substitutions) - used)
    ]
    return findings


def substitute(text: str, substitutions: Mapping[str, Any]) -> str:
    """Replace `${X}` with a stand-in for its value, JSON-escaped; unknown names stay as they are.

    The values are intrinsics resolved only at deploy time: a `!GetAtt X.Arn` becomes a
    well-formed ARN, anything else the logical id or literal, which is all the checks need.
    """

    def stand_in(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            return match.group(0)
        return str(json.dumps(_stand_in(substitutions[name])))[1:-1]

    return DEFINITION_VARIABLE.sub(stand_in, text)


def _stand_in(value: Any) -> str:
    """A deploy-time value's offline stand-in (see `substitute`)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else [str(p) for p in target]
        if parts[-1] == "Arn":
            return f"arn:aws:placeholder:{DEFAULT_REGION}:{_PLACEHOLDER_ACCOUNT}:{parts[0]}"
        return ".".join(parts)
    return "placeholder"


def check_state_graph(definition: Mapping[str, Any], where: str) -> list[Finding]:
    """Targets name real states, StartAt exists, every state can move on, none is unreachable.

    Step Functions rejects most of these at CreateStateMachine only, i.e. at deploy time, and
    moto's parser accepts a `Next` to a state that does not exist: this finds them offline.
    Parallel branches and Map processors are checked as the machines they are.
    """
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        return [error("asl", "asl-no-states", "States is missing or empty", f"{where}: States")]
    findings: list[Finding] = []
    start = definition.get("StartAt")
    if not isinstance(start, str) or start not in states:
        findings.append(
            error(
                "asl",
                "asl-unknown-target",
                f"StartAt names no state: {start!r}",
                f"{where}: StartAt",
            )
        )
    for name, state in states.items():
        findings += _check_state(name, state, states, where)
    findings += _check_reachability(start, states, where)
    return findings


def _transitions(state: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(field path, target) for every way out of a state: Next, Default, Choices, Catch."""
    if "Next" in state:
        yield "Next", state["Next"]
    if "Default" in state:
        yield "Default", state["Default"]
    for key in ("Choices", "Catch"):
        for index, rule in enumerate(state.get(key) or []):
            if isinstance(rule, dict) and "Next" in rule:
                yield f"{key}[{index}].Next", rule["Next"]


def _check_state(name: str, state: Any, states: Mapping[str, Any], where: str) -> list[Finding]:
    """One state's own shape: its targets exist, and it ends or moves on (not both)."""
    at = f"{where}: States.{name}"
    if not isinstance(state, dict):
        return [error("asl", "asl-state", "a state must be an object", at)]
    findings = [
        error(
            "asl", "asl-unknown-target", f"{name}.{path} names no state: {target!r}", f"{at}.{path}"
        )
        for path, target in _transitions(state)
        if not isinstance(target, str) or target not in states
    ]
    kind = state.get("Type")
    if kind == "Choice":
        if not state.get("Choices"):
            findings.append(
                error("asl", "asl-no-way-out", f"Choice state {name} has no Choices", at)
            )
        if "Default" not in state:
            findings.append(
                warning(
                    "asl",
                    "asl-choice-no-default",
                    f"Choice state {name} has no Default: unmatched input fails the execution "
                    "with States.NoChoiceMatched",
                    at,
                )
            )
    elif kind not in _TERMINAL_TYPES:
        ends, moves_on = state.get("End") is True, "Next" in state
        if ends == moves_on:
            problem = "has both Next and End" if ends else "has neither Next nor End: true"
            findings.append(error("asl", "asl-no-way-out", f"{kind} state {name} {problem}", at))
    findings += _check_nested(name, state, where)
    return findings


def _check_nested(name: str, state: Mapping[str, Any], where: str) -> list[Finding]:
    """Parallel branches and a Map's ItemProcessor (or legacy Iterator) are machines too."""
    findings: list[Finding] = []
    for index, branch in enumerate(state.get("Branches") or []):
        if isinstance(branch, dict):
            findings += check_state_graph(branch, f"{where}: States.{name}.Branches[{index}]")
    for key in ("ItemProcessor", "Iterator"):
        if isinstance(state.get(key), dict):
            findings += check_state_graph(state[key], f"{where}: States.{name}.{key}")
    return findings


def _check_reachability(start: Any, states: Mapping[str, Any], where: str) -> list[Finding]:
    """States no path from StartAt reaches, and reachable states no path leads out of."""
    edges = {
        name: [t for _, t in _transitions(state) if isinstance(t, str) and t in states]
        if isinstance(state, dict)
        else []
        for name, state in states.items()
    }
    reached = _closure({start} & set(states) if isinstance(start, str) else set(), edges)
    findings = [
        error(
            "asl",
            "asl-unreachable",
            f"state {name} is not reachable from StartAt",
            f"{where}: States.{name}",
        )
        for name in states
        if name not in reached
    ]
    reverse: dict[str, list[str]] = {name: [] for name in states}
    for source, targets in edges.items():
        for target in targets:
            reverse[target].append(source)
    # A state with no valid way out at all is reported once, as itself (no-way-out or
    # unknown-target): counting it as an end keeps its predecessors from being reported too.
    exits = {name for name, state in states.items() if _is_exit(state) or not edges[name]}
    can_finish = _closure(exits, reverse)
    findings += [
        error(
            "asl",
            "asl-dead-end",
            f"no path from state {name} reaches an end: the execution would loop forever",
            f"{where}: States.{name}",
        )
        for name in states
        if name in reached and name not in can_finish
    ]
    return findings


def _is_exit(state: Any) -> bool:
    """A state where an execution (or branch) can stop."""
    return isinstance(state, dict) and (
        state.get("Type") in _TERMINAL_TYPES or state.get("End") is True
    )


def _closure(seeds: set[Any], edges: Mapping[str, list[str]]) -> set[str]:
    """Every node reachable from `seeds` along `edges`."""
    seen: set[str] = set()
    stack = list(seeds)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, []))
    return seen


def check_moto_parses(definition: str, where: str) -> list[Finding]:
    """moto's ASL parser (the local stack's interpreter) accepts the definition.

    Its ANTLR sub-parsers print syntax errors to stderr instead of raising them all: they are
    captured and reported with the exception.
    """
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            StaticAnalyser().analyse(definition)
    # The parser raises ASLParserException for grammar errors but plain ValueError/KeyError
    # from its preprocessor (e.g. an unknown intrinsic function): all mean "rejected".
    except Exception as exc:  # noqa: BLE001
        detail = " ".join(captured.getvalue().split())
        message = f"moto's ASL parser rejects the definition: {exc!r}"
        return [error("asl", "asl-parse", f"{message} ({detail})" if detail else message, where)]
    return []
