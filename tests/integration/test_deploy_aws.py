"""`paycli deploy/destroy --target aws` and `dlq redrive` on AWS, against moto.

The `sam` binary is a fake on PATH that records its arguments (the command line is what is
tested); CloudFormation, STS and SQS are moto. Issue 10 items 4, 6, 7 and `deploy --dry-run`.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from moto import mock_aws
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.aws import AwsTarget
from paycli.core.context import AppContext
from paycli.core.dlq import DlqService
from paycli.core.errors import ConflictError, ExitCode
from paycli.core.regions import check_region
from paycli.core.rehearsal import load_stack, rehearse
from paycli.core.settings import Settings

REGION = "eu-west-1"
REPO = Path(__file__).resolve().parents[2]
OUTPUT_KEYS = [
    "ApiUrl", "QueueUrl", "DeadLetterQueueUrl", "StateMachineArn",
    "PaymentsTableName", "AccountsTableName", "LedgerTableName", "IdempotencyTableName",
]  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No profile, region, target or config from the developer's machine."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "PAYCLI_TARGET",
                 "PAYCLI_STACK_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def aws(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto with fake credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def _stack_with_outputs(name: str, region: str = REGION) -> dict[str, str]:
    """A CloudFormation stack with the template's output keys, as `sam deploy` leaves it."""
    outputs = {key: f"{name}-{key}" for key in OUTPUT_KEYS}
    template = {
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name=region).create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )
    return outputs


def _deploy(*args: str) -> Any:
    return CliRunner().invoke(app, ["deploy", "--target", "aws", "--stack-name", "pay", *args])


# ------------------------------------------------------------------------------ region


@pytest.mark.parametrize(
    ("region", "reason"),
    [
        ("ca-west-1", "AWS::Pipes::Pipe is not available in ca-west-1"),
        ("us-gov-west-1", "AWS::Pipes::Pipe is not available in us-gov-west-1"),
        ("cn-northwest-1", "Powertools for AWS Lambda layer is not published in cn-northwest-1"),
        ("xx-nope-1", "'xx-nope-1' is not an AWS region"),
    ],
)
def test_an_unsupported_region_is_refused_before_anything_runs(
    aws: None, fake_sam: Path, region: str, reason: str
) -> None:
    """Region first: sam never runs, no "Deploying..." line, one clear error (exit 5)."""
    result = _deploy("--region", region, "--yes")
    assert result.exit_code == ExitCode.ENVIRONMENT, result.output
    assert reason in result.stderr
    assert f"cannot deploy to {region}" in result.stderr
    assert "Deploying" not in result.stderr
    assert not fake_sam.exists()


def test_the_region_check_reads_cfn_lint_s_region_data_and_the_layer_mapping() -> None:
    """Pipes' absence comes from cfn-lint's schemas (not a hand list); cn-north-1 is deployable
    because the template maps the China partition's layer account."""
    stack = load_stack(REPO / "stack", "us-east-1")
    assert check_region("us-east-1", stack.template, stack.translated).ok
    china = check_region("cn-north-1", stack.template, stack.translated)
    assert (china.partition, china.ok) == ("aws-cn", True)
    without_mapping = {**stack.template, "Mappings": {}}
    problems = check_region("eu-west-1", without_mapping, stack.translated).problems
    assert problems == (
        "the template's PowertoolsLayer mapping names no layer account for partition aws",
    )
    gov = check_region("us-gov-east-1", stack.template, stack.translated)
    assert gov.missing_types == ("AWS::Pipes::Pipe",)


# ------------------------------------------------------------------------------ deploy


