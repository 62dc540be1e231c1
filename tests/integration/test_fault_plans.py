"""Fault plans: reading and validating plan files, seeded draws and counts, each kind at its
seam (the Lambda invocation, moto's DynamoDB and SQS dispatch, the pipe), and the FIS export."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from cfnlint.api import ManualArgs, lint
from moto import mock_aws
from typer.testing import CliRunner
from waiting import wait_until

from paycli.cli.app import app
from paycli.core.errors import UsageError
from paycli.core.faultplan import ALL_RATES, KINDS, FaultPlan, builtin, load_plan, parse_plan
from paycli.core.fis import experiment_template
from paycli.local.faults import (
    FaultInjector,
    LambdaThrottledError,
    install_emulator_faults,
    uninstall_emulator_faults,
)
from paycli.local.model import FunctionSpec, PipeSpec
from paycli.local.pipe import PipeFaults, PipePoller
from paycli.local.runner import LambdaRunner

REGION = "us-east-1"


def always(kind: str, **settings: Any) -> dict[str, Any]:
    """A plan (as sent to the daemon) where `kind` fires every time."""
    return {"name": "t", "seed": 1, "faults": {kind: {"rate": 1.0, **settings}}}


def injector_with(kind: str, **settings: Any) -> FaultInjector:
    injector = FaultInjector()
    injector.set_plan(always(kind, **settings))
    return injector


# ------------------------------------------------------------------ plan files
def test_yaml_and_json_plans_read_alike(tmp_path: Path) -> None:
    raw = {"seed": 9, "faults": {"handler_slow": {"rate": 0.5, "delay_seconds": 0.1}}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    (tmp_path / "p.json").write_text(json.dumps(raw), encoding="utf-8")
    a, b = load_plan(str(tmp_path / "p.yaml")), load_plan(str(tmp_path / "p.json"))
    assert a.faults == b.faults
    assert a.seed == 9
    assert a.faults["handler_slow"].seconds == 0.1
    assert load_plan(str(tmp_path / "p.yaml"), seed=3).seed == 3


def test_built_in_plans() -> None:
    """`all` turns on every kind at a moderate rate; `none` nothing."""
    everything = builtin("all")
    assert everything is not None
    assert set(everything.faults) == set(KINDS) == set(ALL_RATES)
    assert all(0 < spec.rate <= 0.1 for spec in everything.faults.values())
    nothing = builtin("none")
    assert nothing is not None
    assert nothing.empty


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, 2], "expected a mapping"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"faults": {"handler_eror": {"rate": 0.1}}}, "unknown fault kind 'handler_eror'"),
        ({"faults": {"handler_error": {"rate": 1.5}}}, "rate must be a number from 0 to 1"),
        ({"faults": {"handler_error": {"rate": True}}}, "rate must be a number"),
        ({"faults": {"handler_error": 0.1}}, "expected a mapping such as"),
        ({"faults": {"pipe_paused": {"rate": 0.1, "pause_seconds": 0}}}, "pause_seconds must"),
        ({"faults": {"handler_error": {"rate": 0.1, "delay": 1}}}, "unknown setting(s) delay"),
        ({"faults": {"handler_error": {"rate": 0.1, "functions": "X"}}}, "functions must be"),
        ({"fault": {}}, "unknown top-level key(s) fault"),
    ],
)
def test_invalid_plans_are_refused_with_what_is_wrong(raw: Any, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_plan(raw, name="p.yaml")
    assert message in caught.value.message
    assert "p.yaml" in caught.value.message


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(UsageError) as caught:
        parse_plan({"seed": "x", "faults": {"nope": {}, "handler_error": {"rate": 2}}})
    assert caught.value.message.count(";") == 2


def test_missing_or_malformed_plan_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no fault plan file or built-in plan"):
        load_plan(str(tmp_path / "nope.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("faults: [\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid YAML") as caught:
        load_plan(str(broken))
    # one line (before: YAML's mark, a snippet and a caret over three lines)
    assert caught.value.message == (
        f"fault plan {broken} is not valid YAML (line 2, column 1: expected the node content,"
        " but found '<stream end>')"
    )
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"faults": }', encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        load_plan(str(bad_json))
    assert caught.value.message == (
        f"fault plan {bad_json} is not valid JSON (line 1, column 12: Expecting value)"
    )


# ------------------------------------------------------------------ draws and counts
def test_the_same_seed_makes_the_same_decisions() -> None:
    """Reproducible: each kind's draws depend on the seed only; another seed differs."""

    def decisions(seed: int) -> list[bool]:
        injector = FaultInjector()
        injector.set_plan({"seed": seed, "faults": {"handler_error": {"rate": 0.3}}})
        return [injector.fire("handler_error") is not None for _ in range(200)]

    assert decisions(5) == decisions(5)
    assert decisions(5) != decisions(6)
    assert 30 < sum(decisions(5)) < 90


