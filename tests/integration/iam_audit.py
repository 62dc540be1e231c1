"""Least privilege, checked: each principal's IAM policy as CloudFormation would create it,
against the AWS calls the code actually makes.

moto does not enforce IAM, so nothing else here notices a handler calling an action its role
lacks (ingress's TransactWriteItems ConditionCheck on a table its role could only read: on AWS,
AccessDenied for every payment). This module

- translates template.yaml offline with `paycli.lint.cfn.translate_template` (the translation
  `paycli validate` lints), so SAM policy templates become plain statements on the generated
  AWS::IAM::Role of each function and of the state machine;
- evaluates their intrinsics with the local stack's `Resolver`, for concrete names;
- records the API calls of every boto3 client built while a `CallRecorder` is installed, through
  botocore's `provide-client-params` event, attributed by AWS_LAMBDA_FUNCTION_NAME;
- maps each call to the IAM actions and resource ARNs AWS authorises it against, and evaluates
  those against the role's Allow statements, with IAM's wildcards.

Whatever it does not model fails loudly (`UnsupportedError`): a Deny, NotAction, NotResource or
Condition, a call without a mapping, an intrinsic the resolver cannot evaluate. Managed policy
ARNs (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess) are not read, as their text is not
available offline; leaving out a grant can only turn an allowed call into a reported denial,
never hide one.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.handlers
import pytest
from botocore.model import OperationModel

from paycli.core.sam import DEFINITION_VARIABLE
from paycli.lint.cfn import load_template
from paycli.lint.cfn import translate_template as translate
from paycli.local.template import (
    ACCOUNT_ID,
    PARTITION,
    Resolver,
    Template,
    merge_globals,
    resolve_parameters,
)

REGION = "us-east-1"
# The property of each principal's resource that names its role (a GetAtt of the role's Arn).
_ROLE_PROPERTY = {
    "AWS::Lambda::Function": "Role",
    "AWS::StepFunctions::StateMachine": "RoleArn",
    "AWS::Pipes::Pipe": "RoleArn",
}
# Per the DynamoDB Developer Guide, "Using IAM with DynamoDB transactions"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html):
# "Permissions for Put, Update, Delete, and Get actions are governed by the permissions used for
# the underlying PutItem, UpdateItem, DeleteItem, and GetItem operations. For the ConditionCheck
# action, you can use the dynamodb:ConditionCheckItem permission", each on its item's table.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# SQS authorises a batch call with its single-message action (SQS API Reference).
_SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
# EventBridge Pipes' execution role, "Event source permissions for Amazon EventBridge Pipes"
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html): an SQS
# source needs these three on the queue.
_PIPE_SQS_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# A state machine target: FIRE_AND_FORGET is StartExecution, REQUEST_RESPONSE (the default)
# StartSyncExecution (AWS::Pipes::Pipe PipeTargetStateMachineParameters).
_PIPE_STATE_MACHINE_ACTIONS = {
    "FIRE_AND_FORGET": "states:StartExecution",
    "REQUEST_RESPONSE": "states:StartSyncExecution",
}
# An ASL Task's optimised integration (request-response only) or AWS SDK integration.
_ASL_INTEGRATION = re.compile(r"arn:aws:states:::(?:aws-sdk:)?([a-z0-9-]+):([A-Za-z0-9]+)")


class UnsupportedError(AssertionError):
    """Something this checker cannot evaluate faithfully: it fails rather than guess."""


# ---------------------------------------------------------------------------- what is needed


@dataclass(frozen=True, order=True)
class Permission:
    """One IAM action on one resource ARN."""

    action: str
    resource: str


@dataclass(frozen=True)
class Call:
    """One AWS API call a principal makes: botocore's service name, operation and parameters."""

    principal: str
    service: str
    operation: str
    params: Mapping[str, Any] = field(compare=False, hash=False)


