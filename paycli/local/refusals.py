"""The local stack refuses what AWS would refuse at deploy time, in AWS's own words.

Before anything is created, the template is translated as `sam deploy` would (paycli.lint.
translate) and checked with the same deploy rules `paycli validate` and cfn-lint apply
(paycli.lint.rules). An error rule's problem stops the deploy with the service's error text,
so a template that works locally cannot be one AWS rejects, where the rules can know.
Warnings (advice such as the log group naming) do not stop it.
"""

from __future__ import annotations

from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

from paycli.lint.deploy import deploy_problems
from paycli.lint.translate import TranslationError, translate
from paycli.local.template import TemplateError

_HINT = "paycli validate --stack-dir DIR lists every rule the template breaks"


def refuse_what_aws_refuses(template_path: Path, *, region: str, stack_name: str) -> None:
    """Raise TemplateError with AWS's error text for the first rule the template breaks."""
    body = yaml_parse(template_path.read_text(encoding="utf-8"))
    try:
        translated = translate(body, region=region)
    except TranslationError as exc:
        msg = f"{template_path}: the SAM transform would fail on AWS: {exc}"
        raise TemplateError(msg, hint=_HINT) from exc
    errors = [
        (rule_id, problem)
        for rule_id, problem in deploy_problems(translated, region=region, stack_name=stack_name)
        if rule_id.startswith("E")
    ]
    if errors:
        rule_id, problem = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        msg = f"AWS would refuse this template: {problem.error} [{rule_id}: {problem.detail}]{more}"
        raise TemplateError(msg, hint=_HINT)