def test_overrides_and_tags_pass_through_and_deploying_is_said_after_the_checks(
    aws: None, fake_sam: Path, deployable_account: Callable[..., None]
) -> None:
    """--parameter-overrides and --tags reach `sam deploy` as KEY=VALUE items; the
    "Deploying..." line appears once the prerequisites passed."""
    deployable_account()
    _stack_with_outputs("pay")
    result = _deploy(
        "--region", REGION, "--yes", "--json",
        "--parameter-overrides", "MaxAmountMinor=5000",
        "--parameter-overrides", "PowertoolsLayerVersion=28",
        "--tags", "team=payments", "--tags", "cost centre=a b",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Deploying to AWS stack pay" in result.stderr
    args = fake_sam.read_text(encoding="utf-8").splitlines()
    start = args.index("--parameter-overrides")
    assert args[start : start + 3] == [
        "--parameter-overrides", "MaxAmountMinor=5000", "PowertoolsLayerVersion=28"
    ]  # fmt: skip
    start = args.index("--tags")
    assert args[start : start + 3] == ["--tags", "team=payments", 'cost centre="a b"']


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--parameter-overrides", "Nope=1"], "the template has no parameter Nope"),
        (["--parameter-overrides", "MaxAmountMinor"], "is not Key=Value"),
        (["--tags", "aws:owner=me"], "tag 'aws:owner' is not allowed"),
    ],
)
def test_bad_pass_through_options_are_refused_before_sam_runs(
    aws: None, fake_sam: Path, option: list[str], message: str
) -> None:
    result = _deploy("--region", REGION, "--yes", *option)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr
    assert "Deploying" not in result.stderr
    assert not fake_sam.exists()