def test_fired_faults_are_counted_by_kind_and_survive_clear() -> None:
    injector = injector_with("sqs_duplicate_delivery")
    for _ in range(3):
        assert injector.fire("sqs_duplicate_delivery") is not None
    assert injector.fire("pipe_paused") is None
    injector.set_plan(None)
    assert injector.fire("sqs_duplicate_delivery") is None
    assert injector.to_json() == {
        "plan": None,
        "fired": {"sqs_duplicate_delivery": 3},
        "fired_total": 3,
    }
    injector.set_plan(always("pipe_paused"))  # a new plan counts from zero
    assert injector.to_json()["fired"] == {}


def test_lambda_faults_can_be_limited_to_some_functions() -> None:
    injector = injector_with("handler_error", functions=["DeductAmountFunction"])
    assert injector.for_invocation("paycli-Validate", "ValidatePaymentFunction") is None
    fault = injector.for_invocation("paycli-Deduct", "DeductAmountFunction")
    assert fault is not None
    assert fault.kind == "handler_error"


# ------------------------------------------------------------------ the Lambda seam
HANDLERS = """
import json, pathlib

def record(event, context):
    path = pathlib.Path(event["path"])
    path.write_text(str(int(path.read_text() or "0") + 1) if path.exists() else "1")
    return {"ok": True}
"""


@pytest.fixture
def runner(tmp_path: Path) -> LambdaRunner:
    package = tmp_path / "src" / "faulty"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "handlers.py").write_text(textwrap.dedent(HANDLERS), encoding="utf-8")
    runner = LambdaRunner(log_dir=tmp_path / "logs")
    runner.register(
        FunctionSpec(
            logical_id="RecordFunction",
            function_name="record",
            arn="arn:aws:lambda:us-east-1:123456789012:function:record",
            code_dir=tmp_path / "src",
            handler="faulty.handlers.record",
            environment={},
            timeout=5,
            memory_size=128,
        )
    )
    return runner


def _runs(path: Path) -> int:
    return int(path.read_text()) if path.exists() else 0


def test_handler_error_fails_the_invocation_without_running_it(
    runner: LambdaRunner, tmp_path: Path
) -> None:
    runner.faults = injector_with("handler_error", functions=["RecordFunction"])
    marker = tmp_path / "runs"
    result = runner.invoke("record", json.dumps({"path": str(marker)}).encode())
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "InjectedFault"
    assert _runs(marker) == 0


def test_handler_timeout_does_the_work_but_reports_a_timeout(
    runner: LambdaRunner, tmp_path: Path
) -> None:
    """The nasty case: the caller sees a failure for work that was done."""
    runner.faults = injector_with("handler_timeout")
    marker = tmp_path / "runs"
    result = runner.invoke("record", json.dumps({"path": str(marker)}).encode())
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorMessage"].startswith("Task timed out")
    assert _runs(marker) == 1


def test_throttle_refuses_the_invocation_as_a_429(runner: LambdaRunner, tmp_path: Path) -> None:
    runner.faults = injector_with("lambda_throttle")
    marker = tmp_path / "runs"
    with pytest.raises(LambdaThrottledError) as caught:
        runner.invoke("record", json.dumps({"path": str(marker)}).encode())
    assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert _runs(marker) == 0
    runner.faults.set_plan(None)  # the sandbox slot was given back: the next one runs
    assert (
        runner.invoke("record", json.dumps({"path": str(marker)}).encode()).function_error is None
    )


