"""The provisioner against moto: the real template becomes real (emulated) resources with the
template's properties, a second deploy changes nothing, a template change reaches the handler,
and an unsupported template fails before anything is created."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse
from waiting import wait_until

from paycli.local.model import Deployment
from paycli.local.stack import LocalStack
from paycli.local.template import TemplateError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "stack" / "template.yaml"
API_URL = "http://127.0.0.1:4567"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(time_scale=0.01, log_dir=tmp_path / "logs")
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def deployed(stack: LocalStack) -> Deployment:
    return stack.deploy(TEMPLATE, api_base_url=API_URL)


def test_outputs_are_resolved_like_cloudformation(deployed: Deployment) -> None:
    """Every Output is a concrete value; the API URL points at the local API with the stage."""
    assert deployed.outputs["ApiUrl"] == f"{API_URL}/v1"
    assert deployed.outputs["QueueUrl"].endswith("/paycli-PaymentQueue")
    assert deployed.outputs["StateMachineArn"].startswith("arn:aws:states:us-east-1:")
    for value in deployed.outputs.values():
        assert "${" not in value
        assert "Ref" not in value


def test_queue_has_the_template_redrive_policy(stack: LocalStack, deployed: Deployment) -> None:
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=deployed.outputs["QueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=deployed.outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 3,
    }
    assert attributes["VisibilityTimeout"] == "60"
    assert attributes["MessageRetentionPeriod"] == "345600"


def test_tables_have_keys_indexes_and_ttl(stack: LocalStack, deployed: Deployment) -> None:
    ddb = stack.client("dynamodb")
    payments = ddb.describe_table(TableName=deployed.outputs["PaymentsTableName"])["Table"]
    indexes = {i["IndexName"]: i for i in payments["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"ByStatus", "ByAccount"}
    assert [k["AttributeName"] for k in indexes["ByStatus"]["KeySchema"]] == [
        "status",
        "created_at",
    ]
    ledger = ddb.describe_table(TableName=deployed.outputs["LedgerTableName"])["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in ledger["KeySchema"]] == [
        ("account_id", "HASH"),
        ("entry_id", "RANGE"),
    ]
    ttl = ddb.describe_time_to_live(TableName=deployed.outputs["IdempotencyTableName"])
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


def test_secret_is_generated_per_the_template(stack: LocalStack, deployed: Deployment) -> None:
    """GenerateSecretString: 64 characters, no punctuation, random."""
    arn = deployed.functions["IngressFunction"].environment["CARD_FINGERPRINT_SECRET_ARN"]
    value = stack.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert len(value) == 64
    assert value.isalnum()


def test_functions_state_machine_and_pipe_are_wired(
    stack: LocalStack, deployed: Deployment
) -> None:
    """Function environments resolve to the created resources; the ASL has its substitutions;
    the pipe names the queue and the state machine; routes carry the Api's authorizer."""
    ingress = deployed.functions["IngressFunction"]
    assert ingress.environment["QUEUE_URL"] == deployed.outputs["QueueUrl"]
    assert ingress.environment["PAYMENTS_TABLE"] == deployed.outputs["PaymentsTableName"]
    assert ingress.environment["IDEMPOTENCY_TTL_SECONDS"] == "172800"
    assert ingress.environment["MAX_AMOUNT_MINOR"] == "1000000"
    assert ingress.timeout == 10
    assert ingress.code_dir == ROOT / "stack" / "src"
    config = stack.client("lambda").get_function_configuration(FunctionName=ingress.function_name)
    assert config["Environment"]["Variables"]["QUEUE_URL"] == deployed.outputs["QueueUrl"]

    definition = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=deployed.outputs["StateMachineArn"]
    )["definition"]
    assert "${" not in definition
    assert deployed.functions["DeductAmountFunction"].arn in definition

    (pipe,) = deployed.pipes
    assert pipe.source_queue_url == deployed.outputs["QueueUrl"]
    assert pipe.target_arn == deployed.outputs["StateMachineArn"]
    assert (pipe.batch_size, pipe.invocation_type) == (1, "FIRE_AND_FORGET")
    stored = stack.client("pipes").describe_pipe(Name=pipe.name)
    assert stored["Target"] == pipe.target_arn

    assert {(r.method, r.path, r.stage, r.authorization) for r in deployed.routes} == {
        ("POST", "/payments/card", "v1", "AWS_IAM"),
        ("POST", "/payments/bank", "v1", "AWS_IAM"),
        ("POST", "/payments/wallet", "v1", "AWS_IAM"),
        ("GET", "/payments/{payment_id}", "v1", "AWS_IAM"),
    }


