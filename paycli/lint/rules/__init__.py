"""The deploy rules (paycli.lint.deploy) as cfn-lint custom rules.

Named in the repo's `.cfnlintrc` (`append_rules: [paycli.lint.rules]`), so plain `cfn-lint`,
editor plugins, CI and `paycli validate` apply them: cfn-lint instantiates every rule class this
module exposes (one per rule, `RuleE9001`...). Each description ends with the rule's source.
Configure the stack name the names rule checks with `--configure-rule E9010:stack_name=NAME`
(`paycli validate --stack-name NAME` does it).
"""

from __future__ import annotations

from paycli.lint.deploy import RULES, DeployRuleSpec
from paycli.lint.rules._base import DeployRule


def _rule_class(spec: DeployRuleSpec) -> type[DeployRule]:
    """A DeployRule subclass; cfn-lint reads id, shortdesc, description and source_url."""
    return type(
        f"Rule{spec.id}",
        (DeployRule,),
        {
            "id": spec.id,
            "shortdesc": spec.shortdesc,
            "description": f"{spec.shortdesc}. Source: {spec.source}",
            "source_url": next((w for w in spec.source.split() if w.startswith("https://")), ""),
            "check": staticmethod(spec.check),
        },
    )


RULE_CLASSES = {spec.id: _rule_class(spec) for spec in RULES}
RuleE9001 = RULE_CLASSES["E9001"]
RuleE9002 = RULE_CLASSES["E9002"]
RuleE9003 = RULE_CLASSES["E9003"]
RuleE9010 = RULE_CLASSES["E9010"]
RuleE9020 = RULE_CLASSES["E9020"]
RuleW9021 = RULE_CLASSES["W9021"]
RuleE9030 = RULE_CLASSES["E9030"]
RuleE9040 = RULE_CLASSES["E9040"]
RuleE9050 = RULE_CLASSES["E9050"]
