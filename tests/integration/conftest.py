"""Handler tests against moto, with the resources built FROM stack/template.yaml.

Tables (keys, GSIs, billing), queues and the secret come from the template's resources, and
each function's environment from Globals + its own Environment, with `!Ref`s resolved to what
was created: nothing about resources is repeated here. The local stack's provisioner does the
full job; this fixture only does what the handler tests need.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from botocore.awsrequest import AWSResponse
from handler_harness import HANDLERS, REGION, Stack
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from paystack.domain.dynamo import TableNames
from paystack.handlers import _runtime
from samtranslator.yaml_helper import yaml_parse

from paycli.local import patches

TEMPLATE = Path(__file__).resolve().parents[2] / "stack" / "template.yaml"


# ------------------------------------------------------------------------------ template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """stack/template.yaml, with !Ref/!GetAtt/!Sub as their long forms."""
    return dict(yaml_parse(TEMPLATE.read_text(encoding="utf-8")))


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def _create_tables(ddb: Any, template: dict[str, Any]) -> dict[str, str]:
    """Each AWS::DynamoDB::Table as declared (keys, GSIs, billing); named by logical id."""
    refs: dict[str, str] = {}
    for logical_id, props in _resources(template, "AWS::DynamoDB::Table").items():
        args: dict[str, Any] = {
            "TableName": logical_id,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props["BillingMode"],
        }
        if "GlobalSecondaryIndexes" in props:
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb.create_table(**args)
        refs[logical_id] = logical_id
    return refs


def _create_queues(sqs: Any, template: dict[str, Any]) -> dict[str, str]:
    """Each AWS::SQS::Queue (Ref = its URL)."""
    return {
        logical_id: sqs.create_queue(QueueName=logical_id)["QueueUrl"]
        for logical_id in _resources(template, "AWS::SQS::Queue")
    }


def _create_secrets(client: Any, template: dict[str, Any]) -> dict[str, str]:
    """Each AWS::SecretsManager::Secret with a generated string (Ref = its ARN)."""
    return {
        logical_id: client.create_secret(Name=logical_id, SecretString=secrets.token_hex(32))["ARN"]
        for logical_id in _resources(template, "AWS::SecretsManager::Secret")
    }


def _environment(template: dict[str, Any], function: str, refs: dict[str, str]) -> dict[str, str]:
    """Globals + the function's Environment.Variables with every Ref resolved."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    props = template["Resources"][function]["Properties"]
    merged |= props.get("Environment", {}).get("Variables", {})
    return {name: _resolve(value, refs) for name, value in merged.items()}


def _resolve(value: Any, refs: dict[str, str]) -> str:
    if isinstance(value, dict):
        (intrinsic, target), = value.items()  # fmt: skip
        if intrinsic != "Ref" or target not in refs:
            raise AssertionError(f"the test fixture cannot resolve {value!r}")
        return refs[target]
    return str(value)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, one region, no endpoint override, fresh handler clients/caches."""
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    _runtime.dynamodb.cache_clear()
    _runtime.sqs.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    parameters_base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]


@pytest.fixture
def stack(
    aws_env: None, template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """A fresh moto account holding the template's tables, queues and secret, on stock moto
    (a local stack restores moto's own code when it stops; this checks none is running)."""
    assert not patches.active(), "moto is patched: a local stack is still running"
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        refs = {
            **_create_tables(ddb, template),
            **_create_queues(sqs, template),
            **_create_secrets(boto3.client("secretsmanager", region_name=REGION), template),
            **{name: str(p["Default"]) for name, p in template["Parameters"].items()},
        }
        environments = {fn: _environment(template, fn, refs) for fn in HANDLERS}
        yield Stack(
            ddb=ddb,
            sqs=sqs,
            tables=TableNames(
                payments=environments["IngressFunction"]["PAYMENTS_TABLE"],
                accounts=environments["IngressFunction"]["ACCOUNTS_TABLE"],
                ledger=environments["DeductAmountFunction"]["LEDGER_TABLE"],
                idempotency=environments["IngressFunction"]["IDEMPOTENCY_TABLE"],
            ),
            queue_url=refs["PaymentQueue"],
            dlq_url=refs["PaymentDeadLetterQueue"],
            environments=environments,
            monkeypatch=monkeypatch,
        )


@pytest.fixture
def serialised_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """One lock around moto's request dispatch: its DynamoDB backend is not thread-safe
    (MOTO_NOTES: concurrent conditional writes both succeed), so without this a concurrency
    test would pass or fail by moto's races, not ours. Real DynamoDB serialises per item."""
    lock = threading.Lock()
    original = BotocoreStubber.__call__

    def locked(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", locked)


@pytest.fixture
def handler_logs() -> Iterator[io.StringIO]:
    """Everything the handlers' Powertools logger writes, in its JSON format."""
    stream = io.StringIO()
    powertools_logger = _runtime.logger
    handler = logging.StreamHandler(stream)
    handler.setFormatter(powertools_logger.registered_formatter)
    inner = logging.getLogger(powertools_logger.name)
    inner.addHandler(handler)
    yield stream
    inner.removeHandler(handler)


@pytest.fixture
def fake_sam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `sam` on PATH that records its argv (one per line) and succeeds."""
    bin_dir, record = tmp_path / "bin", tmp_path / "sam-args.txt"
    bin_dir.mkdir()
    sam = bin_dir / "sam"
    sam.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n', encoding="utf-8")
    sam.chmod(sam.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


@pytest.fixture
def deployable_account(monkeypatch: pytest.MonkeyPatch) -> Callable[[int, bool], None]:
    """Inside moto: `ready(limit, logging_role)` sets API Gateway's CloudWatch Logs role (moto)
    and makes Lambda's GetAccountSettings (which moto lacks) answer with `limit`."""
    state = {"limit": 1000}

    def account_settings(**_kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        limits = {"ConcurrentExecutions": state["limit"]}
        parsed = {"AccountLimit": limits, "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse("https://lambda", 200, {}, None), parsed

    handler = ("before-call.lambda.GetAccountSettings", account_settings)
    monkeypatch.setattr(
        botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, handler]
    )

    def ready(limit: int = 1000, logging_role: bool = True, region: str = "eu-west-1") -> None:
        state["limit"] = limit
        if logging_role:
            role = "arn:aws:iam::123456789012:role/apigateway-logs"
            boto3.client("apigateway", region_name=region).update_account(
                patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}]
            )

    return ready