def test_slow_handler_still_runs(runner: LambdaRunner, tmp_path: Path) -> None:
    runner.faults = injector_with("handler_slow", delay_seconds=0.01)
    marker = tmp_path / "runs"
    assert (
        runner.invoke("record", json.dumps({"path": str(marker)}).encode()).function_error is None
    )
    assert _runs(marker) == 1
    assert runner.faults.to_json()["fired"] == {"handler_slow": 1}


# ------------------------------------------------------------------ moto's dispatch
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)
    with mock_aws():
        yield
    uninstall_emulator_faults()


def _clients(monkeypatch: pytest.MonkeyPatch, service: str) -> tuple[Any, Any]:
    """(a client as a Lambda function in another process builds it: its user agent names the
    execution environment; one as the CLI does); no SDK retries."""
    config = Config(retries={"max_attempts": 1, "mode": "standard"})
    cli = boto3.client(service, region_name=REGION, config=config)
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    handler = boto3.session.Session().client(service, region_name=REGION, config=config)
    monkeypatch.delenv("AWS_EXECUTION_ENV")
    return handler, cli


def test_a_handler_running_in_this_thread_is_recognised(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process the runner overlays the function's environment on the handler's thread: a
    client built before (no exec-env in its user agent) is still recognised."""
    _, cli = _clients(monkeypatch, "sqs")
    url = cli.create_queue(QueueName="q")["QueueUrl"]
    install_emulator_faults(injector_with("ingress_send_failure"))
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    with pytest.raises(ClientError):
        cli.send_message(QueueUrl=url, MessageBody="{}")


def test_lost_response_commits_the_write_and_answers_500(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, cli = _clients(monkeypatch, "dynamodb")
    cli.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    install_emulator_faults(injector_with("dynamodb_lost_response"))
    with pytest.raises(ClientError) as caught:
        handler.put_item(TableName="t", Item={"k": {"S": "a"}})
    assert caught.value.response["Error"]["Code"] == "InternalServerError"
    assert cli.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"] == {"k": {"S": "a"}}
    handler.get_item(TableName="t", Key={"k": {"S": "a"}})  # reads are never hit
    cli.put_item(TableName="t", Item={"k": {"S": "b"}})  # nor the CLI's writes


def test_send_failure_refuses_a_handlers_send_message(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, cli = _clients(monkeypatch, "sqs")
    url = cli.create_queue(QueueName="q")["QueueUrl"]
    install_emulator_faults(injector_with("ingress_send_failure"))
    with pytest.raises(ClientError) as caught:
        handler.send_message(QueueUrl=url, MessageBody="{}")
    assert caught.value.response["Error"]["Code"] == "InjectedFault"
    assert "Messages" not in cli.receive_message(QueueUrl=url)
    cli.send_message(QueueUrl=url, MessageBody="{}")  # the CLI's redrive is not hit
    assert len(cli.receive_message(QueueUrl=url)["Messages"]) == 1


# ------------------------------------------------------------------ the pipe
class PipeEnv:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.url = self.sqs.create_queue(QueueName="src", Attributes={"VisibilityTimeout": "30"})[
            "QueueUrl"
        ]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        self.machine = self.sfn.create_state_machine(
            name="m",
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        spec = PipeSpec(
            "pipe", self.url, arn["Attributes"]["QueueArn"], self.machine, 1, "FIRE_AND_FORGET"
        )
        self.faults = PipeFaults()
        self.poller = PipePoller(
            spec, sqs=self.sqs, sfn=self.sfn, region=REGION, wait_seconds=0, faults=self.faults
        )

    def executions(self) -> int:
        return len(self.sfn.list_executions(stateMachineArn=self.machine)["executions"])

    def visible(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def pipe(aws: None) -> PipeEnv:
    return PipeEnv()


def test_duplicate_delivery_starts_a_second_execution(pipe: PipeEnv) -> None:
    pipe.faults.injector.set_plan(always("sqs_duplicate_delivery"))
    pipe.sqs.send_message(QueueUrl=pipe.url, MessageBody='{"payment_id": "pay_1"}')
    assert pipe.poller.poll_once() == 1
    assert pipe.executions() == 2
    assert pipe.visible() == 0


def test_stop_before_delete_leaves_the_message_for_redelivery(pipe: PipeEnv) -> None:
    """Started but not deleted: it comes back after the plan's redelivery time (here at once)
    instead of the queue's 30 s visibility timeout, and is started again."""
    plan = always("pipe_stop_before_delete", redeliver_after_seconds=0.001)
    pipe.faults.injector.set_plan(plan)
    pipe.sqs.send_message(QueueUrl=pipe.url, MessageBody='{"payment_id": "pay_1"}')
    assert pipe.poller.poll_once() == 1
    assert pipe.executions() == 1
    assert pipe.visible() == 1
    pipe.faults.injector.set_plan(None)
    assert pipe.poller.poll_once() == 1
    assert pipe.executions() == 2
    assert pipe.visible() == 0


def test_pause_holds_messages_in_the_queue(pipe: PipeEnv) -> None:
    """With a message waiting, every turn of the poller pauses instead of receiving: after two
    such turns nothing has been started."""
    pipe.faults.injector.set_plan(always("pipe_paused", pause_seconds=0.05))
    pipe.sqs.send_message(QueueUrl=pipe.url, MessageBody='{"payment_id": "pay_1"}')
    pipe.poller.start()
    try:
        wait_until(
            lambda: pipe.faults.injector.to_json()["fired"].get("pipe_paused", 0) >= 2,
            timeout=10,
            what="two injected pauses",
        )
        assert pipe.executions() == 0
        assert pipe.poller.stats.received == 0
    finally:
        pipe.poller.stop()


# ------------------------------------------------------------------ FIS
def test_fis_export_maps_the_lambda_faults_and_is_cfn_lint_clean() -> None:
    plan = parse_plan(
        {
            "seed": 4,
            "faults": {
                "handler_error": {"rate": 0.05, "functions": ["ValidatePaymentFunction"]},
                "handler_slow": {"rate": 0.2, "delay_seconds": 1.5},
                "handler_timeout": {"rate": 0.001},
                "lambda_throttle": {"rate": 0.1},
                "pipe_paused": {"rate": 0.1},
            },
        },
        name="mine",
    )
    template = experiment_template(plan)
    actions = template["Resources"]["FaultPlanExperiment"]["Properties"]["Actions"]
    assert actions["HandlerError"]["ActionId"] == "aws:lambda:invocation-error"
    assert actions["HandlerError"]["Parameters"]["preventExecution"] == "true"
    assert actions["HandlerError"]["Parameters"]["invocationPercentage"] == "5"
    assert actions["HandlerTimeout"]["Parameters"]["preventExecution"] == "false"
    assert actions["HandlerTimeout"]["Parameters"]["invocationPercentage"] == "1"
    assert actions["HandlerSlow"]["ActionId"] == "aws:lambda:invocation-add-delay"
    assert actions["HandlerSlow"]["Parameters"]["startupDelayMilliseconds"] == "1500"
    assert set(template["Metadata"]["NotExported"]) == {"lambda_throttle", "pipe_paused"}
    text = yaml.safe_dump(template)
    assert lint(text, config=ManualArgs(include_checks=["I"], regions=[REGION])) == []


def test_fis_export_refuses_a_plan_without_lambda_faults() -> None:
    with pytest.raises(UsageError, match="no Lambda fault FIS can inject"):
        experiment_template(FaultPlan("none"))
    with pytest.raises(UsageError, match="cannot export functions paycli-Validate"):
        experiment_template(parse_plan(always("handler_error", functions=["paycli-Validate"])))


# ------------------------------------------------------------------ the soak's CLI
def test_soak_on_aws_refuses_a_fault_plan_before_touching_aws() -> None:
    """Faults are injected by the local stack; on AWS the soak says how (FIS) and stops."""
    result = CliRunner().invoke(
        app, ["--target", "aws", "--region", "eu-west-1", "soak", "--payments", "5"]
    )
    assert result.exit_code == 2
    assert "fault plans are injected by the local stack only" in result.output
    assert "export-fis" in result.output