def test_the_state_machine_has_the_template_s_logging_and_tracing(
    stack: LocalStack, deployed: Deployment
) -> None:
    """DescribeStateMachine shows what the template configures (moto's default is OFF): level
    ERROR without execution data, to the vended log group, X-Ray tracing on."""
    described = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=deployed.outputs["StateMachineArn"]
    )
    logging = described["loggingConfiguration"]
    assert (logging["level"], logging["includeExecutionData"]) == ("ERROR", False)
    (destination,) = logging["destinations"]
    group = destination["cloudWatchLogsLogGroup"]["logGroupArn"]
    assert ":log-group:/aws/vendedlogs/states/" in group
    assert described["tracingConfiguration"] == {"enabled": True}


def test_second_deploy_is_idempotent(stack: LocalStack, deployed: Deployment) -> None:
    """Same outputs, no duplicate resources, the generated secret is not regenerated."""
    secret_arn = deployed.functions["IngressFunction"].environment["CARD_FINGERPRINT_SECRET_ARN"]
    sm = stack.client("secretsmanager")
    before = sm.get_secret_value(SecretId=secret_arn)["SecretString"]

    again = stack.deploy(TEMPLATE, api_base_url=API_URL)

    assert again.outputs == deployed.outputs
    queues = TEMPLATE.read_text(encoding="utf-8").count("Type: AWS::SQS::Queue")
    assert len(stack.client("sqs").list_queues()["QueueUrls"]) == queues == 3
    assert len(stack.client("dynamodb").list_tables()["TableNames"]) == 4
    assert len(stack.client("stepfunctions").list_state_machines()["stateMachines"]) == 1
    assert len(stack.client("lambda").list_functions()["Functions"]) == len(deployed.functions)
    assert len(sm.list_secrets()["SecretList"]) == 1
    assert sm.get_secret_value(SecretId=secret_arn)["SecretString"] == before


def copy_stack(tmp_path: Path) -> Path:
    """A private copy of stack/ whose template a test may edit."""
    target = tmp_path / "stack"
    shutil.copytree(ROOT / "stack", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target / "template.yaml"


PROBE_HANDLER = """
import os


def handler(event, context):
    return {name: os.environ.get(name) for name in event["names"]}
"""


def test_template_change_reaches_the_handler_without_code_changes(
    stack: LocalStack, tmp_path: Path
) -> None:
    """Add a function and an environment variable to the template, deploy again: the handler,
    invoked through moto's Lambda API (the runner's seam), sees the new value."""
    template = copy_stack(tmp_path)
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "probe_handler.py").write_text(PROBE_HANDLER, encoding="utf-8")
    text = template.read_text(encoding="utf-8")
    probe = textwrap.dedent(
        f"""
          ProbeFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: {probe_dir}
              Handler: probe_handler.handler
              Environment:
                Variables:
                  GREETING: hello
        """
    )
    template.write_text(
        text.replace("\nResources:\n", "\nResources:\n" + textwrap.indent(probe, "  ")), "utf-8"
    )
    stack.deploy(template, api_base_url=API_URL)
    template.write_text(template.read_text("utf-8").replace("GREETING: hello", "GREETING: bye"))
    stack.deploy(template, api_base_url=API_URL)

    response = stack.client("lambda").invoke(
        FunctionName="paycli-ProbeFunction",
        Payload=json.dumps({"names": ["GREETING", "PAYMENTS_TABLE"]}).encode(),
    )

    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {
        "GREETING": "bye",
        "PAYMENTS_TABLE": "paycli-PaymentsTable",
    }


def test_unsupported_template_fails_before_creating_anything(
    stack: LocalStack, tmp_path: Path
) -> None:
    template = copy_stack(tmp_path)
    text = template.read_text(encoding="utf-8")
    template.write_text(
        text.replace("\nResources:\n", "\nResources:\n  Alerts:\n    Type: AWS::SNS::Topic\n"),
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match="Alerts: resource type AWS::SNS::Topic"):
        stack.deploy(template, api_base_url=API_URL)
    assert stack.client("sqs").list_queues().get("QueueUrls", []) == []


SCHEDULED = """
  TickFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code}
      Handler: tick_handler.handler
      Events:
        Often:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
"""