@dataclass(frozen=True, order=True)
class Need:
    """A permission a principal needs, and which call (or wiring) needs it."""

    principal: str
    source: str
    permission: Permission

    def __str__(self) -> str:
        return (
            f"{self.principal}: {self.source} needs {self.permission.action} "
            f"on {self.permission.resource}"
        )


def table_arn(name: str, region: str = REGION) -> str:
    """A DynamoDB table's ARN from the name (or ARN) a request gives."""
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"


def queue_arn(url: str, region: str = REGION) -> str:
    """An SQS queue's ARN from its URL (https://host/ACCOUNT/NAME)."""
    parts = urlparse(url).path.strip("/").split("/")
    if len(parts) != 2:
        raise UnsupportedError(f"not an SQS queue URL: {url!r}")
    account, name = parts
    return f"arn:{PARTITION}:sqs:{region}:{account}:{name}"


def function_arn(name: str, region: str = REGION) -> str:
    """A Lambda function's ARN from the name (or ARN) an Invoke gives."""
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def _param(call: Call, name: str) -> str:
    value = call.params.get(name)
    if not isinstance(value, str):
        raise UnsupportedError(
            f"{call.principal}: {call.service}.{call.operation} without a literal {name} "
            f"(parameters: {sorted(call.params)}): its resource cannot be known"
        )
    return value


def _dynamodb(call: Call, region: str) -> list[Permission]:
    operation, params = call.operation, call.params
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        permissions = []
        for item in params["TransactItems"]:
            ((kind, spec),) = item.items()
            permissions.append(
                Permission(_TRANSACT_ITEM_ACTIONS[kind], table_arn(spec["TableName"], region))
            )
        return permissions
    if operation in {"BatchGetItem", "BatchWriteItem"}:
        return [
            Permission(f"dynamodb:{operation}", table_arn(table, region))
            for table in params["RequestItems"]
        ]
    resource = table_arn(_param(call, "TableName"), region)
    if "IndexName" in params:
        resource += f"/index/{_param(call, 'IndexName')}"
    return [Permission(f"dynamodb:{operation}", resource)]


def _sqs(call: Call, region: str) -> list[Permission]:
    if call.operation == "StartMessageMoveTask":
        return _message_move(call, region)
    if call.operation in {"ListMessageMoveTasks", "CancelMessageMoveTask"}:
        return [Permission(f"sqs:{call.operation}", _param(call, "SourceArn"))]
    action = _SQS_BATCH_ACTIONS.get(call.operation, call.operation)
    return [Permission(f"sqs:{action}", queue_arn(_param(call, "QueueUrl"), region))]


def _message_move(call: Call, region: str) -> list[Permission]:
    """SQS Developer Guide, "Learn how to configure a dead-letter queue redrive ... permissions":
    a move task needs StartMessageMoveTask, ReceiveMessage, DeleteMessage and
    GetQueueAttributes on the source (the DLQ) and SendMessage on the destination."""
    source = _param(call, "SourceArn")
    permissions = [
        Permission(f"sqs:{action}", source)
        for action in (
            "StartMessageMoveTask",
            "ReceiveMessage",
            "DeleteMessage",
            "GetQueueAttributes",
        )
    ]
    destination = call.params.get("DestinationArn")
    if not isinstance(destination, str):
        raise UnsupportedError(
            f"{call.principal}: a move task back to the DLQ's sources is not modelled"
        )
    return [*permissions, Permission("sqs:SendMessage", destination)]


def _secretsmanager(call: Call, _region: str) -> list[Permission]:
    secret = _param(call, "SecretId")
    if not secret.startswith("arn:"):
        raise UnsupportedError(f"{call.principal}: secret {secret!r} by name; the ARN is needed")
    return [Permission(f"secretsmanager:{call.operation}", secret)]


def _lambda(call: Call, region: str) -> list[Permission]:
    if call.operation != "Invoke":
        raise UnsupportedError(f"{call.principal}: no IAM mapping for lambda.{call.operation}")
    return [Permission("lambda:InvokeFunction", function_arn(_param(call, "FunctionName"), region))]


