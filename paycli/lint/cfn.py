"""cfn-lint on the SAM template as written and on its offline translation.

cfn-lint 1.58 validates the SAM form against SAM schemas and, measured here, never checks
`!Ref`/`!GetAtt` inside a function's Environment or SAM policy templates, and elsewhere accepts
any name that starts with a SAM resource's id (`DeductAmountFunctions`), since SAM generates
resources named that way. After translation every such reference is checked, and so are the
deploy rules of `paycli.lint.rules` (AWS's own deploy-time refusals).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.decode.decode import decode_str

from paycli.lint.deploy import RULES
from paycli.lint.deploy._model import DEFAULT_STACK_NAME
from paycli.lint.findings import (
    DEFAULT_REGION,
    TEMPLATE_NAME,
    Finding,
    Severity,
    error,
    warning,
    where,
)
from paycli.lint.rules._base import existing_prefix, node_at, sam_path
from paycli.lint.translate import TranslationError, origin, translate

RULES_MODULE = "paycli.lint.rules"


def load_template(text: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse the YAML with cfn-lint's decoder, which keeps line marks for our own findings."""
    template, matches = decode_str(text)
    findings = [_from_match(m, "cfn-lint") for m in matches]
    if not isinstance(template, dict):
        if not findings:
            findings.append(
                error("template", "template-empty", "the template is empty", TEMPLATE_NAME)
            )
        return None, findings
    return template, findings


def lint_sam(text: str, *, region: str = DEFAULT_REGION) -> list[Finding]:
    """cfn-lint on the template as written: schemas of the SAM resources and their properties.

    The deploy rules are left out here (a `.cfnlintrc` in the working directory would add them):
    `lint_translated` runs them, once, on the translation.
    """
    config = ManualArgs(regions=[region], ignore_checks=[rule.id for rule in RULES])
    matches, crashed = _lint(text, config, "cfn-lint")
    return crashed + [_from_match(m, "cfn-lint") for m in matches]


def _lint(text: str, config: ManualArgs, source: str) -> tuple[list[Any], list[Finding]]:
    """cfn-lint's matches, or why it could not produce any.

    cfn-lint 1.58 crashes on some malformed templates (`Resources` as a list: AttributeError in
    its graph builder); a validator reports that rather than dying with a traceback.
    """
    try:
        return list(lint(text, config=config)), []
    except Exception as exc:  # noqa: BLE001 - see the docstring
        message = f"cfn-lint could not check this template: {exc!r}"
        return [], [error(source, "cfn-lint-crash", message, TEMPLATE_NAME)]


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


def translate_template(
    template: Mapping[str, Any], *, region: str = DEFAULT_REGION
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The CloudFormation `sam deploy` would submit (`paycli.lint.translate`), as findings."""
    try:
        return translate(template, region=region), []
    except TranslationError as exc:
        if exc.skipped:
            return None, [
                warning("sam-translator", "sam-translate-skipped", m, TEMPLATE_NAME)
                for _, m in exc.problems
            ]
        return None, [
            error(
                "sam-translator",
                "sam-translate",
                message,
                f"{TEMPLATE_NAME}: Resources.{logical_id}" if logical_id else TEMPLATE_NAME,
            )
            for logical_id, message in exc.problems
        ]


def lint_translated(
    translated: Mapping[str, Any],
    *,
    sam_ids: set[str],
    region: str = DEFAULT_REGION,
    stack_name: str = DEFAULT_STACK_NAME,
    sam: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """cfn-lint and the deploy rules on the translated template, where broken references and
    AWS's deploy-time refusals become visible.

    Translated resources have no lines in template.yaml, so a finding is located by its path
    and the SAM resource it came from (`IngressFunctionRole` came from `IngressFunction`); a
    deploy rule's finding, given the decoded SAM template, by the line of its SAM source.
    """
    config = ManualArgs(
        regions=[region],
        append_rules=[RULES_MODULE],
        configure_rules={rule.id: {"stack_name": stack_name} for rule in RULES},
    )
    matches, findings = _lint(json.dumps(translated), config, "cfn-lint (translated)")
    deploy_rules = {rule.id for rule in RULES}
    for match in matches:
        if sam is not None and str(match.rule.id) in deploy_rules:
            findings.append(_from_match(match, "deploy rules", _sam_location(sam, match)))
            continue
        path = [str(p) for p in getattr(match, "path", None) or []]
        source = origin(path[1], sam_ids) if len(path) > 1 and path[0] == "Resources" else None
        where = "translated: " + ".".join(path)
        if source and source != path[1]:
            where += f" (from {source})"
        findings.append(_from_match(match, "cfn-lint (translated)", where))
    return findings


def _sam_location(sam: Mapping[str, Any], match: Any) -> str:
    """`template.yaml:line:col` of the SAM source of a deploy rule's translated path."""
    path = sam_path(dict(sam), tuple(getattr(match, "path", None) or ()))
    source = existing_prefix(sam, path)
    logical_id = str(source[1]) if len(source) > 1 else ""
    return where(node_at(sam, source), logical_id)
