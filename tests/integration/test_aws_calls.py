"""The AWS target: the calls each command makes, on moto or botocore's Stubber.

Retries are real botocore retries (the shared Config); only their sleep is zeroed. The `sam`
binary is a fake on PATH that records its arguments: the command line is what is tested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.aws import AwsTarget, StackOutputs
from paycli.core.context import AppContext
from paycli.core.dlq import DlqService
from paycli.core.errors import ConfigError, ExitCode, PaycliError, from_botocore
from paycli.core.executions import ExecutionsService
from paycli.core.logs import CloudWatchLogs
from paycli.core.payments import Payment, PaymentsService
from paycli.core.settings import Settings, read_config

REGION = "eu-west-1"
SM_ARN = f"arn:aws:states:{REGION}:123456789012:stateMachine:pay-sm"
OUTPUT_KEYS = [
    "ApiUrl", "QueueUrl", "DeadLetterQueueUrl", "StateMachineArn",
    "PaymentsTableName", "AccountsTableName", "LedgerTableName", "IdempotencyTableName",
]  # fmt: skip


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto with fake credentials; no profile, no config from the developer's machine."""
    for name in ("AWS_PROFILE", "AWS_REGION", "PAYCLI_TARGET", "PAYCLI_STACK_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(
        "botocore.retries.standard.ExponentialBackoff.delay_amount", lambda *_a, **_k: 0
    )
    with mock_aws():
        yield


def _target(stack_name: str = "pay") -> AwsTarget:
    return AwsTarget(Settings(target="aws", region=REGION, stack_name=stack_name))


def _deploy_fake_stack(name: str) -> dict[str, str]:
    """A CloudFormation stack with the template's output keys, as `sam deploy` leaves it."""
    outputs = {key: f"value-of-{key}" for key in OUTPUT_KEYS}
    template = {
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )
    return outputs


# ------------------------------------------------------------------------------ clients


def test_clients_share_one_retry_config_and_the_region(aws: None) -> None:
    client = _target().dynamodb()
    assert client.meta.region_name == REGION
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}


