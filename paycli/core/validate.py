"""Offline checks of the SAM app: what `paycli validate` and CI run before anything is deployed.

Four independent checks, each returning plain `Finding`s:

- `lint_sam`: cfn-lint on `template.yaml` as written (the SAM form);
- `translate` + `lint_translated`: the offline aws-sam-translator output linted again. cfn-lint
  1.58 validates the SAM form against SAM schemas and, measured here, never checks `!Ref`/
  `!GetAtt` inside a function's Environment or SAM policy templates, and elsewhere accepts any
  name that starts with a SAM resource's id (`DeductAmountFunctions`), since SAM generates
  resources named that way. After translation every such reference is checked;
- `check_state_machines`: the ASL after `DefinitionSubstitutions` (placeholders, JSON, state
  graph, and moto's ASL parser, which is what the local stack executes);
- `check_functions`: every `CodeUri` and `Handler` resolves on disk with exact case (macOS and
  Windows forgive a wrong case; Lambda's Linux and CI do not).

Everything works from a path, so it serves the repo's `stack/` and a wheel's `paycli/_stack`
alike. Nothing here touches the network or the user's AWS configuration. Importing this module
loads cfn-lint, samtranslator and moto's ASL parser (about 2 s): the CLI imports it inside the
command body only.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cfnlint.api import lint
from cfnlint.decode.decode import decode_str
from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

TEMPLATE_NAME = "template.yaml"
DEFAULT_REGION = "us-east-1"
# Stands in for the S3 bucket `sam package` would upload local code to: the translator only
# needs a well-formed s3:// URI, it never reads the object.
_PLACEHOLDER_BUCKET = "paycli-validate-placeholder"
_PLACEHOLDER_ACCOUNT = "123456789012"
_LOCAL_URI_KEYS = ("CodeUri", "ContentUri", "DefinitionUri")
_SAR_APPLICATION = "AWS::Serverless::Application"
_SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")
_TERMINAL_TYPES = frozenset({"Succeed", "Fail"})
# The oldest Python the handlers run on: the local stack runs them on the CLI's 3.11.
_HANDLER_PYTHON = (3, 11)


class Severity(StrEnum):
    """How bad a finding is; only errors fail `paycli validate`."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, how bad it is, what it is, and where.

    `code` is stable for scripts and tests: a cfn-lint rule id (`E1010`) or one of ours
    (`asl-unknown-target`, `path-case`, ...). `location` is `file:line:column` when the source
    has lines, else `file: dotted.path`.
    """

    source: str
    severity: Severity
    code: str
    message: str
    location: str


@dataclass(frozen=True)
class ValidationReport:
    """All findings for one stack directory; `ok` is what the exit code follows."""

    stack_dir: Path
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that make the stack undeployable or wrong."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        """True when no check found an error (warnings do not fail validation)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape: stable field names, severities as strings."""
        return {
            "stack_dir": str(self.stack_dir),
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": sum(f.severity is Severity.WARNING for f in self.findings),
            "findings": [{**asdict(f), "severity": str(f.severity)} for f in self.findings],
        }


def _error(source: str, code: str, message: str, location: str) -> Finding:
    """An error finding of one of our own checks."""
    return Finding(source, Severity.ERROR, code, message, location)


def _warning(source: str, code: str, message: str, location: str) -> Finding:
    """A warning finding: worth fixing, but the stack deploys and works."""
    return Finding(source, Severity.WARNING, code, message, location)


# ---------------------------------------------------------------------------- entry point


def validate_stack(stack_dir: Path, *, region: str = DEFAULT_REGION) -> ValidationReport:
    """Run every check on the SAM app in `stack_dir` (the directory holding template.yaml)."""
    template_path = stack_dir / TEMPLATE_NAME
    if not template_path.is_file():
        missing = _error(
            "template", "template-missing", f"no {TEMPLATE_NAME} in {stack_dir}", str(template_path)
        )
        return ValidationReport(stack_dir, (missing,))
    text = template_path.read_text(encoding="utf-8")
    template, findings = load_template(text)
    if template is None:
        return ValidationReport(stack_dir, tuple(findings))
    findings += lint_sam(text, region=region)
    translated, translate_findings = translate(template, region=region)
    findings += translate_findings
    if translated is not None:
        findings += lint_translated(translated, sam_ids=set(_resources(template)), region=region)
    findings += check_state_machines(template, stack_dir)
    findings += check_functions(template, stack_dir)
    return ValidationReport(stack_dir, tuple(findings))


def find_stack_dir(package_dir: Path | None = None) -> Path:
    """The bundled SAM app: `paycli/_stack` in an installed wheel, else the repo's `stack/`.

    `package_dir` is the `paycli` package directory (tests pass a fake one).
    """
    package_dir = package_dir or Path(__file__).resolve().parent.parent
    bundled = package_dir / "_stack"
    if (bundled / TEMPLATE_NAME).is_file():
        return bundled
    return package_dir.parent / "stack"


# ---------------------------------------------------------------------------- template


def load_template(text: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse the YAML with cfn-lint's decoder, which keeps line marks for our own findings."""
    template, matches = decode_str(text)
    findings = [_from_match(m, "cfn-lint") for m in matches]
    if not isinstance(template, dict):
        if not findings:
            findings.append(
                _error("template", "template-empty", "the template is empty", TEMPLATE_NAME)
            )
        return None, findings
    return template, findings


