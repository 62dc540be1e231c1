"""Creates every resource of the SAM template in the emulated account, in dependency order.

Nothing about the resources is written here: names, keys, attributes, environment variables
and wiring all come from the template (convention 7). Each supported type lists the properties
it emulates, those it accepts without enforcement (IAM, tracing, logging, throttling...), and
anything else is a TemplateError naming the resource and property. Deploying again is
idempotent: each step looks the resource up by its deterministic name first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paycli.local.emulated import (
    _ALWAYS_UNENFORCED,
    _API_EVENT_PROPERTIES,
    _RESOURCE_ATTRIBUTES,
    _SCHEDULE_EVENT_PROPERTIES,
    _SUPPORTED,
    _attr_str,
    _check_rule,
    _dummy_zip,
    _generate_secret,
    _rate_seconds,
    _request_model,
    _table_args,
    substitute_definition,
)
from paycli.local.model import Deployment, FunctionSpec, PipeSpec, Route, ScheduleSpec
from paycli.local.refusals import refuse_what_aws_refuses
from paycli.local.template import (
    ACCOUNT_ID,
    Resolver,
    Template,
    TemplateError,
    dependency_order,
)

ClientFactory = Callable[[str], Any]
Registrar = Callable[[FunctionSpec], None]


def _physical_name(stack_name: str, logical_id: str) -> str:
    return f"{stack_name}-{logical_id}"


def _api_id(stack_name: str, logical_id: str) -> str:
    """A stable 10-character id, like API Gateway's, so outputs survive a redeploy."""
    return hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:10]


