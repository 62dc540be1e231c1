"""What checkov misses on a SAM app, checked over the translated template (issue 9).

checkov reads the template as written and as translated, but it does not know that every API
method must be signed, that a DLQ must outlive its queue, or which IAM statements are scoped to
this stack. Each check here is a function returning its findings; the real template has none,
and a broken copy (one mutation each) has the finding, so every check is shown to bite.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paycli.lint.cfn import load_template, translate_template

STACK = Path(__file__).resolve().parents[2] / "stack"
#: SQS's default MessageRetentionPeriod (4 days).
DEFAULT_RETENTION = 345_600

#: Actions that AWS accepts only with Resource "*", and why each is needed.
STAR_ONLY_ACTIONS = {
    # Step Functions' CloudWatch Logs delivery (Logging.Destinations): the vended-logs
    # delivery APIs have no resource-level permissions (Step Functions developer guide).
    "logs:CreateLogDelivery": "state machine log delivery",
    "logs:GetLogDelivery": "state machine log delivery",
    "logs:UpdateLogDelivery": "state machine log delivery",
    "logs:DeleteLogDelivery": "state machine log delivery",
    "logs:ListLogDeliveries": "state machine log delivery",
    "logs:PutResourcePolicy": "state machine log delivery",
    "logs:DescribeResourcePolicies": "state machine log delivery",
    "logs:DescribeLogGroups": "state machine log delivery",
}
#: AWS managed policies SAM attaches, and why they are acceptable.
MANAGED_POLICIES = {
    # Writes only to the function's own /aws/lambda/<name> log group (created on first use).
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "Lambda logs",
    # X-Ray's PutTraceSegments/PutTelemetryRecords/GetSampling* take only Resource "*".
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": "X-Ray tracing (Tracing: Active)",
}
#: Parameters a Resource may name besides the stack's own resources: the user's own key.
RESOURCE_PARAMETERS = {"KmsKeyArn"}


def _sam() -> dict[str, Any]:
    template, findings = load_template((STACK / "template.yaml").read_text(encoding="utf-8"))
    assert findings == []
    assert template is not None
    return template


def _translate(sam: dict[str, Any]) -> dict[str, Any]:
    translated, findings = translate_template(sam)
    assert findings == []
    assert translated is not None
    return translated


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return _sam()


@pytest.fixture(scope="module")
def translated(sam: dict[str, Any]) -> dict[str, Any]:
    return _translate(sam)


def _of_type(translated: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in translated["Resources"].items() if r["Type"] == kind}


# ----------------------------------------------------------------------------- the checks


def unauthorized_methods(translated: dict[str, Any]) -> list[str]:
    """Every method of every REST API requires SigV4 (AWS_IAM); no unauthenticated OPTIONS."""
    found = []
    for api_id, api in _of_type(translated, "AWS::ApiGateway::RestApi").items():
        for path, operations in api["Properties"]["Body"]["paths"].items():
            for verb, operation in operations.items():
                schemes = {name for entry in operation.get("security", []) for name in entry}
                if schemes != {"AWS_IAM"}:
                    found.append(f"{api_id} {verb.upper()} {path}: security {sorted(schemes)}")
    return found


def cors_wildcards(sam: dict[str, Any], translated: dict[str, Any]) -> list[str]:
    """No CORS on any API, and no `*` origin anywhere in what SAM generates."""
    found = [
        f"{k}: Cors {r['Properties']['Cors']!r}"
        for k, r in sam["Resources"].items()
        if "Cors" in (r.get("Properties") or {})
    ]
    text = json.dumps(translated)
    if "Access-Control-Allow-Origin" in text and "'*'" in text:
        found.append("a generated CORS header allows origin '*'")
    return found


def short_lived_dlqs(translated: dict[str, Any]) -> list[str]:
    """A DLQ keeps messages longer than its source queue, or they expire before anyone sees."""
    queues = _of_type(translated, "AWS::SQS::Queue")
    found = []
    for name, queue in queues.items():
        policy = queue["Properties"].get("RedrivePolicy")
        if not policy:
            continue
        dlq = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
        own = queue["Properties"].get("MessageRetentionPeriod", DEFAULT_RETENTION)
        kept = queues[dlq]["Properties"].get("MessageRetentionPeriod", DEFAULT_RETENTION)
        if int(kept) <= int(own):
            found.append(f"{dlq} keeps {kept} s, not longer than {name}'s {own} s")
    return found


def unobserved_state_machines(translated: dict[str, Any]) -> list[str]:
    """Logging (a level other than OFF, to a log group) and X-Ray tracing on."""
    found = []
    for name, machine in _of_type(translated, "AWS::StepFunctions::StateMachine").items():
        logging = machine["Properties"].get("LoggingConfiguration") or {}
        if logging.get("Level", "OFF") == "OFF" or not logging.get("Destinations"):
            found.append(f"{name}: logging off")
        if not (machine["Properties"].get("TracingConfiguration") or {}).get("Enabled"):
            found.append(f"{name}: tracing off")
    return found


def unprotected_tables(translated: dict[str, Any]) -> list[str]:
    """Deletion protection and point-in-time recovery on every table."""
    found = []
    for name, table in _of_type(translated, "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        if props.get("DeletionProtectionEnabled") is not True:
            found.append(f"{name}: deletion protection off")
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if pitr.get("PointInTimeRecoveryEnabled") is not True:
            found.append(f"{name}: point-in-time recovery off")
    return found


def _statements(translated: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) of every inline role policy; a conditional policy counts as on."""
    for role, resource in _of_type(translated, "AWS::IAM::Role").items():
        for policy in resource["Properties"].get("Policies") or []:
            if "Fn::If" in policy:
                policy = policy["Fn::If"][1]  # noqa: PLW2901 - the branch that applies a policy
            statements = policy["PolicyDocument"]["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                yield f"{role}.{policy['PolicyName']}", statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_actions(translated: dict[str, Any]) -> list[str]:
    """No `*` or `service:*` action in any role."""
    return [
        f"{where}: {action}"
        for where, statement in _statements(translated)
        for action in _as_list(statement["Action"])
        if action == "*" or action.endswith(":*")
    ]


def _references(value: Any) -> set[str]:
    """Every logical id or parameter a Ref/GetAtt/Sub inside `value` names."""
    names: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref":
                names.add(str(item))
            elif key == "Fn::GetAtt":
                names.add(str(item[0] if isinstance(item, list) else item.split(".")[0]))
            else:
                names |= _references(item)
    elif isinstance(value, list):
        for item in value:
            names |= _references(item)
    return names


def unscoped_resources(translated: dict[str, Any]) -> list[str]:
    """Every statement's Resource names one of this stack's resources (or the user's key);
    `*` only for actions AWS allows nowhere else; managed policies only from the allow-list."""
    stack = set(translated["Resources"])
    found = []
    for where, statement in _statements(translated):
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                wide = [a for a in _as_list(statement["Action"]) if a not in STAR_ONLY_ACTIONS]
                found += [f"{where}: {action} on *" for action in wide]
            elif not _references(resource) & (stack | RESOURCE_PARAMETERS):
                found.append(f"{where}: {json.dumps(resource)} names no resource of the stack")
    for role, resource in _of_type(translated, "AWS::IAM::Role").items():
        for arn in resource["Properties"].get("ManagedPolicyArns") or []:
            if arn not in MANAGED_POLICIES:
                found.append(f"{role}: managed policy {arn}")
    return found


# ----------------------------------------------------------------------------- the tests


def test_every_api_method_requires_sigv4(translated: dict[str, Any]) -> None:
    assert unauthorized_methods(translated) == []


def test_no_cors_wildcard(sam: dict[str, Any], translated: dict[str, Any]) -> None:
    assert cors_wildcards(sam, translated) == []


def test_every_dlq_outlives_its_queue(translated: dict[str, Any]) -> None:
    assert short_lived_dlqs(translated) == []


def test_the_state_machine_logs_and_traces(translated: dict[str, Any]) -> None:
    assert unobserved_state_machines(translated) == []


def test_every_table_has_deletion_protection_and_pitr(translated: dict[str, Any]) -> None:
    assert unprotected_tables(translated) == []


def test_no_wildcard_iam_action(translated: dict[str, Any]) -> None:
    assert wildcard_actions(translated) == []


def test_every_resource_arn_is_scoped_to_the_stack(translated: dict[str, Any]) -> None:
    assert unscoped_resources(translated) == []


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(sam: dict[str, Any]) -> None:
        node = sam
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _ingress_statement(statement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(sam: dict[str, Any]) -> None:
        sam["Resources"]["IngressFunction"]["Properties"]["Policies"].append(
            {"Statement": [{"Effect": "Allow", **statement}]}
        )

    return mutate


_API = ["Resources", "PaymentsApi", "Properties"]
_SM = ["Resources", "PaymentStateMachine", "Properties"]


@pytest.mark.parametrize(
    ("mutate", "check", "expected"),
    [
        (_set([*_API, "Auth", "DefaultAuthorizer"], "NONE"), "unauthorized_methods", "security"),
        (_set([*_API, "Cors"], "'*'"), "cors_wildcards", "Cors"),
        (
            _set(["Resources", "PaymentDeadLetterQueue", "Properties", "MessageRetentionPeriod"],
                 345600),
            "short_lived_dlqs",
            "not longer than PaymentQueue",
        ),
        (_set([*_SM, "Tracing", "Enabled"], False), "unobserved_state_machines", "tracing off"),
        (_set([*_SM, "Logging", "Level"], "OFF"), "unobserved_state_machines", "logging off"),
        (
            _set(["Resources", "LedgerTable", "Properties", "PointInTimeRecoverySpecification"],
                 {"PointInTimeRecoveryEnabled": False}),
            "unprotected_tables",
            "LedgerTable: point-in-time recovery off",
        ),
        (
            _set(["Resources", "AccountsTable", "Properties", "DeletionProtectionEnabled"], False),
            "unprotected_tables",
            "AccountsTable: deletion protection off",
        ),
        (_ingress_statement({"Action": "dynamodb:*", "Resource": {"Fn::GetAtt": [
            "PaymentsTable", "Arn"]}}), "wildcard_actions", "dynamodb:*"),
        (_ingress_statement({"Action": "sqs:SendMessage", "Resource": "*"}),
         "unscoped_resources", "sqs:SendMessage on *"),
        (_ingress_statement({"Action": "sqs:SendMessage",
                             "Resource": "arn:aws:sqs:us-east-1:123456789012:other"}),
         "unscoped_resources", "names no resource of the stack"),
    ],
)  # fmt: skip
def test_each_check_finds_its_defect_in_a_broken_copy(
    sam: dict[str, Any], mutate: Callable[[dict[str, Any]], None], check: str, expected: str
) -> None:
    broken = copy.deepcopy(sam)
    mutate(broken)
    translated = _translate(broken)
    function = globals()[check]
    findings = function(broken, translated) if check == "cors_wildcards" else function(translated)
    assert any(expected in finding for finding in findings), findings