def lint_sam(text: str, *, region: str = DEFAULT_REGION) -> list[Finding]:
    """cfn-lint on the template as written: schemas of the SAM resources and their properties."""
    matches, crashed = _lint(text, region, "cfn-lint")
    return crashed + [_from_match(m, "cfn-lint") for m in matches]


def _lint(text: str, region: str, source: str) -> tuple[list[Any], list[Finding]]:
    """cfn-lint's matches, or why it could not produce any.

    cfn-lint 1.58 crashes on some malformed templates (`Resources` as a list: AttributeError in
    its graph builder); a validator reports that rather than dying with a traceback.
    """
    try:
        return list(lint(text, regions=[region])), []
    except Exception as exc:  # noqa: BLE001 - see the docstring
        message = f"cfn-lint could not check this template: {exc!r}"
        return [], [_error(source, "cfn-lint-crash", message, TEMPLATE_NAME)]


def _from_match(match: Any, source: str, location: str | None = None) -> Finding:
    """A cfn-lint Match as a Finding; cfn-lint says `informational` where we say `info`."""
    severity = {"error": Severity.ERROR, "warning": Severity.WARNING}.get(
        str(match.rule.severity).lower(), Severity.INFO
    )
    where = location or f"{TEMPLATE_NAME}:{match.linenumber}:{match.columnnumber}"
    return Finding(source, severity, str(match.rule.id), _shorten(str(match.message)), where)


def _shorten(message: str) -> str:
    """cfn-lint lists every allowed name in "'X' is not one of [...]": keep the count only."""
    return re.sub(
        r"is not one of \[(.*)\]$",
        lambda m: f"is not one of the {m.group(1).count(',') + 1} names allowed here",
        message,
    )


# ---------------------------------------------------------------------------- translation


@dataclass(frozen=True)
class _OfflineSession:
    """All the translator reads from its boto3 session is `region_name`; a real Session would
    read ~/.aws and fail on a missing AWS_PROFILE, for a check that never calls AWS."""

    region_name: str