def _throttle(client: Any, operation: str, times: int) -> list[int]:
    """Answer the first `times` sends of `operation` with a 400 ThrottlingException."""
    calls: list[int] = []

    def reply(**_: Any) -> AWSResponse | None:
        calls.append(1)
        if len(calls) > times:
            return None  # let moto answer
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow"}'
        return AWSResponse("https://x", 400, {"x-amzn-RequestId": "r"}, _Raw(body))

    client.meta.events.register_first(f"before-send.dynamodb.{operation}", reply)
    return calls


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def test_throttling_is_retried_then_succeeds(aws: None) -> None:
    """Two throttled GetItem calls, then an answer: the command never sees the throttling."""
    ddb = _target().dynamodb()
    ddb.create_table(
        TableName="payments",
        KeySchema=[{"AttributeName": "payment_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "payment_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    calls = _throttle(ddb, "GetItem", times=2)
    with pytest.raises(PaycliError, match="does not exist"):
        PaymentsService(None, ddb, "payments").get(PAYMENT_ID)
    assert len(calls) == 3


def test_persistent_throttling_becomes_one_clear_error(aws: None) -> None:
    """After the 5 attempts of the shared Config: a PaycliError with a hint, exit code 1."""
    ddb = _target().dynamodb()
    calls = _throttle(ddb, "GetItem", times=99)
    with pytest.raises(ClientError) as caught:
        PaymentsService(None, ddb, "payments").get(PAYMENT_ID)
    error = from_botocore(caught.value)
    assert error is not None
    assert error.exit_code == ExitCode.FAILURE
    assert "ThrottlingException" in error.message
    assert "throttled" in (error.hint or "")
    assert len(calls) == 5


# ------------------------------------------------------------------------------ outputs


def test_outputs_come_from_describe_stacks(aws: None) -> None:
    outputs = _deploy_fake_stack("pay")
    assert _target().outputs().as_dict() == outputs


def test_missing_stack_says_which_and_how_to_deploy(aws: None) -> None:
    with pytest.raises(ConfigError, match=f"stack nope is not deployed in {REGION}") as caught:
        _target("nope").outputs()
    assert "paycli deploy --target aws" in (caught.value.hint or "")


def test_no_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="no AWS region"):
        _ = AwsTarget(Settings(target="aws")).session


# ------------------------------------------------------------------------------ Stubber


def test_list_executions_follows_next_token() -> None:
    """Two pages of ListExecutions become one list, in order."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    started = datetime(2026, 1, 1, tzinfo=UTC)

    def summary(name: str) -> dict[str, Any]:
        return {"executionArn": f"{SM_ARN}:{name}".replace("stateMachine", "execution"),
                "stateMachineArn": SM_ARN, "name": name, "status": "FAILED",
                "startDate": started}  # fmt: skip

    with Stubber(sfn) as stub:
        base = {"stateMachineArn": SM_ARN, "statusFilter": "FAILED", "maxResults": 10}
        stub.add_response("list_executions", {"executions": [summary("a")], "nextToken": "t"}, base)
        stub.add_response(
            "list_executions", {"executions": [summary("b")]}, {**base, "nextToken": "t"}
        )
        service = ExecutionsService(sfn, SM_ARN, _no_payments(), redrive_supported=True)
        assert [e.name for e in service.list_executions("FAILED", limit=10)] == ["a", "b"]
        stub.assert_no_pending_responses()


def _no_payments() -> PaymentsService:
    return PaymentsService(None, boto3.client("dynamodb", region_name=REGION), "unused")


PAYMENT_ID = "pay_" + "ab" * 16


class _OnePayment:
    """The payments table as ExecutionsService reads it (one payment); DynamoDB's part of the
    redrive decision is not what this test is about."""

    def __init__(self, payment: Payment) -> None:
        self.payment = payment

    def get(self, payment_id: str) -> Payment:
        assert payment_id == self.payment.payment_id
        return self.payment


def test_redrive_uses_redrive_execution_for_an_uncaught_failure() -> None:
    """A timeout is not a Fail state: RedriveExecution, same ARN."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = SM_ARN.replace("stateMachine", "execution") + ":run-1"
    definition = {"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "PaymentFailed"}}}
    with Stubber(sfn) as stub:
        stub.add_response(
            "describe_execution",
            {"executionArn": arn, "stateMachineArn": SM_ARN, "name": "run-1",
             "status": "TIMED_OUT", "startDate": datetime.now(UTC), "error": "States.Timeout",
             "input": json.dumps([{"body": json.dumps({"payment_id": PAYMENT_ID})}])},
            {"executionArn": arn},
        )  # fmt: skip
        stub.add_response(
            "describe_state_machine",
            {"stateMachineArn": SM_ARN, "name": "sm", "definition": json.dumps(definition),
             "roleArn": "arn:aws:iam::123456789012:role/r", "type": "STANDARD",
             "creationDate": datetime.now(UTC)},
            {"stateMachineArn": SM_ARN},
        )  # fmt: skip
        stub.add_response(
            "redrive_execution", {"redriveDate": datetime.now(UTC)}, {"executionArn": arn}
        )
        payments = _OnePayment(Payment({"payment_id": PAYMENT_ID, "status": "FAILED",
                                        "method": "card", "account_id": "acc_1",
                                        "amount_minor": 1, "currency": "USD",
                                        "execution_arn": arn}))  # fmt: skip
        service = ExecutionsService(sfn, SM_ARN, payments, redrive_supported=True)  # type: ignore[arg-type]
        (result,) = service.redrive([arn])
        assert (result.method, result.new_execution_arn) == ("RedriveExecution", arn)
        stub.assert_no_pending_responses()


def test_dlq_redrive_on_aws_uses_start_message_move_task() -> None:
    """SQS moves the messages itself; the service follows the task to COMPLETED."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue, dlq = "https://sqs/q", "https://sqs/dlq"
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "QueueArn"]
    with Stubber(sfn_or_sqs := sqs) as stub:  # the ARNs come with the counts: no call of their own
        stub.add_response("get_queue_attributes",
                          {"Attributes": {counts[0]: "0", counts[1]: "0", counts[2]: "arn:q"}},
                          {"QueueUrl": queue, "AttributeNames": counts})  # fmt: skip
        stub.add_response("get_queue_attributes",
                          {"Attributes": {counts[0]: "7", counts[1]: "0", counts[2]: "arn:dlq"}},
                          {"QueueUrl": dlq, "AttributeNames": counts})  # fmt: skip
        stub.add_response("start_message_move_task", {"TaskHandle": "h1"},
                          {"SourceArn": "arn:dlq", "DestinationArn": "arn:q"})  # fmt: skip
        # Its own task: by its handle while RUNNING, then by when it started (an older task is
        # listed too, and SQS lists no handle once a task has ended).
        older = {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 99,
                 "StartedTimestamp": 1}  # fmt: skip
        for status, moved in (("RUNNING", 3), ("COMPLETED", 7)):
            own: dict[str, Any] = {"Status": status, "ApproximateNumberOfMessagesMoved": moved,
                                   "StartedTimestamp": 5}  # fmt: skip
            if status == "RUNNING":
                own["TaskHandle"] = "h1"
            stub.add_response(
                "list_message_move_tasks",
                {"Results": [own, older]},
                {"SourceArn": "arn:dlq", "MaxResults": 10},
            )
        seen: list[int] = []
        service = DlqService(
            sfn_or_sqs, queue, dlq, move_task_supported=True, sleep=lambda _s: None
        )
        report = service.redrive(progress=lambda done, _total: seen.append(done))
        assert (report.method, report.moved, report.failed, report.task_handle) == (
            "StartMessageMoveTask",
            7,
            0,
            "h1",
        )
        assert seen == [3, 7]
        stub.assert_no_pending_responses()


# ------------------------------------------------------------------------------ logs


def test_cloudwatch_logs_filter_by_function_and_payment(aws: None) -> None:
    logs = _target().logs()
    for group, lines in {
        "/aws/lambda/pay-Validate-1": ["start pay_1", "other pay_2"],
        "/aws/lambda/pay-Deduct-1": ["debit pay_1"],
    }.items():
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        now = int(datetime.now(UTC).timestamp() * 1000)
        logs.put_log_events(
            logGroupName=group, logStreamName="s",
            logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
        )  # fmt: skip
    reader = CloudWatchLogs(logs, {
        "ValidatePaymentFunction": "pay-Validate-1",
        "DeductAmountFunction": "pay-Deduct-1",
        "IngressFunction": "pay-Ingress-1",  # never ran: no log group yet, not an error
    })  # fmt: skip
    everything = reader.fetch(None, "pay_1")
    assert sorted(r.message for r in everything) == ["debit pay_1", "start pay_1"]
    only_validate = reader.fetch("validate", None)
    assert [r.message for r in only_validate] == ["start pay_1", "other pay_2"]
    assert {r.function for r in only_validate} == {"ValidatePayment"}


# ------------------------------------------------------------------------------ deploy


def test_deploy_to_aws_runs_sam_deploy_and_remembers_the_settings(
    aws: None, fake_sam: Path, tmp_path: Path, deployable_account: Callable[..., None]
) -> None:
    """`deploy --target aws` builds the sam command (no build step), prints the outputs as
    JSON, and writes the config file that later commands read."""
    deployable_account()
    outputs = _deploy_fake_stack("pay-prod")
    result = CliRunner().invoke(
        app,
        ["deploy", "--target", "aws", "--region", REGION, "--stack-name", "pay-prod", "--yes",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == outputs
    args = fake_sam.read_text(encoding="utf-8").splitlines()
    template = Path(args[args.index("--template-file") + 1])
    assert args[0] == "deploy"
    assert template.name == "template.yaml"
    assert (template.parent / "statemachine" / "payment.asl.json").is_file()
    for flag, value in (("--stack-name", "pay-prod"), ("--region", REGION),
                        ("--capabilities", "CAPABILITY_IAM")):  # fmt: skip
        assert args[args.index(flag) + 1] == value
    assert {"--resolve-s3", "--no-confirm-changeset", "--no-fail-on-empty-changeset"} <= set(args)
    assert "--profile" not in args
    config = read_config(tmp_path / "home" / "config.toml")
    assert config == {"target": "aws", "region": REGION, "stack_name": "pay-prod"}


def test_deploy_to_aws_without_sam_names_the_extra(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["deploy", "--target", "aws", "--region", REGION, "--yes"])
    assert result.exit_code == ExitCode.ENVIRONMENT
    assert "pip install 'paycli[aws]'" in result.stderr


def test_status_on_aws_with_injected_target(aws: None) -> None:
    """`status --json` on the AWS target: queue depths and execution counts (moto)."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody='{"payment_id": "pay_1"}')
    sfn = boto3.client("stepfunctions", region_name=REGION)
    sm = sfn.create_state_machine(
        name="sm", roleArn="arn:aws:iam::123456789012:role/r",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    outputs = StackOutputs(**{k: f"v-{k}" for k in OUTPUT_KEYS}).as_dict()
    outputs |= {"QueueUrl": queue, "DeadLetterQueueUrl": dlq, "StateMachineArn": sm}
    settings = Settings(target="aws", region=REGION, stack_name="pay")
    target = AwsTarget(settings, outputs=StackOutputs(**outputs))
    result = CliRunner().invoke(app, ["status", "--json"], obj=AppContext(settings, target))
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert (view["target"], view["dlq_messages"], view["queue_messages"]) == ("aws", 1, 0)
    assert (view["executions_running"], view["executions_failed"]) == (0, 0)
    assert view["outputs"]["StateMachineArn"] == sm