def _stepfunctions(call: Call, _region: str) -> list[Permission]:
    key = "executionArn" if "executionArn" in call.params else "stateMachineArn"
    return [Permission(f"states:{call.operation}", _param(call, key))]


def _cloudformation(call: Call, region: str) -> list[Permission]:
    name = _param(call, "StackName")
    arn = (
        name
        if name.startswith("arn:")
        else (f"arn:{PARTITION}:cloudformation:{region}:{ACCOUNT_ID}:stack/{name}/local")
    )
    return [Permission(f"cloudformation:{call.operation}", arn)]


def _logs(call: Call, region: str) -> list[Permission]:
    group = _param(call, "logGroupName")
    arn = f"arn:{PARTITION}:logs:{region}:{ACCOUNT_ID}:log-group:{group}:*"
    return [Permission(f"logs:{call.operation}", arn)]


def _sts(_call: Call, _region: str) -> list[Permission]:
    """GetCallerIdentity needs no permission (STS API Reference): nothing to grant."""
    return []


_MAPPERS: dict[str, Callable[[Call, str], list[Permission]]] = {
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "secretsmanager": _secretsmanager,
    "lambda": _lambda,
    "stepfunctions": _stepfunctions,
    "cloudformation": _cloudformation,
    "logs": _logs,
    "sts": _sts,
}


def needs_of(call: Call, source: str | None = None, region: str = REGION) -> list[Need]:
    """The permissions AWS checks for one call (one per item of a transaction or batch)."""
    mapper = _MAPPERS.get(call.service)
    if mapper is None:
        raise UnsupportedError(
            f"{call.principal}: no IAM mapping for {call.service}.{call.operation}"
        )
    label = source or f"{call.service}.{call.operation}"
    return [Need(call.principal, label, permission) for permission in mapper(call, region)]


# ---------------------------------------------------------------------------- what is allowed


def _wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's matching: `*` is any run of characters, `?` any single one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise UnsupportedError(f"{where}: not a string or list of strings: {value!r}")
    return tuple(items)


