"""`paycli iam policy`: the least-privilege IAM policy a person needs to run paycli on AWS.

Two people use a deployed stack: an operator (every read and recovery command: status,
payments, accounts get/list, executions, dlq, logs, audit; deploy/destroy excluded, they need
CloudFormation's and every service's create rights) and a payer (`paycli pay`). Each grant below
is what the commands' services call (paycli/core), checked call by call: tests/integration/
test_iam_policy.py runs every operator command against the stack in moto, records each AWS call
with the IAM audit's recorder and proves each call is allowed and each granted action is used.

Resources are scoped to the stack. CloudFormation names what the template leaves unnamed (AWS
CloudFormation User Guide, "Name type"): `{stack}-{LogicalId}-{suffix}` for tables, queues and
functions, but `{LogicalId}-{suffix}` for a state machine (aws/aws-sam-cli#2022), so the state
machine pattern is only as narrow as its logical id unless the template names it. A name the
template writes (`TableName: !Sub ...`) is used as written. Account and region default to `*`
unless given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from samtranslator.yaml_helper import yaml_parse

from paycli.core.errors import UsageError
from paycli.lint.deploy._model import Stack, partition_of
from paycli.lint.deploy.names import is_valid_stack_name

Principal = Literal["operator", "payer"]
PRINCIPALS: Final = ("operator", "payer")


@dataclass(frozen=True)
class Grant:
    """Actions on resources, and the commands that need them (the statement's reason)."""

    commands: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # resource keys, resolved by `ResourceNames`


# Resource keys: "stack"; "table:<LogicalId>" (and "index:<LogicalId>" for its indexes);
# "queue:<LogicalId>"; "state-machine:<LogicalId>" / "executions:<LogicalId>";
# "function-logs" (every function's log group); "routes" (the API's payment routes: each POST,
# and the GET of one payment that `pay --wait` polls).
OPERATOR: Final = (
    Grant("every command (the stack's outputs)", ("cloudformation:DescribeStacks",), ("stack",)),
    Grant("logs (the stack's functions)", ("cloudformation:ListStackResources",), ("stack",)),
    Grant("logs", ("logs:FilterLogEvents",), ("function-logs",)),
    Grant(
        "status, executions list/watch/redrive, audit",
        ("states:ListExecutions",),
        ("state-machine:PaymentStateMachine",),
    ),
    Grant(
        "executions show/watch/redrive, audit",
        ("states:DescribeExecution", "states:GetExecutionHistory"),
        ("executions:PaymentStateMachine",),
    ),
    Grant(
        "executions redrive (RedriveExecution; a restart is a new execution)",
        ("states:RedriveExecution",),
        ("executions:PaymentStateMachine",),
    ),
    Grant(
        "executions redrive (restart of an execution that failed in its own Fail state)",
        ("states:StartExecution", "states:DescribeStateMachine"),
        ("state-machine:PaymentStateMachine",),
    ),
    Grant(
        "payments get, executions redrive (the payment decides)",
        ("dynamodb:GetItem",),
        ("table:PaymentsTable",),
    ),
    Grant("payments list/reconcile, audit", ("dynamodb:Query",), ("index:PaymentsTable",)),
    Grant("accounts get", ("dynamodb:GetItem",), ("table:AccountsTable",)),
    Grant("accounts list, audit", ("dynamodb:Scan",), ("table:AccountsTable",)),
    Grant("audit", ("dynamodb:Scan",), ("table:PaymentsTable", "table:LedgerTable")),
    Grant("audit (each account's ledger chain)", ("dynamodb:Query",), ("table:LedgerTable",)),
    Grant(
        "status, dlq stats/redrive/purge, audit",
        ("sqs:GetQueueAttributes",),
        ("queue:PaymentQueue", "queue:PaymentDeadLetterQueue"),
    ),
    Grant(
        "dlq peek (messages stay: their visibility is reset), audit",
        ("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility"),
        ("queue:PaymentDeadLetterQueue",),
    ),
    # SQS Developer Guide, DLQ redrive permissions: a move task also needs ReceiveMessage,
    # DeleteMessage and GetQueueAttributes on the DLQ and SendMessage on the destination.
    Grant(
        "dlq redrive (a message move task)",
        ("sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:DeleteMessage"),
        ("queue:PaymentDeadLetterQueue",),
    ),
    Grant(
        "dlq redrive (the move task's destination), payments reconcile (re-enqueue)",
        ("sqs:SendMessage",),
        ("queue:PaymentQueue",),
    ),
    Grant("dlq purge", ("sqs:PurgeQueue",), ("queue:PaymentDeadLetterQueue",)),
)
PAYER: Final = (
    Grant(
        "pay (finds the API's URL in the stack's outputs)",
        ("cloudformation:DescribeStacks",),
        ("stack",),
    ),
    Grant(
        "pay (the signed POST of each method; --wait: GET of the payment)",
        ("execute-api:Invoke",),
        ("routes",),
    ),
)


@dataclass(frozen=True)
class ResourceNames:
    """ARN patterns of the stack's resources, from its translated template."""

    template: Mapping[str, Any]
    stack_name: str
    region: str = "*"
    account: str = "*"
    partition: str = "aws"
    # How a resource without a name in the template is named: CloudFormation's way by default;
    # tests pass the local stack's `{stack}-{LogicalId}`.
    generated: Callable[[str, str, str], str] | None = None

    def arns(self, key: str) -> list[str]:
        """The ARN patterns one resource key stands for."""
        kind, _, logical_id = key.partition(":")
        where = f"arn:{self.partition}:{{service}}:{self.region}:{self.account}"
        builders: dict[str, Callable[[], list[str]]] = {
            "stack": lambda: [
                f"{where.format(service='cloudformation')}:stack/{self.stack_name}/*"
            ],
            "table": lambda: [self._table(where, logical_id)],
            "index": lambda: [f"{self._table(where, logical_id)}/index/*"],
            "queue": lambda: [
                f"{where.format(service='sqs')}:{self._name(logical_id, 'QueueName')}"
            ],
            "state-machine": lambda: [
                f"{where.format(service='states')}:stateMachine:"
                f"{self._name(logical_id, 'StateMachineName')}"
            ],
            "executions": lambda: [
                f"{where.format(service='states')}:execution:"
                f"{self._name(logical_id, 'StateMachineName')}:*"
            ],
            "function-logs": lambda: [
                f"{where.format(service='logs')}:log-group:/aws/lambda/"
                f"{self._name(function, 'FunctionName')}:*"
                for function in self._of_type("AWS::Lambda::Function")
            ],
            "routes": self._routes,
        }
        return builders[kind]()

    def _table(self, where: str, logical_id: str) -> str:
        return f"{where.format(service='dynamodb')}:table/{self._name(logical_id, 'TableName')}"

    def _resource(self, logical_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (self.template.get("Resources") or {}).get(logical_id) or {}
        return found

    def _of_type(self, kind: str) -> list[str]:
        resources = self.template.get("Resources") or {}
        return [lid for lid, r in resources.items() if r.get("Type") == kind]

    def _name(self, logical_id: str, prop: str) -> str:
        """The physical name: as the template writes it, else as CloudFormation makes it."""
        stack = Stack(self.template, self.region, self.stack_name, self.account)
        written = stack.string((self._resource(logical_id).get("Properties") or {}).get(prop))
        if written is not None:
            return written
        kind = str(self._resource(logical_id).get("Type"))
        if self.generated is not None:
            return self.generated(self.stack_name, logical_id, kind)
        return cloudformation_name(self.stack_name, logical_id, kind)

    def _routes(self) -> list[str]:
        """`{api}/{stage}/{METHOD}/{path}` of every POST route and the GET of one payment."""
        arns: list[str] = []
        for api_id in self._of_type("AWS::ApiGateway::RestApi"):
            body = (self._resource(api_id).get("Properties") or {}).get("Body") or {}
            for path, methods in (body.get("paths") or {}).items():
                resource = "/".join(
                    "*" if part.startswith("{") else part for part in path.strip("/").split("/")
                )
                arns += [
                    f"arn:{self.partition}:execute-api:{self.region}:{self.account}:*/*/"
                    f"{method.upper()}/{resource}"
                    for method in methods
                    if method.upper() in {"POST", "GET"}
                ]
        return sorted(arns)


def cloudformation_name(stack_name: str, logical_id: str, kind: str) -> str:
    """CloudFormation's generated physical name as a pattern (random suffix: `*`)."""
    if kind == "AWS::StepFunctions::StateMachine":
        return f"{logical_id}-*"
    return f"{stack_name}-{logical_id}-*"


def policy(grants: tuple[Grant, ...], names: ResourceNames) -> dict[str, Any]:
    """An IAM policy document: one Allow statement per grant, resources as ARN patterns."""
    statements = []
    for index, grant in enumerate(grants, 1):
        resources = sorted({arn for key in grant.resources for arn in names.arns(key)})
        statements.append(
            {
                "Sid": f"Paycli{index:02d}",
                "Effect": "Allow",
                "Action": sorted(grant.actions),
                "Resource": resources,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def grants_for(principal: str) -> tuple[Grant, ...]:
    """The grants of one kind of user."""
    if principal == "operator":
        return OPERATOR
    if principal == "payer":
        return PAYER
    raise UsageError(f"unknown --for {principal!r}", hint=f"use one of {', '.join(PRINCIPALS)}")


def policy_for(
    principal: str, *, stack_name: str, region: str = "*", account: str = "*"
) -> tuple[dict[str, Any], list[str]]:
    """The policy document for one kind of user of the bundled stack, and each statement's
    reason (the commands that need it)."""
    from paycli.lint.translate import translate  # noqa: PLC0415 - heavy: samtranslator
    from paycli.lint.validate import find_stack_dir  # noqa: PLC0415

    grants = grants_for(principal)
    _check_scope(stack_name, region, account)
    source = yaml_parse((find_stack_dir() / "template.yaml").read_text(encoding="utf-8"))
    translated = translate(source, region="us-east-1" if region == "*" else region)
    partition = partition_of(region) if region != "*" else "aws"
    names = ResourceNames(translated, stack_name, region, account, partition)
    return policy(grants, names), [grant.commands for grant in grants]


_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_ACCOUNT = re.compile(r"\d{12}")


def _check_scope(stack_name: str, region: str, account: str) -> None:
    """The policy's scope is checked before it is built: a typo would grant nothing useful."""
    if not is_valid_stack_name(stack_name):
        raise UsageError(
            f"{stack_name!r} is not a CloudFormation stack name",
            hint="a letter, then letters, digits and hyphens (at most 128)",
        )
    if region != "*" and not _REGION.fullmatch(region):
        raise UsageError(f"{region!r} is not an AWS region", hint="e.g. eu-west-1, or omit it")
    if account != "*" and not _ACCOUNT.fullmatch(account):
        raise UsageError(f"{account!r} is not an AWS account id", hint="12 digits, or omit it")