def test_schedule_events_invoke_the_function_on_the_scaled_rate(tmp_path: Path) -> None:
    """A Schedule event (EventBridge rate rule) invokes its function every interval: at time
    scale 0.001 a one-minute rate fires every 60 ms, with the Scheduled Event shape."""
    code = tmp_path / "tick"
    code.mkdir()
    (code / "tick_handler.py").write_text(
        "def handler(event, context):\n    print(event['detail-type'])\n", encoding="utf-8"
    )
    template = copy_stack(tmp_path)
    text = template.read_text(encoding="utf-8")
    template.write_text(
        text.replace("\nResources:\n", "\nResources:\n" + SCHEDULED.format(code=code)), "utf-8"
    )
    local = LocalStack(time_scale=0.001)
    local.start()
    try:
        deployment = local.deploy(template, api_base_url=API_URL)
        (tick,) = [s for s in deployment.schedules if s.function_name == "paycli-TickFunction"]
        assert (tick.expression, tick.interval_seconds) == ("rate(1 minute)", 60)
        wait_until(
            lambda: len(local.runner.logs("TickFunction")) >= 4,
            timeout=5,
            what="four TickFunction log records",
            fail=False,
        )
        lines = [r["message"] for r in local.runner.logs("TickFunction") if r["stream"] == "stdout"]
        assert len(lines) >= 2
        assert set(lines) == {"Scheduled Event"}
    finally:
        local.stop()


def test_a_running_stack_sets_the_gil_switch_interval_and_stop_restores_it() -> None:
    """The local stack runs with SWITCH_INTERVAL_SECONDS (fewer forced GIL hand-offs between
    its CPU-bound threads) and gives the host process its own setting back on stop."""
    import sys  # noqa: PLC0415 - local to the one test that needs it

    from paycli.local.stack import SWITCH_INTERVAL_SECONDS  # noqa: PLC0415

    before = sys.getswitchinterval()
    local = LocalStack(time_scale=0.01)
    local.start()
    try:
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
        assert pytest.approx(before) != SWITCH_INTERVAL_SECONDS
    finally:
        local.stop()
    assert sys.getswitchinterval() == pytest.approx(before)


# ------------------------------------------------------------- what AWS would refuse
# The local stack refuses what AWS would refuse at deploy time, in AWS's own words, before it
# creates anything: the twin is never more permissive than AWS where the deploy rules can know.


def broken_copy(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of stack/ whose template has one edit (written back as JSON, which is YAML)."""
    target = tmp_path / "stack"
    shutil.copytree(ROOT / "stack", target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / "template.yaml"
    template = yaml_parse(path.read_text(encoding="utf-8"))
    edit(template)
    path.write_text(json.dumps(template, indent=1), encoding="utf-8")
    return path


def sibling_variable(template: dict[str, Any]) -> None:
    events = template["Resources"]["IngressFunction"]["Properties"]["Events"]
    events["Refund"] = {
        "Type": "Api",
        "Properties": {
            "RestApiId": {"Ref": "PaymentsApi"},
            "Path": "/payments/{refund_id}",
            "Method": "delete",
        },
    }


def request_response_pipe(template: dict[str, Any]) -> None:
    parameters = template["Resources"]["PaymentPipe"]["Properties"]["TargetParameters"]
    parameters["StepFunctionStateMachineParameters"]["InvocationType"] = "REQUEST_RESPONSE"


@pytest.mark.parametrize(
    ("edit", "aws_error"),
    [
        (
            sibling_variable,
            # Which of the two variables AWS names depends on its creation order.
            r"BadRequestException: A sibling \(\{(refund|payment)_id\}\) of this resource "
            r"already has a variable path part -- only one is allowed",
        ),
        (
            request_response_pipe,
            r"ValidationException: REQUEST_RESPONSE is not supported for STANDARD state machine "
            r"workflows",
        ),
    ],
    ids=["E9001", "E9030"],
)
def test_a_template_aws_would_refuse_is_refused_before_anything_is_created(
    stack: LocalStack, tmp_path: Path, edit: Callable[[dict[str, Any]], None], aws_error: str
) -> None:
    """The deploy fails with the service's error text and the rule id; no queue exists."""
    template = broken_copy(tmp_path, edit)
    with pytest.raises(TemplateError) as refused:
        stack.deploy(template, api_base_url=API_URL)
    assert re.match(f"AWS would refuse this template: {aws_error} \\[E90", refused.value.message)
    assert refused.value.hint is not None
    assert "paycli validate" in refused.value.hint
    assert stack.client("sqs").list_queues().get("QueueUrls", []) == []


def test_the_real_template_is_not_refused(stack: LocalStack) -> None:
    """The same check lets the real template through (it breaks no error rule)."""
    deployment = stack.deploy(TEMPLATE, api_base_url=API_URL)
    assert deployment.outputs["ApiUrl"] == f"{API_URL}/v1"
