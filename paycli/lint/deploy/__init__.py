"""AWS's deploy-time rules that cfn-lint and `sam validate --lint` miss, as plain checks.

Each rule is a function over the translated template (`Stack`) returning `Problem`s that carry
the service's own error text. `paycli.lint.rules` wraps them as cfn-lint rules (for `.cfnlintrc`,
editor plugins, CI and `paycli validate`); the local stack runs them through `deploy_problems`
without loading cfn-lint. Each rule's `source` is the AWS documentation page or the exact error
AWS returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from paycli.lint.deploy import api_tree, invoke_role, layers, names, pipes, sfn_logging
from paycli.lint.deploy._model import DEFAULT_STACK_NAME, Problem, Stack

__all__ = ["DEFAULT_STACK_NAME", "RULES", "DeployRuleSpec", "Problem", "Stack", "deploy_problems"]


@dataclass(frozen=True)
class DeployRuleSpec:
    """One rule: its id (E = AWS refuses the deploy, W = AWS advises), what it checks, where
    the rule comes from, and the check itself."""

    id: str
    shortdesc: str
    source: str
    check: Callable[[Stack], list[Problem]]


RULES: tuple[DeployRuleSpec, ...] = (
    DeployRuleSpec(
        "E9001",
        "API Gateway allows one variable path part name per level of the resource tree",
        "API Gateway BadRequestException 'A sibling ({x}) of this resource already has a "
        f"variable path part -- only one is allowed'; {api_tree.SOURCE}",
        api_tree.check_siblings,
    ),
    DeployRuleSpec(
        "E9002",
        "API Gateway path parts are letters, digits, ._- or a {variable}",
        "API Gateway BadRequestException 'Resource's path part only allow a-zA-Z0-9._- and curly "
        f"braces at the beginning and the end.'; {api_tree.SOURCE}",
        api_tree.check_characters,
    ),
    DeployRuleSpec(
        "E9003",
        "An API Gateway greedy path variable ({proxy+}) is the last part of its path",
        "API Gateway BadRequestException 'Cannot create a child of a resource with a greedy path "
        f"variable'; {api_tree.SOURCE}",
        api_tree.check_greedy,
    ),
    DeployRuleSpec(
        "E9010",
        "Names the template writes fit their service's limit under the deploy's stack name",
        names.SOURCE,
        names.check,
    ),
    DeployRuleSpec(
        "E9020",
        "A state machine that logs to CloudWatch Logs has the log-delivery permissions on *",
        "Step Functions AccessDeniedException 'The state machine IAM Role is not authorized to "
        f"access the Log Destination'; {sfn_logging.SOURCE}",
        sfn_logging.check_permissions,
    ),
    DeployRuleSpec(
        "W9021",
        "A state machine's log group is named under /aws/vendedlogs/states/",
        sfn_logging.SOURCE,
        sfn_logging.check_log_group_name,
    ),
    DeployRuleSpec(
        "E9030",
        "A pipe starts a STANDARD state machine with InvocationType FIRE_AND_FORGET",
        pipes.SOURCE,
        pipes.check,
    ),
    DeployRuleSpec(
        "E9040",
        "The Powertools layer ARN is the publisher's in the deploy region's partition",
        layers.SOURCE,
        layers.check,
    ),
    DeployRuleSpec(
        "E9050",
        "An AWS_IAM API does not invoke functions with the caller's credentials",
        f"{invoke_role.SOURCE}; aws/serverless-application-model#923",
        invoke_role.check,
    ),
)


def deploy_problems(
    translated: Mapping[str, Any], *, region: str, stack_name: str = DEFAULT_STACK_NAME
) -> list[tuple[str, Problem]]:
    """(rule id, problem) for every rule a translated template breaks, errors and warnings."""
    stack = Stack(translated, region, stack_name)
    return [(rule.id, problem) for rule in RULES for problem in rule.check(stack)]
