"""Step Functions logging to CloudWatch Logs: the role's permissions and the log group's name.

Step Functions Developer Guide, "Logging in CloudWatch Logs" (cw-logs.html): a state machine
with Logging destinations needs its role to allow the log-delivery actions below on "*" (they
take no resource ARN); without them CreateStateMachine fails with AccessDeniedException. The
same page recommends log group names under /aws/vendedlogs/states/, because CloudWatch Logs
resource policies (which log delivery writes) are limited to 5,120 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from paycli.lint.deploy._model import Problem, Stack

SOURCE = "https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html"
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
VENDED_PREFIX = "/aws/vendedlogs/states/"
_DENIED = (
    "AccessDeniedException: The state machine IAM Role is not authorized to access the Log "
    "Destination"
)
_LONG_POLICY = (
    "CloudWatch Logs resource policies are limited to 5,120 characters: AWS recommends log "
    f"groups for Step Functions under {VENDED_PREFIX}"
)


def _destinations(props: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    logging = props.get("LoggingConfiguration")
    destinations = logging.get("Destinations") if isinstance(logging, dict) else None
    for index, destination in enumerate(destinations if isinstance(destinations, list) else []):
        group = destination.get("CloudWatchLogsLogGroup") if isinstance(destination, dict) else None
        if isinstance(group, dict):
            yield index, group.get("LogGroupArn")


def check_permissions(stack: Stack) -> list[Problem]:
    """A state machine that logs has a role allowing every log-delivery action on "*"."""
    problems: list[Problem] = []
    for logical_id, props in stack.of_type("AWS::StepFunctions::StateMachine"):
        if not any(True for _ in _destinations(props)):
            continue
        role = stack.target(props.get("RoleArn"))
        if role is None or stack.resources[role].get("Type") != "AWS::IAM::Role":
            continue  # a role from outside the template: not known offline
        missing = [a for a in LOG_DELIVERY_ACTIONS if not _allows(stack, role, a)]
        if missing:
            problems.append(
                Problem(
                    ("Resources", logical_id, "Properties", "LoggingConfiguration"),
                    _DENIED,
                    f"{logical_id} logs to CloudWatch Logs but its role {role} does not allow "
                    f'{", ".join(missing)} on "*"',
                )
            )
    return problems


def _allows(stack: Stack, role: str, action: str) -> bool:
    """Whether an inline Allow statement of the role grants `action` on "*"."""
    props = stack.resources[role].get("Properties") or {}
    for policy in props.get("Policies") or []:
        document = policy.get("PolicyDocument") if isinstance(policy, dict) else None
        statements = document.get("Statement") if isinstance(document, dict) else None
        for statement in statements if isinstance(statements, list) else [statements]:
            if isinstance(statement, dict) and _grants(statement, action):
                return True
    return False


def _grants(statement: dict[str, Any], action: str) -> bool:
    if statement.get("Effect") != "Allow" or "Condition" in statement:
        return False
    actions = statement.get("Action")
    resources = statement.get("Resource")
    actions = actions if isinstance(actions, list) else [actions]
    resources = resources if isinstance(resources, list) else [resources]
    return "*" in resources and any(isinstance(a, str) and _wildcard(a, action) for a in actions)


def _wildcard(pattern: str, value: str) -> bool:
    """IAM's action matching: case-insensitive, `*` any run, `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def check_log_group_name(stack: Stack) -> list[Problem]:
    """Each log group a state machine logs to is named under /aws/vendedlogs/states/."""
    problems: list[Problem] = []
    for logical_id, props in stack.of_type("AWS::StepFunctions::StateMachine"):
        for index, arn in _destinations(props):
            group = stack.target(arn)
            if group is None or stack.resources[group].get("Type") != "AWS::Logs::LogGroup":
                continue
            group_props = stack.resources[group].get("Properties") or {}
            name = stack.string(group_props.get("LogGroupName"))
            if name is not None and name.startswith(VENDED_PREFIX):
                continue
            shown = repr(name) if name is not None else "generated by CloudFormation"
            problems.append(
                Problem(
                    ("Resources", group, "Properties"),
                    _LONG_POLICY,
                    f"{logical_id} logs (destination {index}) to {group}, whose name is {shown}",
                )
            )
    return problems
