"""`paycli iam policy`: the policy is what the commands call, no less and no more.

The real template is provisioned into moto (the local stack's provisioner), the stack's outputs
are published the way `sam deploy` leaves them (a CloudFormation stack), and every operator
command runs through the CLI against it as `--target aws`, with the IAM audit's CallRecorder
recording each botocore call. Each recorded call's IAM needs (iam_audit.needs_of) must be
allowed by `paycli iam policy --for operator`, and every action the policy grants must be needed
by some command. The payer's `pay` goes to a local HTTP stand-in for API Gateway, which records
the route each signed request asks for.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.iam import ResourceNames, grants_for, policy
from paycli.lint.translate import translate
from paycli.local.provision import Provisioner
from paycli.local.template import load_template
from tests.integration.iam_audit import (
    ACCOUNT_ID,
    CallRecorder,
    Need,
    Permission,
    Policy,
    Statement,
    denials,
    needs_of,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
STACK = "paycli"
# An execute-api ARN up to the API id (the stand-in has no id: any will do).
API_ARN = f"arn:aws:execute-api:{REGION}:123456789012:a1b2c3d4e5"
PAYMENT_ID = "pay_" + "0" * 31 + "1"


class ApiGatewayStandIn(BaseHTTPRequestHandler):
    """Answers every POST 202 with a PENDING payment and every GET 200 with it SUCCEEDED, and
    records the route each asked for, as `{METHOD}/{path}` under the stage (the last part of an
    execute-api ARN)."""

    routes: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self._answer(202, "PENDING")

    def do_GET(self) -> None:
        self._answer(200, "SUCCEEDED")

    def _answer(self, status: int, payment_status: str) -> None:
        self.routes.append(f"{self.command}{self.path.removeprefix('/v1')}")
        body = json.dumps({"payment_id": PAYMENT_ID, "status": payment_status, "method": "card"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_args: Any) -> None:
        """Quiet: the test reads `routes`."""


@pytest.fixture
def api_url() -> Iterator[str]:
    ApiGatewayStandIn.routes.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), ApiGatewayStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def deployed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api_url: str
) -> Iterator[dict[str, str]]:
    """The real template in moto, its outputs published as CloudFormation stack outputs."""
    for name in ("AWS_PROFILE", "PAYCLI_TARGET", "PAYCLI_STACK_NAME", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PAYCLI_TARGET", "aws")
    with mock_aws():
        provisioner = Provisioner(
            load_template(ROOT / "stack" / "template.yaml"),
            lambda service: boto3.client(service, region_name=REGION),
            lambda _spec: None,
            region=REGION,
            stack_name=STACK,
        )
        outputs = provisioner.provision(api_url).outputs
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(
                {
                    # ListStackResources' view of a function, for `paycli logs`: its logical id
                    # and physical name (a log group stands in: moto's CloudFormation cannot
                    # create the function from a placeholder zip).
                    "Resources": {
                        "IngressFunction": {
                            "Type": "AWS::Logs::LogGroup",
                            "Properties": {"LogGroupName": f"{STACK}-IngressFunction"},
                        }
                    },
                    "Outputs": {k: {"Value": v} for k, v in outputs.items()},
                }
            ),
        )
        yield outputs


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def local_name(stack: str, logical_id: str, _kind: str) -> str:
    """The local provisioner's physical names (`{stack}-{LogicalId}`), in place of
    CloudFormation's random suffixes."""
    return f"{stack}-{logical_id}"


def policy_of(principal: str) -> Policy:
    """`paycli iam policy --for PRINCIPAL` for this account and region, in the audit's terms."""
    source = yaml_parse((ROOT / "stack" / "template.yaml").read_text(encoding="utf-8"))
    names = ResourceNames(
        translate(source, region=REGION), STACK, REGION, ACCOUNT_ID, generated=local_name
    )
    document = policy(grants_for(principal), names)
    statements = tuple(Statement.parse(raw, raw["Sid"]) for raw in document["Statement"])
    return Policy(principal, f"paycli-{principal}", statements)