def _observability(props: dict[str, Any]) -> dict[str, Any]:
    """SAM's Logging and Tracing as the Step Functions API's configurations (moto stores them
    for DescribeStateMachine; it writes no execution logs and no traces)."""
    logging = props.get("Logging") or {}
    destinations = [
        {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
        for d in logging.get("Destinations") or []
    ]
    return {
        "loggingConfiguration": {
            "level": logging.get("Level", "OFF"),
            "includeExecutionData": bool(logging.get("IncludeExecutionData", False)),
            "destinations": destinations,
        },
        "tracingConfiguration": {"enabled": bool((props.get("Tracing") or {}).get("Enabled"))},
    }


class Provisioner:
    """Walks the template in dependency order and creates (or finds) each resource."""

    def __init__(
        self,
        template: Template,
        client: ClientFactory,
        register_function: Registrar,
        *,
        region: str,
        stack_name: str = "paycli",
    ) -> None:
        self.template = template
        self.client = client
        self.register_function = register_function
        self.region = region
        self.stack_name = stack_name
        self.resolver = Resolver(template, region=region, stack_name=stack_name)
        self.functions: dict[str, FunctionSpec] = {}
        self.pipes: list[PipeSpec] = []
        self.rule_schedules: list[ScheduleSpec] = []
        self.apis: dict[str, dict[str, Any]] = {}
        self.unenforced: list[str] = list(_ALWAYS_UNENFORCED)
        self._creators: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::SQS::Queue": self._queue,
            "AWS::DynamoDB::Table": self._table,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::Api": self._api,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::Pipes::Pipe": self._pipe,
            "AWS::IAM::Role": self._role,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Events::Rule": self._rule,
            "AWS::Lambda::Permission": self._permission,
        }

    # ---------------------------------------------------------------- entry point
    def check(self) -> None:
        """Fail before creating anything if a type or property cannot be emulated, or if AWS
        would refuse the template (with AWS's error text: paycli.local.refusals)."""
        for logical_id, resource in self.template.resources.items():
            extra = set(resource) - _RESOURCE_ATTRIBUTES
            if extra:
                names = ", ".join(sorted(extra))
                msg = f"{logical_id}: resource attribute(s) {names} not supported"
                raise TemplateError(msg)
            kind = resource["Type"]
            if kind not in _SUPPORTED:
                msg = f"{logical_id}: resource type {kind} is not supported by the local stack"
                raise TemplateError(msg)
            emulated, accepted = _SUPPORTED[kind]
            for prop in resource.get("Properties") or {}:
                if prop not in emulated and prop not in accepted:
                    msg = f"{logical_id} ({kind}): property {prop} is not supported locally"
                    raise TemplateError(msg)
                if prop in accepted:
                    self.unenforced.append(f"{logical_id}.{prop}: {accepted[prop]}")
            if kind == "AWS::Serverless::Function":
                self._check_events(logical_id, resource.get("Properties") or {})
            if kind == "AWS::Events::Rule":
                _check_rule(logical_id, resource.get("Properties") or {})
        refuse_what_aws_refuses(self.template.path, region=self.region, stack_name=self.stack_name)

    def provision(self, api_base_url: str) -> Deployment:
        """Create everything and return the resolved outputs and wiring."""
        self.check()
        for logical_id in dependency_order(self.template):
            resource = self.template.resources[logical_id]
            properties = resource.get("Properties") or {}
            self._creators[resource["Type"]](logical_id, properties)
        return Deployment(
            outputs=self._outputs(api_base_url),
            routes=self._routes(),
            pipes=list(self.pipes),
            functions=dict(self.functions),
            emulated_without_enforcement=tuple(self.unenforced),
            schedules=self._schedules(),
        )

    def _props(self, properties: dict[str, Any]) -> dict[str, Any]:
        resolved = self.resolver.resolve(properties)
        return resolved if isinstance(resolved, dict) else {}

    def _named(
        self, logical_id: str, properties: dict[str, Any], name_key: str
    ) -> tuple[dict[str, Any], str]:
        """The resolved properties and the physical name: the template's `name_key` property,
        else one made of the stack's name and the logical id, as CloudFormation makes it."""
        props = self._props(properties)
        return props, str(props.get(name_key) or _physical_name(self.stack_name, logical_id))

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{resource}"

    # ---------------------------------------------------------------- SQS
    def _queue(self, logical_id: str, properties: dict[str, Any]) -> None:
        props, name = self._named(logical_id, properties, "QueueName")
        if props.get("FifoQueue") and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {
            key: json.dumps(value) if isinstance(value, dict) else _attr_str(value)
            for key, value in props.items()
            if key not in {"QueueName", "Tags", "KmsMasterKeyId"}
        }
        sqs = self.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        except sqs.exceptions.QueueDoesNotExist:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self._arn("sqs", name)
        self.resolver.add(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)

    # ---------------------------------------------------------------- DynamoDB
    def _table(self, logical_id: str, properties: dict[str, Any]) -> None:
        props, name = self._named(logical_id, properties, "TableName")
        ddb = self.client("dynamodb")
        try:
            description = ddb.describe_table(TableName=name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            description = ddb.create_table(**_table_args(name, props))["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") != "ENABLED" and ttl.get("Enabled"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "AttributeName": ttl["AttributeName"],
                        "Enabled": True,
                    },
                )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": bool(pitr.get("PointInTimeRecoveryEnabled"))
                },
            )
        arn = description["TableArn"]
        self.resolver.add(
            logical_id,
            name,
            Arn=arn,
            StreamArn=description.get("LatestStreamArn", f"{arn}/stream/local"),
        )

    # ---------------------------------------------------------------- Secrets Manager
    def _secret(self, logical_id: str, properties: dict[str, Any]) -> None:
        props, name = self._named(logical_id, properties, "Name")
        sm = self.client("secretsmanager")
        try:
            arn = sm.describe_secret(SecretId=name)["ARN"]
        except sm.exceptions.ResourceNotFoundException:
            value = props.get("SecretString")
            if value is None:
                value = _generate_secret(props.get("GenerateSecretString") or {}, logical_id)
            arn = sm.create_secret(
                Name=name, Description=props.get("Description", ""), SecretString=value
            )["ARN"]
        self.resolver.add(logical_id, arn, Id=arn, Name=name)

    # ---------------------------------------------------------------- IAM and logs
    def _ensure_role(self, name: str, trust: dict[str, Any], policies: list[Any]) -> str:
        iam = self.client("iam")
        try:
            arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            arn = str(
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                    "Arn"
                ]
            )
        for policy in policies:
            if isinstance(policy, dict) and "PolicyName" in policy:
                iam.put_role_policy(
                    RoleName=name,
                    PolicyName=policy["PolicyName"],
                    PolicyDocument=json.dumps(policy["PolicyDocument"]),
                )
        return arn

    def _role(self, logical_id: str, properties: dict[str, Any]) -> None:
        props, name = self._named(logical_id, properties, "RoleName")
        arn = self._ensure_role(
            name, props.get("AssumeRolePolicyDocument") or {}, props.get("Policies") or []
        )
        self.resolver.add(logical_id, name, Arn=arn, RoleId=f"AROA{_api_id(name, 'role')}")

    def _service_role(self, logical_id: str, service: str) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
        return self._ensure_role(_physical_name(self.stack_name, f"{logical_id}Role"), trust, [])

    def _log_group(self, logical_id: str, properties: dict[str, Any]) -> None:
        props = self._props(properties)
        name = props.get("LogGroupName") or f"/paycli/{_physical_name(self.stack_name, logical_id)}"
        logs = self.client("logs")
        existing = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        if not any(group["logGroupName"] == name for group in existing):
            logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(
                logGroupName=name, retentionInDays=int(props["RetentionInDays"])
            )
        self.resolver.add(logical_id, name, Arn=self._arn("logs", f"log-group:{name}:*"))

    # ---------------------------------------------------------------- Lambda
    def _function(self, logical_id: str, properties: dict[str, Any]) -> None:
        props = self._props({k: v for k, v in properties.items() if k != "Events"})
        name = props.get("FunctionName") or _physical_name(self.stack_name, logical_id)
        code_dir = self._code_dir(logical_id, props)
        environment = {
            key: _attr_str(value)
            for key, value in ((props.get("Environment") or {}).get("Variables") or {}).items()
        }
        arn = self._arn("lambda", f"function:{name}")
        spec = FunctionSpec(
            logical_id=logical_id,
            function_name=name,
            arn=arn,
            code_dir=code_dir,
            handler=str(props["Handler"]),
            environment=environment,
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            runtime=str(props.get("Runtime", "python3.12")),
        )
        self._put_function(spec, self._service_role(logical_id, "lambda.amazonaws.com"))
        self.register_function(spec)
        self.functions[logical_id] = spec
        self.resolver.add(logical_id, name, Arn=arn)

    def _code_dir(self, logical_id: str, props: dict[str, Any]) -> Path:
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            msg = f"{logical_id}: CodeUri must be a local directory for the local stack"
            raise TemplateError(msg)
        code_dir = (self.template.base_dir / code_uri).resolve()
        if not code_dir.is_dir():
            msg = f"{logical_id}: CodeUri {code_uri!r} is not a directory ({code_dir})"
            raise TemplateError(msg)
        if "Handler" not in props:
            msg = f"{logical_id}: Handler is required"
            raise TemplateError(msg)
        return code_dir

    def _put_function(self, spec: FunctionSpec, role_arn: str) -> None:
        """The moto function is a placeholder (dummy zip); the runner runs the real code."""
        lam = self.client("lambda")
        config = {
            "Runtime": spec.runtime,
            "Handler": spec.handler,
            "Role": role_arn,
            "Timeout": spec.timeout,
            "MemorySize": spec.memory_size,
            "Environment": {"Variables": spec.environment},
        }
        try:
            lam.get_function(FunctionName=spec.function_name)
            lam.update_function_configuration(FunctionName=spec.function_name, **config)
        except lam.exceptions.ResourceNotFoundException:
            lam.create_function(
                FunctionName=spec.function_name, Code={"ZipFile": _dummy_zip()}, **config
            )

    def _check_events(self, logical_id: str, properties: dict[str, Any]) -> None:
        for event_id, event in (properties.get("Events") or {}).items():
            kind = event.get("Type")
            allowed = {"Api": _API_EVENT_PROPERTIES, "Schedule": _SCHEDULE_EVENT_PROPERTIES}
            if kind not in allowed:
                msg = (
                    f"{logical_id}.Events.{event_id}: event type {kind} is not "
                    "supported by the local stack (only Api and Schedule)"
                )
                raise TemplateError(msg)
            extra = set(event.get("Properties") or {}) - allowed[kind]
            if extra:
                msg = (
                    f"{logical_id}.Events.{event_id}: {kind} event property "
                    f"{', '.join(sorted(extra))} is not supported locally"
                )
                raise TemplateError(msg)

    def _schedules(self) -> tuple[ScheduleSpec, ...]:
        """Every Schedule event, run by LocalStack's scheduler (EventBridge's part)."""
        schedules = []
        for logical_id, resource in self.template.resources_of("AWS::Serverless::Function"):
            events = (resource.get("Properties") or {}).get("Events") or {}
            for event_id, event in events.items():
                if event.get("Type") == "Schedule":
                    props = self._props(event.get("Properties") or {})
                    schedules.append(self._schedule(logical_id, event_id, props))
        return (*schedules, *self.rule_schedules)

    def _schedule(self, function_id: str, event_id: str, props: dict[str, Any]) -> ScheduleSpec:
        expression = str(props.get("Schedule", ""))
        interval = _rate_seconds(f"{function_id}.Events.{event_id}", expression)
        enabled = props.get("Enabled", True) is not False and props.get("State") != "DISABLED"
        return ScheduleSpec(
            name=str(props.get("Name") or f"{self.stack_name}-{function_id}{event_id}"),
            function_name=self.functions[function_id].function_name,
            expression=expression,
            interval_seconds=interval,
            enabled=bool(enabled),
            input=str(props["Input"]) if "Input" in props else None,
        )

    # ---------------------------------------------------------------- EventBridge rules
    def _rule(self, logical_id: str, properties: dict[str, Any]) -> None:
        """A hand-written schedule rule: one ScheduleSpec per target (all functions here)."""
        props, name = self._named(logical_id, properties, "Name")
        expression = str(props["ScheduleExpression"])
        interval = _rate_seconds(logical_id, expression)
        targets = props.get("Targets") or []
        for target in targets:
            self.rule_schedules.append(
                ScheduleSpec(
                    name=name if len(targets) == 1 else f"{name}-{target['Id']}",
                    function_name=self._target_function(logical_id, str(target["Arn"])),
                    expression=expression,
                    interval_seconds=interval,
                    enabled=props.get("State", "ENABLED") == "ENABLED",
                    input=str(target["Input"]) if "Input" in target else None,
                )
            )
        self.resolver.add(logical_id, name, Arn=self._arn("events", f"rule/{name}"))

    def _target_function(self, logical_id: str, arn: str) -> str:
        for spec in self.functions.values():
            if arn in {spec.arn, spec.function_name}:
                return spec.function_name
        msg = f"{logical_id}: rule target {arn} is not a function of this template"
        raise TemplateError(msg)

    def _permission(self, logical_id: str, properties: dict[str, Any]) -> None:
        """Resource policies are not enforced locally (listed in the Deployment)."""
        self.resolver.add(logical_id, _physical_name(self.stack_name, logical_id))

    # ---------------------------------------------------------------- API
    def _api(self, logical_id: str, properties: dict[str, Any]) -> None:
        props = self._props(properties)
        auth = props.get("Auth") or {}
        # InvokeRole decides which credentials invoke the function on AWS; IAM is not enforced
        # locally, so any value is accepted.
        extra = set(auth) - {"DefaultAuthorizer", "InvokeRole"}
        if extra:
            msg = f"{logical_id}.Auth: {', '.join(sorted(extra))} not supported locally"
            raise TemplateError(msg)
        authorizer = auth.get("DefaultAuthorizer", "NONE")
        if authorizer not in {"AWS_IAM", "NONE"}:
            msg = f"{logical_id}: DefaultAuthorizer {authorizer} not supported (AWS_IAM or NONE)"
            raise TemplateError(msg)
        api_id = _api_id(self.stack_name, logical_id)
        stage = str(props.get("StageName", "Prod"))
        self.apis[logical_id] = {
            "id": api_id,
            "stage": stage,
            "authorizer": authorizer,
            "models": props.get("Models") or {},
        }
        self.resolver.add(logical_id, api_id, RootResourceId=api_id[:6])

    def _routes(self) -> list[Route]:
        routes: list[Route] = []
        for logical_id, resource in self.template.resources_of("AWS::Serverless::Function"):
            events = (resource.get("Properties") or {}).get("Events") or {}
            for event in events.values():
                if event.get("Type") == "Api":
                    routes.append(self._route(logical_id, event.get("Properties") or {}))
        return routes

    def _route(self, function_id: str, props: dict[str, Any]) -> Route:
        api_ref = props.get("RestApiId")
        api_logical = api_ref.get("Ref") if isinstance(api_ref, dict) else None
        if api_logical not in self.apis:
            msg = (
                f"{function_id}: Api event RestApiId must be !Ref to an "
                "AWS::Serverless::Api in the template (implicit APIs are not supported)"
            )
            raise TemplateError(msg)
        api = self.apis[str(api_logical)]
        authorization = api["authorizer"]
        event_auth = props.get("Auth") or {}
        if "Authorizer" in event_auth:
            authorization = str(event_auth["Authorizer"])
        return Route(
            method=str(props["Method"]).upper(),
            path=str(props["Path"]),
            stage=api["stage"],
            function_name=self.functions[function_id].function_name,
            authorization=authorization,
            request_model=_request_model(function_id, props, api["models"]),
        )

    # ---------------------------------------------------------------- Step Functions
    def _state_machine(self, logical_id: str, properties: dict[str, Any]) -> None:
        props, name = self._named(logical_id, properties, "Name")
        definition = substitute_definition(
            self._definition_text(logical_id, props),
            {k: str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()},
            logical_id,
        )
        role_arn = self._service_role(logical_id, "states.amazonaws.com")
        sfn = self.client("stepfunctions")
        arn = self._arn("states", f"stateMachine:{name}")
        observe = _observability(props)  # the template's logging and tracing, as AWS shows them
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
            sfn.update_state_machine(stateMachineArn=arn, definition=definition, **observe)
        except sfn.exceptions.StateMachineDoesNotExist:
            # Always STANDARD: executions must be listable and describable (MOTO_NOTES); an
            # EXPRESS machine in the template is emulated as STANDARD.
            sfn.create_state_machine(
                name=name, definition=definition, roleArn=role_arn, type="STANDARD", **observe
            )
        self.resolver.add(logical_id, arn, Arn=arn, Name=name)

    def _definition_text(self, logical_id: str, props: dict[str, Any]) -> str:
        if "Definition" in props:
            return json.dumps(props["Definition"])
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str):
            msg = f"{logical_id}: DefinitionUri must be a local file for the local stack"
            raise TemplateError(msg)
        path = self.template.base_dir / uri
        if not path.is_file():
            msg = f"{logical_id}: DefinitionUri {uri!r} not found ({path})"
            raise TemplateError(msg)
        return path.read_text(encoding="utf-8")

    # ---------------------------------------------------------------- Pipes
    def _pipe(self, logical_id: str, properties: dict[str, Any]) -> None:
        props, name = self._named(logical_id, properties, "Name")
        source, target = str(props["Source"]), str(props["Target"])
        if ":sqs:" not in source or ":states:" not in target:
            msg = f"{logical_id}: only SQS -> Step Functions pipes are supported locally"
            raise TemplateError(msg)
        sqs_params = (props.get("SourceParameters") or {}).get("SqsQueueParameters") or {}
        sfn_params = (props.get("TargetParameters") or {}).get(
            "StepFunctionStateMachineParameters"
        ) or {}
        spec = PipeSpec(
            name=name,
            source_queue_url=self._queue_url_for(source),
            source_queue_arn=source,
            target_arn=target,
            batch_size=int(sqs_params.get("BatchSize", 10)),
            invocation_type=str(sfn_params.get("InvocationType", "REQUEST_RESPONSE")),
        )
        self._store_pipe(name, props)
        self.pipes.append(spec)
        self.resolver.add(logical_id, name, Arn=self._arn("pipes", f"pipe/{name}"))

    def _queue_url_for(self, queue_arn: str) -> str:
        queue_name = queue_arn.rsplit(":", 1)[-1]
        return str(self.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"])

    def _store_pipe(self, name: str, props: dict[str, Any]) -> None:
        """Stored in moto's pipes backend for `describe-pipe`; moto never runs it (MOTO_NOTES),
        paycli/local/pipe.py does."""
        pipes = self.client("pipes")
        args = {
            k: v
            for k, v in props.items()
            if k
            in {
                "Source",
                "Target",
                "RoleArn",
                "SourceParameters",
                "TargetParameters",
                "Description",
            }
        }
        try:
            pipes.describe_pipe(Name=name)
        except pipes.exceptions.NotFoundException:
            pipes.create_pipe(Name=name, DesiredState="RUNNING", **args)

    # ---------------------------------------------------------------- outputs
    def _outputs(self, api_base_url: str) -> dict[str, str]:
        outputs: dict[str, str] = {}
        for key, output in self.template.outputs.items():
            if "Condition" in output:
                msg = f"Outputs.{key}: Condition is not supported locally"
                raise TemplateError(msg)
            outputs[key] = self._local_url(
                str(self.resolver.resolve(output["Value"])), api_base_url
            )
        return outputs

    def _local_url(self, value: str, api_base_url: str) -> str:
        """An execute-api URL of a template API becomes the local API's URL (same stage)."""
        for api in self.apis.values():
            prefix = f"https://{api['id']}.execute-api.{self.region}.amazonaws.com"
            if value.startswith(prefix):
                return api_base_url.rstrip("/") + value[len(prefix) :]
        return value