@dataclass(frozen=True)
class Statement:
    """An Allow statement: its Action and Resource patterns."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str) -> Statement:
        """An Allow statement; anything the checker does not evaluate is an error."""
        unsupported = sorted(set(raw) - {"Sid", "Effect", "Action", "Resource"})
        if unsupported:
            raise UnsupportedError(f"{where}: {unsupported} not evaluated by this checker")
        if raw.get("Effect") != "Allow":
            raise UnsupportedError(
                f"{where}: Effect {raw.get('Effect')!r}; the checker evaluates Allow only"
            )
        return cls(_strings(raw.get("Action"), where), _strings(raw.get("Resource"), where))

    def allows(self, permission: Permission) -> bool:
        """Action names match case-insensitively (IAM's rule), resource ARNs exactly."""
        return any(
            _wildcard_match(action, permission.action, ignore_case=True) for action in self.actions
        ) and any(_wildcard_match(resource, permission.resource) for resource in self.resources)


@dataclass(frozen=True)
class Policy:
    """Every inline statement of one principal's role."""

    principal: str
    role: str
    statements: tuple[Statement, ...]

    def allows(self, permission: Permission) -> bool:
        return any(statement.allows(permission) for statement in self.statements)


def denials(policies: Mapping[str, Policy], needs: Iterable[Need]) -> list[Need]:
    """The needs no Allow statement of their principal's role grants, sorted, once each."""
    denied: set[Need] = set()
    for need in needs:
        policy = policies.get(need.principal)
        if policy is None:
            raise UnsupportedError(f"no role was resolved for {need.principal} ({need})")
        if not policy.allows(need.permission):
            denied.add(need)
    return sorted(denied)


# ---------------------------------------------------------------------------- the template


def _attributes(kind: str, ref: str, region: str) -> dict[str, str]:
    """GetAtt attributes of a resource from its Ref value, as CloudFormation gives them."""
    if kind == "AWS::DynamoDB::Table":
        return {"Arn": table_arn(ref, region)}
    if kind == "AWS::SQS::Queue":
        arn = queue_arn(ref, region)
        return {"Arn": arn, "QueueName": arn.rsplit(":", 1)[1], "QueueUrl": ref}
    if kind == "AWS::Lambda::Function":
        return {"Arn": function_arn(ref, region)}
    if kind == "AWS::StepFunctions::StateMachine":
        return {"Arn": ref, "Name": ref.rsplit(":", 1)[1]}
    if kind == "AWS::SecretsManager::Secret":
        return {"Id": ref}
    raise UnsupportedError(f"no physical naming for {kind}")


@dataclass(frozen=True)
class App:
    """A SAM app: its template as written and as the translator turns it into CloudFormation."""

    path: Path
    sam: dict[str, Any]
    translated: dict[str, Any]

    @classmethod
    def load(cls, path: Path, region: str = REGION) -> App:
        sam, findings = load_template(path.read_text(encoding="utf-8"))
        if sam is None or findings:
            raise UnsupportedError(f"{path} does not load: {findings}")
        translated, findings = translate(sam, region=region)
        if translated is None or findings:
            raise UnsupportedError(f"{path} does not translate: {findings}")
        plain: dict[str, Any] = json.loads(json.dumps(sam, default=str))
        return cls(path, plain, translated)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.translated["Resources"]
        return resources

    def of_type(self, kind: str) -> list[str]:
        """Logical ids of the translated resources of one type."""
        return [logical_id for logical_id, r in self.resources.items() if r["Type"] == kind]

    def principals(self) -> list[str]:
        """Every resource that acts with a role: functions, state machines, pipes."""
        return [lid for lid, r in self.resources.items() if r["Type"] in _ROLE_PROPERTY]

    # ------------------------------------------------------------------ physical names

    def names_by_logical_id(self, region: str = REGION) -> dict[str, str]:
        """Ref values for every table, queue, secret, function and state machine named after its
        logical id (as the handler harness names them) in the moto account."""
        naming: dict[str, Callable[[str], str]] = {
            "AWS::DynamoDB::Table": lambda lid: lid,
            "AWS::SQS::Queue": lambda lid: f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{lid}",
            "AWS::SecretsManager::Secret": (
                lambda lid: (
                    f"arn:{PARTITION}:secretsmanager:{region}:{ACCOUNT_ID}:secret:{lid}-Ab12Cd"
                )
            ),
            "AWS::Lambda::Function": lambda lid: lid,
            "AWS::StepFunctions::StateMachine": (
                lambda lid: f"arn:{PARTITION}:states:{region}:{ACCOUNT_ID}:stateMachine:{lid}"
            ),
        }
        return {
            lid: naming[r["Type"]](lid) for lid, r in self.resources.items() if r["Type"] in naming
        }

    def refs_in_environment(self, function: str, environment: Mapping[str, str]) -> dict[str, str]:
        """What each `!Ref` in a function's Environment (Globals merged) became in `environment`."""
        merged = merge_globals(self.sam.get("Globals") or {}, self.sam["Resources"])
        variables = merged[function]["Properties"].get("Environment", {}).get("Variables", {})
        return self._refs(variables, environment)

    def refs_in_outputs(self, outputs: Mapping[str, str]) -> dict[str, str]:
        """What each `!Ref` Output became in a deployment's `outputs`."""
        values = {key: output["Value"] for key, output in (self.sam.get("Outputs") or {}).items()}
        return self._refs(values, outputs)

    def _refs(self, declared: Mapping[str, Any], resolved: Mapping[str, str]) -> dict[str, str]:
        refs = {}
        for key, value in declared.items():
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in self.resources:
                refs[value["Ref"]] = resolved[key]
        return refs

    def resolver(self, refs: Mapping[str, str], region: str = REGION) -> Resolver:
        """The local stack's intrinsic resolver over the translated template, with `refs` as
        the physical resources; anything else referenced is a TemplateError."""
        template = Template(
            path=self.path,
            parameters=resolve_parameters(self.translated.get("Parameters") or {}, {}),
            resources=self.resources,
            outputs={},
            mappings=self.translated.get("Mappings") or {},
            conditions=self.translated.get("Conditions") or {},
        )
        resolver = Resolver(template, region=region)
        for logical_id, ref in refs.items():
            resolver.add(
                logical_id, ref, **_attributes(self.resources[logical_id]["Type"], ref, region)
            )
        return resolver

    def arn_names(self, refs: Mapping[str, str], region: str = REGION) -> dict[str, str]:
        """Each resource's ARN -> its logical id (to name needs in assertions and reports)."""
        physical = self.resolver(refs, region).physical
        return {p.attributes.get("Arn", p.ref): lid for lid, p in physical.items()}

    # ------------------------------------------------------------------ roles

    def policies(self, resolver: Resolver, principals: Iterable[str]) -> dict[str, Policy]:
        """Each principal's role's inline statements, intrinsics resolved."""
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            if self.of_type(kind):
                raise UnsupportedError(f"{kind} resources are not read by this checker")
        return {principal: self._policy(resolver, principal) for principal in principals}

    def _policy(self, resolver: Resolver, principal: str) -> Policy:
        resource = self.resources[principal]
        role_ref = resource["Properties"].get(_ROLE_PROPERTY[resource["Type"]])
        getatt = role_ref.get("Fn::GetAtt") if isinstance(role_ref, dict) else None
        if not isinstance(getatt, list) or getatt[1:] != ["Arn"]:
            raise UnsupportedError(f"{principal}: role {role_ref!r} is not a GetAtt of a role Arn")
        role = str(getatt[0])
        if self.resources.get(role, {}).get("Type") != "AWS::IAM::Role":
            raise UnsupportedError(f"{principal}: {role} is not an AWS::IAM::Role of the template")
        statements: list[Statement] = []
        for conditional in self.resources[role]["Properties"].get("Policies") or []:
            inline = resolver.resolve(conditional)  # Fn::If on a condition: None when off
            if inline is None:
                continue
            where = f"{role}.{inline['PolicyName']}"
            raw = inline["PolicyDocument"]["Statement"]
            for statement in raw if isinstance(raw, list) else [raw]:
                statements.append(Statement.parse(statement, where))
        return Policy(principal, role, tuple(statements))

    # ------------------------------------------------------------------ wiring, statically

    def state_machine_needs(self, resolver: Resolver, region: str = REGION) -> list[Need]:
        """Every Task of every state machine's ASL (after DefinitionSubstitutions) as the calls
        Step Functions makes with the machine's role."""
        needs: list[Need] = []
        for logical_id in self.of_type("AWS::StepFunctions::StateMachine"):
            props = self.resources[logical_id]["Properties"]
            substitutions = resolver.resolve(props.get("DefinitionSubstitutions") or {})
            uri = self.sam["Resources"][logical_id]["Properties"]["DefinitionUri"]
            text = (self.path.parent / uri).read_text(encoding="utf-8")

            def substitute(match: re.Match[str], values: Mapping[str, Any] = substitutions) -> str:
                if match.group(1) not in values:
                    raise UnsupportedError(f"no DefinitionSubstitutions for {match.group(0)}")
                return str(values[match.group(1)])

            definition = json.loads(DEFINITION_VARIABLE.sub(substitute, text))
            for name, state in _task_states(definition):
                call = _task_call(logical_id, name, state)
                needs += needs_of(call, f"state {name} ({state['Resource']})", region)
        return needs

    def pipe_needs(self, resolver: Resolver) -> list[Need]:
        """What each pipe does with its role: read its SQS source, start its state machine."""
        needs: list[Need] = []
        for logical_id in self.of_type("AWS::Pipes::Pipe"):
            props = self.resources[logical_id]["Properties"]
            if "Enrichment" in props:
                raise UnsupportedError(f"{logical_id}: Enrichment is not modelled")
            source, target = resolver.resolve(props["Source"]), resolver.resolve(props["Target"])
            if not str(source).startswith("arn:aws:sqs:"):
                raise UnsupportedError(f"{logical_id}: source {source!r} is not modelled")
            needs += [
                Need(logical_id, "pipe source", Permission(action, source))
                for action in _PIPE_SQS_SOURCE_ACTIONS
            ]
            if ":states:" not in str(target) or ":stateMachine:" not in str(target):
                raise UnsupportedError(f"{logical_id}: target {target!r} is not modelled")
            parameters = (props.get("TargetParameters") or {}).get(
                "StepFunctionStateMachineParameters"
            ) or {}
            invocation = parameters.get("InvocationType", "REQUEST_RESPONSE")
            action = _PIPE_STATE_MACHINE_ACTIONS[invocation]
            needs.append(
                Need(logical_id, f"pipe target ({invocation})", Permission(action, target))
            )
        return needs


def _task_states(definition: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, state) of every Task, in Parallel branches and Map iterators too."""
    found = []
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            found.append((name, state))
        for branch in state.get("Branches", []):
            found += _task_states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                found += _task_states(state[key])
    return found


def _task_call(principal: str, name: str, state: Mapping[str, Any]) -> Call:
    """The API call a Task state makes: an optimised or AWS SDK integration, or a Lambda ARN."""
    resource = str(state["Resource"])
    if resource.startswith("arn:aws:lambda:"):
        return Call(principal, "lambda", "Invoke", {"FunctionName": resource})
    match = _ASL_INTEGRATION.fullmatch(resource)
    if match is None:
        raise UnsupportedError(f"{principal}: state {name}: {resource} is not modelled")
    service, api = match.groups()
    return Call(principal, service, api[0].upper() + api[1:], state.get("Parameters") or {})


def execution_needs(principal: str, history: Iterable[Mapping[str, Any]]) -> list[Need]:
    """The service calls a Step Functions execution made, from its TaskScheduled events."""
    needs: list[Need] = []
    for event in history:
        details = event.get("taskScheduledEventDetails")
        if details is None:
            continue
        service, api = details["resourceType"], details["resource"]
        operation = api[0].upper() + api[1:]
        call = Call(principal, service, operation, json.loads(details["parameters"]))
        needs += needs_of(call, f"execution task {service}:{api}")
    return needs


# ---------------------------------------------------------------------------- recording


class CallRecorder:
    """Records the API calls of every boto3 client built while installed, for the Lambda
    function named by AWS_LAMBDA_FUNCTION_NAME (the variable Lambda sets; the local stack's
    runner sets it per handler thread). Calls made with no function name (the test's own
    set-up, the emulator) are not recorded.

    Installed the way moto installs its stubber: a handler in `botocore.handlers.
    BUILTIN_HANDLERS`, which every botocore session registers when it is created, so the
    handlers' clients and Powertools' own Secrets Manager session are all seen. boto3's cached
    default session is reset so that it is rebuilt with the hook.
    """

    def __init__(self, functions: Mapping[str, str], *, principal: str | None = None) -> None:
        self.functions = dict(functions)  # function name -> logical id
        # Set: every call is this principal's (a person running the CLI), whatever the thread.
        self.principal = principal
        self.calls: list[Call] = []
        self.active = False
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        handlers = [*botocore.handlers.BUILTIN_HANDLERS, ("provide-client-params", self.record)]
        monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        self.active = True

    def record(self, params: Mapping[str, Any], model: OperationModel, **_: Any) -> None:
        """botocore's provide-client-params: the call's own parameters, once per API call."""
        name = self.principal or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if not self.active or name is None:
            return
        principal = self.functions.get(name, name)
        call = Call(principal, model.service_model.service_name, model.name, copy.deepcopy(params))
        with self._lock:
            self.calls.append(call)

    def needs(self, region: str = REGION) -> list[Need]:
        """The permissions every recorded call needs."""
        with self._lock:
            calls = list(self.calls)
        return [need for call in calls for need in needs_of(call, region=region)]