def seed(outputs: dict[str, str]) -> dict[str, str]:
    """Something for every command to read or recover: an account, a stale payment, an
    aborted execution, a DLQ message and a function log group."""
    assert run("accounts", "create", "--balance", "10.00", "--id", "acc_1").exit_code == 0
    sfn = boto3.client("stepfunctions", region_name=REGION)
    execution = sfn.start_execution(
        stateMachineArn=outputs["StateMachineArn"],
        name="pay_stale-1",
        # What the pipe starts an execution with: a batch of one SQS record.
        input=json.dumps([{"messageId": "m-1", "body": json.dumps({"payment_id": PAYMENT_ID})}]),
    )["executionArn"]
    sfn.stop_execution(executionArn=execution)
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=outputs["PaymentsTableName"],
        Item={
            "payment_id": {"S": PAYMENT_ID},
            "status": {"S": "PENDING"},
            "method": {"S": "card"},
            "account_id": {"S": "acc_1"},
            "amount_minor": {"N": "100"},
            "currency": {"S": "USD"},
            "created_at": {"S": "2020-01-01T00:00:00.000Z"},
            "updated_at": {"S": "2020-01-01T00:00:00.000Z"},
            "execution_arn": {"S": execution},
        },
    )
    boto3.client("sqs", region_name=REGION).send_message(
        QueueUrl=outputs["DeadLetterQueueUrl"], MessageBody=json.dumps({"payment_id": PAYMENT_ID})
    )
    boto3.client("logs", region_name=REGION).create_log_group(
        logGroupName=f"/aws/lambda/{STACK}-IngressFunction"
    )
    return {"execution": execution, "payment": PAYMENT_ID, "account": "acc_1"}


# Every operator command: each read, and each recovery (redrive, purge, reconcile).
OPERATOR_COMMANDS = (
    ("status",),
    ("payments", "get", "{payment}"),
    ("payments", "list"),
    ("payments", "reconcile"),
    ("accounts", "get", "{account}"),
    ("accounts", "list"),
    ("executions", "list"),
    ("executions", "show", "{execution}"),
    ("executions", "watch", "--until-idle", "--interval", "1"),
    ("executions", "redrive", "{execution}", "--yes"),
    ("dlq", "stats"),
    ("dlq", "peek"),
    ("dlq", "redrive"),
    ("logs", "--function", "ingress"),
    ("audit",),
    ("dlq", "purge", "--yes"),
)
# Granted but not reachable here (calls are recorded before moto answers, so an operation moto
# lacks is still recorded, but what the command does after it is not):
# - a restart is for an execution that ended in one of the definition's own Fail states,
#   which moto cannot produce without running the workflow;
# - `dlq redrive` lists its move task after StartMessageMoveTask, which moto does not implement.
NOT_REACHABLE_ON_MOTO = {"states:StartExecution", "sqs:ListMessageMoveTasks"}


def test_every_operator_command_is_allowed_and_every_grant_is_used(
    deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each recorded call of each operator command is allowed by the operator policy (no
    AccessDenied on AWS), and each action the policy grants is needed by some command."""
    ids = seed(deployed)
    recorder = CallRecorder({}, principal="operator")
    recorder.install(monkeypatch)
    needs: list[Need] = []
    for command in OPERATOR_COMMANDS:
        before = len(recorder.calls)
        run(*(part.format(**ids) for part in command))
        calls = recorder.calls[before:]
        assert calls, f"{command} made no AWS call"
        needs += [need for call in calls for need in needs_of(call, " ".join(command), REGION)]
    operator = policy_of("operator")
    assert denials({"operator": operator}, needs) == []
    granted = {action for s in operator.statements for action in s.actions}
    used = {need.permission.action for need in needs}
    assert granted - used == NOT_REACHABLE_ON_MOTO


def test_a_payer_can_pay_each_method_and_nothing_else(
    deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`paycli pay` for each method needs DescribeStacks (to find the API) and execute-api:Invoke
    on its route, and `pay --wait` only Invoke on GET /payments/{id} besides (no table read);
    the payer policy allows exactly that, and no operator command."""
    recorder = CallRecorder({}, principal="payer")
    recorder.install(monkeypatch)
    payer = policy_of("payer")
    for method in ("card", "bank", "wallet"):
        result = run("pay", method, "--amount", "1.00", "--account", "acc_1")
        assert result.exit_code == 0, result.output
    waited = run("pay", "card", "--amount", "1.00", "--account", "acc_1", "--wait", "--json")
    assert waited.exit_code == 0, waited.output
    assert json.loads(waited.stdout)["status"] == "SUCCEEDED"
    assert {call.operation for call in recorder.calls} == {"DescribeStacks"}
    needs = [need for call in recorder.calls for need in needs_of(call, "pay", REGION)]
    needs += [
        Need(
            "payer",
            "pay",
            Permission(
                "execute-api:Invoke", f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:a1b2c3/v1/{route}"
            ),
        )
        for route in ApiGatewayStandIn.routes
    ]
    assert sorted(ApiGatewayStandIn.routes) == [
        f"GET/payments/{PAYMENT_ID}",
        "POST/payments/bank",
        "POST/payments/card",
        "POST/payments/card",
        "POST/payments/wallet",
    ]
    assert denials({"payer": payer}, needs) == []
    granted = {action for s in payer.statements for action in s.actions}
    assert granted == {need.permission.action for need in needs}
    operator_read = Permission(
        "dynamodb:GetItem",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{deployed['PaymentsTableName']}",
    )
    assert not payer.allows(operator_read)