def test_missing_prerequisites_are_named_without_a_deploying_line(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = _deploy("--region", REGION, "--yes")
    assert result.exit_code == ExitCode.ENVIRONMENT
    assert "pip install 'paycli[aws]'" in result.stderr
    assert "Deploying" not in result.stderr


@pytest.mark.parametrize(
    ("limit", "logging_role", "messages"),
    [
        (1000, False, ["API Gateway in eu-west-1 has no CloudWatch Logs role",
                       "AmazonAPIGatewayPushToCloudWatchLogs"]),
        (140, True, ["concurrency limit in eu-west-1 is 140: this stack reserves 51",
                     "DeductAmountConcurrency"]),
        (10, False, ["no CloudWatch Logs role", "is 10: this stack reserves 51"]),
    ],
)  # fmt: skip
def test_an_account_that_would_fail_the_stack_is_refused_before_sam_runs(  # noqa: PLR0917 - fixtures and parameters
    aws: None,
    fake_sam: Path,
    deployable_account: Callable[..., None],
    limit: int,
    logging_role: bool,
    messages: list[str],
) -> None:
    """API access logging needs the account's API Gateway CloudWatch Logs role; reservations
    (DeductAmountConcurrency 50 + Reconcile 1) must leave 100 unreserved. Both are said at
    once, and nothing runs."""
    deployable_account(limit, logging_role)
    result = _deploy("--region", REGION, "--yes")
    assert result.exit_code == ExitCode.ENVIRONMENT, result.output
    text = " ".join(result.stderr.split())
    for message in messages:
        assert message in text
    assert "Deploying" not in result.stderr
    assert not fake_sam.exists()


def test_a_lower_concurrency_override_fits_a_small_account(
    aws: None, fake_sam: Path, deployable_account: Callable[..., None]
) -> None:
    deployable_account(140, True)
    _stack_with_outputs("pay")
    result = _deploy(
        "--region", REGION, "--yes", "--parameter-overrides", "DeductAmountConcurrency=20"
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "DeductAmountConcurrency=20" in fake_sam.read_text(encoding="utf-8").splitlines()


# ------------------------------------------------------------------------------ destroy


def test_destroy_on_aws_says_the_tables_remain_cost_and_are_protected(
    aws: None, fake_sam: Path
) -> None:
    """The note names each retained table, the cost (PITR) and deletion protection."""
    outputs = _stack_with_outputs("pay")
    result = CliRunner().invoke(
        app, ["destroy", "--target", "aws", "--region", REGION, "--stack-name", "pay", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert fake_sam.read_text(encoding="utf-8").splitlines()[0] == "delete"
    note = " ".join(result.stderr.split())
    for key in ("PaymentsTableName", "AccountsTableName", "LedgerTableName"):
        assert outputs[key] in note
    assert "keep costing" in note
    assert "point-in-time recovery" in note
    assert "--no-deletion-protection-enabled" in note


def test_destroy_still_runs_and_warns_when_the_outputs_cannot_be_read(
    aws: None, fake_sam: Path
) -> None:
    """No stack outputs to read (half-deleted stack): `sam delete` runs all the same and the
    note speaks of the stack's tables without names."""
    result = CliRunner().invoke(
        app, ["destroy", "--target", "aws", "--region", REGION, "--stack-name", "gone", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert fake_sam.read_text(encoding="utf-8").splitlines()[0] == "delete"
    assert "the stack's four DynamoDB tables remain" in " ".join(result.stderr.split())


# ------------------------------------------------------------------------------ dlq redrive


def _queues() -> tuple[Any, str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="pay-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    queue = sqs.create_queue(QueueName="pay-q", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"payment_id": "pay_1"}))
    return sqs, queue, dlq


def test_a_second_move_task_is_refused_by_sqs_and_said_clearly(aws: None) -> None:
    """SQS answers StartMessageMoveTask with UnsupportedOperation while a task runs on the
    DLQ (moto lacks the call: SQS's error response for it is played before the call and parsed
    by botocore's own parser). The redrive says so, moves nothing, and leaves the DLQ as it was."""
    sqs, queue, dlq = _queues()
    body = {
        "__type": "com.amazonaws.sqs#UnsupportedOperation",
        "message": "There is already an active message movement task for the specified queue.",
    }

    def refuse(model: Any, **_kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        headers = {"x-amzn-query-error": "AWS.SimpleQueueService.UnsupportedOperation;Sender"}
        raw = {"status_code": 400, "headers": headers, "body": json.dumps(body).encode()}
        parsed = create_parser(model.metadata["protocol"]).parse(raw, model.output_shape)
        return AWSResponse("https://sqs", 400, headers, None), parsed

    sqs.meta.events.register("before-call.sqs.StartMessageMoveTask", refuse)
    service = DlqService(sqs, queue, dlq, move_task_supported=True, sleep=lambda _s: None)
    with pytest.raises(ConflictError) as raised:
        service.redrive()
    assert "already running on the dead-letter queue" in raised.value.message
    assert "one at a time" in raised.value.message
    assert raised.value.exit_code == ExitCode.CONFLICT
    assert service.stats().dlq_messages == 1


# ------------------------------------------------------------------------------ dry run


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every socket connection attempt is recorded and refused."""
    attempts: list[Any] = []

    def refuse(_self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_dry_run_makes_no_network_call_and_prints_the_exact_sam_command(
    clean_env: Path,
    fake_sam: Path,
    no_network: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No credentials, no reachable endpoint, sockets refused: every check still runs and
    passes, and the command is the one a deploy runs (sam is never called)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    result = _deploy(
        "--region", REGION, "--dry-run", "--json", "--tags", "team=payments", "--yes"
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["ok"] is True
    steps = {step["name"]: step for step in view["steps"]}
    assert list(steps) == ["region", "sam", "credentials", "options", "package", "validate"]
    assert all(step["ok"] for step in steps.values())
    assert "not checked" in steps["credentials"]["detail"]
    assert "src/" in steps["package"]["detail"]
    assert "statemachine/payment.asl.json" in steps["package"]["detail"]
    assert f"cfn-lint for {REGION}" in steps["validate"]["detail"]
    command = view["command"]
    assert command[:2] == [shutil.which("sam"), "deploy"]
    assert command[command.index("--region") + 1] == REGION
    assert command[command.index("--stack-name") + 1] == "pay"
    assert "--no-confirm-changeset" in command
    assert command[-2:] == ["--tags", "team=payments"]
    assert no_network == []
    assert not fake_sam.exists()


def test_dry_run_human_output_prints_the_command_uncut_at_80_columns(
    clean_env: Path, fake_sam: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = _deploy("--region", REGION, "--dry-run")
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{shutil.which('sam')} deploy --template-file ")
    assert last.endswith("--confirm-changeset")


def test_dry_run_reports_every_failed_check_on_a_broken_copy(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A miscased CodeUri, no sam, a region without Pipes: each is a failed step (exit 1)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    stack = tmp_path / "stack"
    shutil.copytree(REPO / "stack", stack, ignore=shutil.ignore_patterns("__pycache__"))
    (stack / "src").rename(stack / "Src")
    report = rehearse(stack, Settings(target="aws", stack_name="pay"), "ca-west-1")
    failed = {step.name: step.detail for step in report.steps if not step.ok}
    assert set(failed) == {"region", "sam", "package"}
    assert "AWS::Pipes::Pipe" in failed["region"]
    assert "'src' is 'Src' on disk" in failed["package"]
    assert not report.ok
    assert report.command[:2] == ("sam", "deploy")

    fixed = rehearse(stack, Settings(target="aws", stack_name="pay"), REGION)
    failed = {step.name: step.detail for step in fixed.steps if not step.ok}
    assert set(failed) == {"sam", "package", "validate"}
    assert "path-case" in failed["validate"]


def test_dry_run_is_for_aws_only(clean_env: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", "--dry-run"])
    assert result.exit_code == ExitCode.USAGE
    assert "add --target aws" in result.stderr


# ------------------------------------------------------------------------------ injected context


def _injected(clean_env: Path, target: str = "aws") -> AppContext:
    """A frozen AppContext as a test injects it: the AWS stack `blue` in REGION (or the local
    target), its config file in the test's directory."""
    settings = Settings(
        target="aws" if target == "aws" else "local",
        region=REGION if target == "aws" else None,
        stack_name="blue",
        config_path=clean_env / "home" / "config.toml",
    )
    return AppContext(settings, AwsTarget(settings) if target == "aws" else None)


def _run(context: AppContext, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), obj=context)


def _error_line(result: Any) -> str:
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    return str(line)


def test_deploy_with_an_injected_context_deploys_its_stack_and_remembers_it(
    aws: None, clean_env: Path, fake_sam: Path, deployable_account: Callable[..., None]
) -> None:
    """No flags: `sam deploy` gets the injected stack name and region, the outputs are read
    back from CloudFormation as JSON, and the config file remembers the target."""
    deployable_account()
    outputs = _stack_with_outputs("blue")
    context = _injected(clean_env)
    result = _run(context, "deploy", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == outputs
    args = fake_sam.read_text(encoding="utf-8").splitlines()
    assert args[0] == "deploy"
    assert args[args.index("--stack-name") + 1] == "blue"
    assert args[args.index("--region") + 1] == REGION
    config = context.settings.config_path.read_text(encoding="utf-8")
    assert 'target = "aws"' in config
    assert 'stack_name = "blue"' in config


def test_deploy_dry_run_with_an_injected_context_is_offline(
    clean_env: Path, fake_sam: Path
) -> None:
    """--dry-run with the injected AWS context: every check passes and the command names the
    injected stack; sam never runs (no moto: any AWS call would fail)."""
    result = _run(_injected(clean_env), "deploy", "--dry-run", "--yes", "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["ok"] is True
    assert "--stack-name blue" in view["command_line"]
    assert not fake_sam.exists()


def test_aws_only_deploy_options_on_the_local_target_are_one_usage_line(clean_env: Path) -> None:
    result = _run(_injected(clean_env, "local"), "deploy", "--dry-run", "--json")
    assert result.exit_code == ExitCode.USAGE, result.output
    line = _error_line(result)
    assert line == "Error: --dry-run, --parameter-overrides and --tags apply to AWS deploys"
    assert "--target aws" in result.stderr
    assert result.stdout == ""


def test_destroy_with_an_injected_context_deletes_its_stack(
    aws: None, clean_env: Path, fake_sam: Path
) -> None:
    outputs = _stack_with_outputs("blue")
    result = _run(_injected(clean_env), "destroy", "--yes")
    assert result.exit_code == 0, result.output
    args = fake_sam.read_text(encoding="utf-8").splitlines()
    assert args[0] == "delete"
    assert args[args.index("--stack-name") + 1] == "blue"
    assert outputs["PaymentsTableName"] in " ".join(result.stderr.split())


def test_destroy_without_yes_and_no_terminal_refuses_before_anything(
    aws: None, clean_env: Path, fake_sam: Path
) -> None:
    """A prompt with no terminal to ask on refuses (exit 2) with the --yes hint; sam never runs."""
    result = _run(_injected(clean_env), "destroy")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert _error_line(result).startswith("Error: not confirmed: Destroy the AWS stack blue")
    assert "pass --yes" in result.stderr
    assert not fake_sam.exists()


def test_destroy_on_the_local_target_with_nothing_running_says_so(clean_env: Path) -> None:
    result = _run(_injected(clean_env, "local"), "destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert "local stack: not running" in result.stderr
