"""What the local stack emulates, per resource type, and the pure helpers of provisioning.

`paycli.local.provision` walks the template and creates resources; this module says which
properties each type emulates (and which it accepts without enforcing), and turns template
values into API arguments (tables, secrets, schedules, state machine definitions).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import string
import zipfile
from typing import Any

from paycli.core.sam import DEFINITION_VARIABLE
from paycli.local.template import TemplateError

_RESOURCE_ATTRIBUTES = {
    "Type",
    "Properties",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "DependsOn",
    "Metadata",
}
# Per type: properties that are emulated, and those accepted but not enforced locally.
_SUPPORTED: dict[str, tuple[set[str], dict[str, str]]] = {
    "AWS::SQS::Queue": (
        {
            "QueueName",
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "RedrivePolicy",
            "DelaySeconds",
            "ReceiveMessageWaitTimeSeconds",
            "MaximumMessageSize",
            "FifoQueue",
            "ContentBasedDeduplication",
            "SqsManagedSseEnabled",
            "RedriveAllowPolicy",
        },
        {"KmsMasterKeyId": "SQS KMS encryption", "Tags": "tags"},
    ),
    "AWS::DynamoDB::Table": (
        {
            "TableName",
            "AttributeDefinitions",
            "KeySchema",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "BillingMode",
            "ProvisionedThroughput",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
            "SSESpecification",
            "DeletionProtectionEnabled",
        },
        {"Tags": "tags"},
    ),
    "AWS::SecretsManager::Secret": (
        {"Name", "Description", "GenerateSecretString", "SecretString"},
        {"KmsKeyId": "secret KMS encryption", "Tags": "tags"},
    ),
    "AWS::Serverless::Function": (
        {
            "Handler",
            "CodeUri",
            "Runtime",
            "MemorySize",
            "Timeout",
            "Environment",
            "Events",
            "FunctionName",
            "Description",
        },
        {
            "Architectures": "CPU architecture (the host's Python runs the code)",
            "Tracing": "X-Ray tracing (POWERTOOLS_TRACE_DISABLED=true locally)",
            "ReservedConcurrentExecutions": "reserved concurrency",
            "EventInvokeConfig": "asynchronous invocation retries and on-failure destination",
            # The Powertools layer is provided by the CLI's own environment (it depends on
            # aws-lambda-powertools), so handlers import it exactly as on Lambda.
            "Layers": "Lambda layers (Powertools comes from the CLI's environment)",
            "Policies": "IAM policies of the function role",
            "Role": "IAM role",
            "Tags": "tags",
        },
    ),
    "AWS::Serverless::Api": (
        {"StageName", "Auth", "Name", "Models"},
        {
            "TracingEnabled": "X-Ray tracing",
            "MethodSettings": "stage throttling and logging",
            "AccessLogSetting": "stage access logging",
            "Description": "description",
            "Tags": "tags",
        },
    ),
    "AWS::Serverless::StateMachine": (
        {"Type", "DefinitionUri", "Definition", "DefinitionSubstitutions", "Name"},
        {
            "Tracing": "X-Ray tracing (configured as in the template; no traces are written)",
            "Logging": "execution logging (configured as in the template; nothing is written)",
            "Policies": "IAM policies of the state machine role",
            "Role": "IAM role",
            "Tags": "tags",
        },
    ),
    "AWS::Pipes::Pipe": (
        {
            "Name",
            "Description",
            "RoleArn",
            "Source",
            "SourceParameters",
            "Target",
            "TargetParameters",
            "DesiredState",
        },
        {"Tags": "tags"},
    ),
    "AWS::IAM::Role": (
        {
            "RoleName",
            "AssumeRolePolicyDocument",
            "Policies",
            "ManagedPolicyArns",
            "Path",
            "Description",
        },
        {"Tags": "tags"},
    ),
    "AWS::Logs::LogGroup": (
        {"LogGroupName", "RetentionInDays"},
        {"Tags": "tags", "KmsKeyId": "log group KMS encryption"},
    ),
    # A schedule rule written by hand (what SAM's Schedule event becomes); EventPattern is
    # listed so check() can refuse it by name rather than as an unknown property.
    "AWS::Events::Rule": (
        {"Name", "Description", "ScheduleExpression", "State", "Targets", "EventPattern"},
        {"RoleArn": "IAM role of the rule"},
    ),
    "AWS::Lambda::Permission": (
        set(),
        {
            "Action": "Lambda resource policy",
            "FunctionName": "Lambda resource policy",
            "Principal": "Lambda resource policy",
            "SourceArn": "Lambda resource policy",
            "SourceAccount": "Lambda resource policy",
        },
    ),
}
_RULE_TARGET_PROPERTIES = {"Id", "Arn", "Input"}
_SCHEDULE_EVENT_PROPERTIES = {"Schedule", "Description", "Enabled", "Name", "Input", "State"}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_API_EVENT_PROPERTIES = {"RestApiId", "Path", "Method", "Auth", "RequestModel", "RequestParameters"}
# Not enforced locally whatever the template says: listed in the Deployment.
_ALWAYS_UNENFORCED = (
    "IAM roles and policies are created in the emulator but never enforced",
    "CloudWatch log groups are created but handler logs go to the local log capture",
)


def _request_model(
    function_id: str, props: dict[str, Any], models: dict[str, Any]
) -> dict[str, Any] | None:
    """The JSON schema API Gateway validates this route's body with (RequestModel with
    ValidateBody, which SAM defaults to Required), or None when the body is not validated."""
    spec = props.get("RequestModel") or {}
    if not spec or not spec.get("ValidateBody", spec.get("Required", False)):
        return None
    name = str(spec.get("Model"))
    if name not in models:
        msg = f"{function_id}: RequestModel {name} is not among the API's Models"
        raise TemplateError(msg)
    return dict(models[name])


def _rate_seconds(where: str, expression: str) -> int:
    """rate(N minute(s)|hour(s)|day(s)) as seconds; anything else (cron) is a TemplateError."""
    match = _RATE.match(expression)
    if match is None:
        msg = (
            f"{where}: schedule {expression!r} is not supported locally "
            "(rate(N minutes|hours|days) only)"
        )
        raise TemplateError(msg)
    return int(match.group(1)) * _RATE_UNIT_SECONDS[match.group(2).rstrip("s")]


def _check_rule(logical_id: str, props: dict[str, Any]) -> None:
    """Only schedule rules invoking functions can be emulated; say which part cannot."""
    if "EventPattern" in props:
        msg = (
            f"{logical_id}: AWS::Events::Rule with an EventPattern is not emulated by the local "
            "stack (only ScheduleExpression rate(...) rules)"
        )
        raise TemplateError(msg)
    expression = props.get("ScheduleExpression")
    if expression is None:
        msg = f"{logical_id}: AWS::Events::Rule needs a ScheduleExpression locally"
        raise TemplateError(msg)
    if isinstance(expression, str):
        _rate_seconds(logical_id, expression)
    for target in props.get("Targets") or []:
        extra = set(target) - _RULE_TARGET_PROPERTIES if isinstance(target, dict) else set()
        if extra:
            msg = (
                f"{logical_id}.Targets: {', '.join(sorted(extra))} not supported locally "
                "(Id, Arn, Input)"
            )
            raise TemplateError(msg)


def substitute_definition(text: str, substitutions: dict[str, str], logical_id: str) -> str:
    """DefinitionSubstitutions as Step Functions applies them; a `${X}` without a value is an
    error (CloudFormation would reject the state machine)."""
    missing = sorted(set(DEFINITION_VARIABLE.findall(text)) - set(substitutions))
    if missing:
        msg = f"{logical_id}: no DefinitionSubstitutions for {', '.join(missing)}"
        raise TemplateError(msg)
    return DEFINITION_VARIABLE.sub(lambda m: substitutions[m.group(1)], text)


def _attr_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _table_args(name: str, props: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in (
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "ProvisionedThroughput",
        "DeletionProtectionEnabled",
    ):
        if key in props:
            args[key] = props[key]
    sse = props.get("SSESpecification")
    if sse:  # CloudFormation spells the API's "Enabled" as "SSEEnabled"
        args["SSESpecification"] = {
            ("Enabled" if key == "SSEEnabled" else key): value for key, value in sse.items()
        }
    if args["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in args:
        args["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    return args


def _generate_secret(spec: dict[str, Any], logical_id: str) -> str:
    """GenerateSecretString: a random password honouring the options this template uses."""
    supported = {
        "PasswordLength",
        "ExcludePunctuation",
        "ExcludeCharacters",
        "ExcludeUppercase",
        "ExcludeLowercase",
        "ExcludeNumbers",
        "SecretStringTemplate",
        "GenerateStringKey",
        "IncludeSpace",
    }
    extra = set(spec) - supported
    if extra:
        msg = f"{logical_id}.GenerateSecretString: {', '.join(sorted(extra))} not supported"
        raise TemplateError(msg)
    alphabet = ""
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if spec.get("IncludeSpace"):
        alphabet += " "
    alphabet = "".join(c for c in alphabet if c not in str(spec.get("ExcludeCharacters", "")))
    length = int(spec.get("PasswordLength", 32))
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec.get("GenerateStringKey", "password")] = password
        return json.dumps(document)
    return password


def _dummy_zip() -> bytes:
    """moto's create_function needs a zip; the runner never reads it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# code runs from CodeUri via paycli's runner\n")
    return buffer.getvalue()