def translate(
    template: Mapping[str, Any], *, region: str = DEFAULT_REGION
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The CloudFormation that `sam deploy` would submit, built offline.

    Local CodeUri/DefinitionUri paths become s3:// placeholders (as `sam package` would make
    them) and managed policies resolve from an empty static map: nothing asks IAM or S3.
    """
    nested = [i for i, r in _resources(template).items() if r.get("Type") == _SAR_APPLICATION]
    if nested:
        message = (
            f"not translated: {', '.join(nested)} would make the translator call the Serverless "
            "Application Repository, and this check stays offline"
        )
        return None, [_warning("sam-translator", "sam-translate-skipped", message, TEMPLATE_NAME)]
    sam = _with_s3_placeholders(_plain(template))
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=_OfflineSession(region), metrics=metrics)
    try:
        translated: dict[str, Any] = translator.translate(
            sam, parameter_values={}, get_managed_policy_map=dict
        )
    except InvalidDocumentException as exc:
        return None, [_translator_finding(cause) for cause in exc.causes]
    except ExceptionWithMessage as exc:
        return None, [_translator_finding(exc)]
    # Malformed input (a Properties that is not a mapping, ...) can reach code in the translator
    # that raises plain TypeErrors; cfn-lint names the cause, this says translation stopped.
    except Exception as exc:  # noqa: BLE001
        message = f"the translator stopped: {exc!r}"
        return None, [_error("sam-translator", "sam-translate", message, TEMPLATE_NAME)]
    finally:
        metrics.publish()  # else its __del__ logs a warning about unpublished metrics
    return translated, []


def _translator_finding(exc: Any) -> Finding:
    """One translator error; resource errors carry the logical id they are about."""
    found = re.match(r"Resource with id \[([^\]]+)\]", str(exc.message))
    logical_id = found.group(1) if found else None
    where = f"{TEMPLATE_NAME}: Resources.{logical_id}" if logical_id else TEMPLATE_NAME
    return Finding("sam-translator", Severity.ERROR, "sam-translate", str(exc.message), where)


def _plain(template: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy in plain dicts/lists/strs: the translator mutates its input."""
    plain: dict[str, Any] = json.loads(json.dumps(template, default=str))
    return plain


def _with_s3_placeholders(template: dict[str, Any]) -> dict[str, Any]:
    """Swap every local path property of SAM resources and Globals for an s3:// placeholder."""
    sections = [
        res.get("Properties")
        for res in _resources(template).values()
        if str(res.get("Type", "")).startswith("AWS::Serverless::")
    ]
    sections += list((template.get("Globals") or {}).values())
    for props in sections:
        if not isinstance(props, dict):
            continue
        for key in _LOCAL_URI_KEYS:
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[key] = f"s3://{_PLACEHOLDER_BUCKET}/{key}/{value.strip('/') or 'root'}"
    return template


def lint_translated(
    translated: Mapping[str, Any], *, sam_ids: set[str], region: str = DEFAULT_REGION
) -> list[Finding]:
    """cfn-lint on the translated template, where broken references become visible.

    Translated resources have no lines in template.yaml, so a finding is located by its path
    and the SAM resource it came from (`IngressFunctionRole` came from `IngressFunction`).
    """
    matches, findings = _lint(json.dumps(translated), region, "cfn-lint (translated)")
    for match in matches:
        path = [str(p) for p in getattr(match, "path", None) or []]
        origin = _origin(path[1], sam_ids) if len(path) > 1 and path[0] == "Resources" else None
        where = "translated: " + ".".join(path)
        if origin and origin != path[1]:
            where += f" (from {origin})"
        findings.append(_from_match(match, "cfn-lint (translated)", where))
    return findings


def _origin(translated_id: str, sam_ids: set[str]) -> str | None:
    """The SAM resource a generated one came from: the longest SAM logical id it starts with."""
    candidates = [sam_id for sam_id in sam_ids if translated_id.startswith(sam_id)]
    return max(candidates, key=len, default=None)


# ---------------------------------------------------------------------------- state machines


def check_state_machines(template: Mapping[str, Any], stack_dir: Path) -> list[Finding]:
    """Every AWS::Serverless::StateMachine: its DefinitionUri file, then its definition."""
    findings: list[Finding] = []
    for logical_id, resource in _resources(template).items():
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
    findings = [_path_finding(p, logical_id, "DefinitionUri", uri, uri) for p in problems]
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
            _error(
                "asl",
                "asl-json",
                f"not valid JSON after substitution: {exc.msg}",
                f"{where}:{exc.lineno}:{exc.colno}",
            )
        )
        return findings
    if not isinstance(definition, dict):
        findings.append(_error("asl", "asl-json", "the definition is not a JSON object", where))
        return findings
    findings += check_state_graph(definition, where)
    findings += check_moto_parses(substituted, where)
    return findings


def check_substitutions(text: str, substitutions: Mapping[str, Any], where: str) -> list[Finding]:
    """Every `${X}` has a substitution (error) and every substitution is used (warning)."""
    used = set(_SUBSTITUTION.findall(text))
    findings = [
        _error(
            "asl",
            "asl-missing-substitution",
            f"${{{name}}} has no entry in DefinitionSubstitutions",
            where,
        )
        for name in sorted(used - set(substitutions))
    ]
    findings += [
        _warning(
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
        return json.dumps(_stand_in(substitutions[name]))[1:-1]

    return _SUBSTITUTION.sub(stand_in, text)


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
        return [_error("asl", "asl-no-states", "States is missing or empty", f"{where}: States")]
    findings: list[Finding] = []
    start = definition.get("StartAt")
    if not isinstance(start, str) or start not in states:
        findings.append(
            _error(
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
        return [_error("asl", "asl-state", "a state must be an object", at)]
    findings = [
        _error(
            "asl", "asl-unknown-target", f"{name}.{path} names no state: {target!r}", f"{at}.{path}"
        )
        for path, target in _transitions(state)
        if not isinstance(target, str) or target not in states
    ]
    kind = state.get("Type")
    if kind == "Choice":
        if not state.get("Choices"):
            findings.append(
                _error("asl", "asl-no-way-out", f"Choice state {name} has no Choices", at)
            )
        if "Default" not in state:
            findings.append(
                _warning(
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
            findings.append(_error("asl", "asl-no-way-out", f"{kind} state {name} {problem}", at))
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
        _error(
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
        _error(
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
        return [_error("asl", "asl-parse", f"{message} ({detail})" if detail else message, where)]
    return []


# ---------------------------------------------------------------------------- functions


def check_functions(template: Mapping[str, Any], stack_dir: Path) -> list[Finding]:
    """Every AWS::Serverless::Function: CodeUri is a directory and Handler names a function."""
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    findings: list[Finding] = []
    for logical_id, resource in _resources(template).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        own = resource.get("Properties") or {}
        if not isinstance(own, dict) or not isinstance(globals_fn, dict):
            continue  # malformed: cfn-lint reports it
        props = {**globals_fn, **own}
        if "InlineCode" in props or props.get("PackageType") == "Image":
            continue
        findings += _check_function(logical_id, props, stack_dir)
    return findings


def _check_function(logical_id: str, props: Mapping[str, Any], stack_dir: Path) -> list[Finding]:
    """One function: its code directory, then its handler inside it."""
    code_uri = props.get("CodeUri")
    if not isinstance(code_uri, str):
        return [
            _error(
                "code",
                "code-uri-missing",
                f"{logical_id} has no CodeUri (nor Globals.Function.CodeUri)",
                _where(None, logical_id),
            )
        ]
    if code_uri.startswith("s3://"):
        return []
    code_dir, problems = resolve_exact(stack_dir, code_uri)
    findings = [_path_finding(p, logical_id, "CodeUri", code_uri, code_uri) for p in problems]
    if code_dir is None:
        return findings
    if not code_dir.is_dir():
        return [
            *findings,
            _path_finding(
                ("path-missing", "is not a directory"), logical_id, "CodeUri", code_uri, code_uri
            ),
        ]
    runtime = str(props.get("Runtime", "python"))
    if runtime.startswith("python"):
        findings += check_handler(
            logical_id, props.get("Handler"), code_dir, _where(props.get("Handler"), logical_id)
        )
    return findings


def check_handler(logical_id: str, handler: Any, code_dir: Path, where: str) -> list[Finding]:
    """`pkg.mod.func`: a module file under the code directory with a top-level `func`.

    The module is parsed, never imported: importing would run its module-scope code (clients,
    environment lookups) and hide a wrong case on a case-insensitive filesystem.
    """
    if not isinstance(handler, str) or handler.count(".") < 1:
        return [
            _error(
                "code",
                "handler-format",
                f"{logical_id}.Handler must be 'module.function', got {handler!r}",
                where,
            )
        ]
    module, function = handler.rsplit(".", 1)
    module_path, problems = _find_module(code_dir, module.split("."))
    relative = module.replace(".", "/")
    if module_path is None:
        return [
            _error(
                "code",
                "handler-missing-module",
                f"{logical_id}.Handler {handler!r}: no {code_dir.name}/{relative}.py "
                f"(nor {relative}/__init__.py)",
                where,
            )
        ]
    findings = [
        _error("code", code, f"{logical_id}.Handler {handler!r}: {text}", where)
        for code, text in problems
    ]
    try:
        tree = ast.parse(
            module_path.read_text(encoding="utf-8"),
            str(module_path),
            feature_version=_HANDLER_PYTHON,
        )
    except SyntaxError as exc:
        version = ".".join(map(str, _HANDLER_PYTHON))
        return [
            *findings,
            _error(
                "code",
                "handler-syntax",
                f"{logical_id}.Handler: {module} does not parse as Python {version}: {exc.msg} "
                f"(line {exc.lineno})",
                where,
            ),
        ]
    if function not in _top_level_names(tree):
        findings.append(
            _error(
                "code",
                "handler-missing-function",
                f"{logical_id}.Handler: {module} has no top-level function {function!r}",
                where,
            )
        )
    return findings


def _find_module(code_dir: Path, parts: list[str]) -> tuple[Path | None, list[tuple[str, str]]]:
    """`a.b.c` as `a/b/c.py` or the package `a/b/c/__init__.py`, names compared with exact case.

    A module found only under another case is returned with its `path-case` problems.
    """
    *packages, last = parts
    for candidate in ([*packages, f"{last}.py"], [*packages, last, "__init__.py"]):
        path, problems = resolve_exact(code_dir, "/".join(candidate))
        if path is not None and path.is_file():
            return path, problems
    return None, []


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at top level: functions, plus assignments and imports of callables
    (`handler = Resolver().resolve`, `from .x import handler`) which Lambda accepts as well."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
    return names


# ---------------------------------------------------------------------------- paths


def resolve_exact(base: Path, relative: str) -> tuple[Path | None, list[tuple[str, str]]]:
    """Follow `relative` from `base` one name at a time, comparing names as stored on disk.

    Returns the path (None when a name is missing) and problems as (code, text): a name that
    exists only with another case is `path-case` (it works on macOS and fails on Lambda).
    """
    current = base
    problems: list[tuple[str, str]] = []
    for part in Path(relative).parts:
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        names = [p.name for p in current.iterdir()] if current.is_dir() else []
        if part not in names:
            same_but_case = [n for n in names if n.lower() == part.lower()]
            if not same_but_case:
                return None, [
                    *problems,
                    ("path-missing", f"{part!r} does not exist in {_display(current, base)}"),
                ]
            problems.append(("path-case", f"{part!r} is {same_but_case[0]!r} on disk"))
            part = same_but_case[0]  # noqa: PLW2901 - go on checking the rest of the path
        current = current / part
    return current, problems


def _display(path: Path, base: Path) -> str:
    """A directory as the user wrote it: relative to the stack directory."""
    try:
        shown = path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
    return "the stack directory" if shown == "." else f"{shown}/"


def _path_finding(
    problem: tuple[str, str], logical_id: str, key: str, value: str, node: Any = None
) -> Finding:
    """A path problem of one resource property, as a code finding."""
    code, text = problem
    return _error("code", code, f"{logical_id}.{key} {value!r}: {text}", _where(node, logical_id))


# ---------------------------------------------------------------------------- helpers


def _resources(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The Resources section, skipping malformed entries (cfn-lint reports those)."""
    resources = template.get("Resources") or {}
    if not isinstance(resources, dict):
        return {}
    return {k: v for k, v in resources.items() if isinstance(v, dict)}


def _where(node: Any, logical_id: str) -> str:
    """`template.yaml:line:col` of a node cfn-lint's decoder marked, else the resource path."""
    mark = getattr(node, "start_mark", None)
    if mark is not None:
        return f"{TEMPLATE_NAME}:{mark.line + 1}:{mark.column + 1}"
    return f"{TEMPLATE_NAME}: Resources.{logical_id}"
