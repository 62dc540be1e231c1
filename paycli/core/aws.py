"""The ONLY place that builds boto3 sessions and clients, for a target.

`local`: the embedded stack's moto endpoint with its fixed local credentials and region.
`aws`: a real profile/region. Either way every client shares one botocore Config (standard retry
mode with backoff on throttling, bounded timeouts), and the stack's resource names come from its
outputs (CloudFormation DescribeStacks on AWS, the local stack's outputs file locally): never
from guesses. Services receive the clients built here; they never build their own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from paystack.domain.dynamo import TableNames

from paycli import __version__
from paycli.core.errors import ConfigError, UsageError, from_botocore
from paycli.core.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

#: One retry/timeout policy for every AWS client. "standard" retries throttling and transient
#: errors with exponential backoff and jitter (5 attempts in all); the timeouts keep a dead
#: endpoint from hanging a command.
CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "total_max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra=f"paycli/{__version__}",
)
#: The local target's policy: the daemon is on this machine's loopback, so a connect takes
#: microseconds and no network drops a reply. With the AWS policy a wedged (SIGSTOPped) daemon
#: cost 30 s x 5 attempts (158 s measured for `paycli status`) before a word; 10 s x 2 still
#: leaves a daemon busy under load (a reply takes well under a second there) room to answer.
LOCAL_CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=2,
    read_timeout=10,
    user_agent_extra=f"paycli/{__version__}",
)

DEPLOY_HINT: Final = {
    "local": "run `paycli deploy` to start the local stack and deploy the template",
    "aws": "run `paycli deploy --target aws` (or pass the right --stack-name/--region)",
}


@dataclass(frozen=True)
class StackOutputs:
    """The deployed stack's outputs (the template's Outputs, same keys on both targets)."""

    ApiUrl: str
    QueueUrl: str
    DeadLetterQueueUrl: str
    StateMachineArn: str
    PaymentsTableName: str
    AccountsTableName: str
    LedgerTableName: str
    IdempotencyTableName: str

    @classmethod
    def from_mapping(cls, outputs: dict[str, str], *, where: str) -> StackOutputs:
        """Build from an outputs mapping; a missing key means a stack from another template."""
        missing = [f.name for f in fields(cls) if f.name not in outputs]
        if missing:
            raise ConfigError(
                f"the {where} lacks outputs {', '.join(missing)}",
                hint="redeploy it with this version of paycli (`paycli deploy`)",
            )
        return cls(**{f.name: outputs[f.name] for f in fields(cls)})

    @property
    def tables(self) -> TableNames:
        """The stack's tables, as the domain's functions take them."""
        return TableNames(
            payments=self.PaymentsTableName,
            accounts=self.AccountsTableName,
            ledger=self.LedgerTableName,
            idempotency=self.IdempotencyTableName,
        )

    def as_dict(self) -> dict[str, str]:
        """The outputs as CloudFormation lists them (for `status --json`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class AwsTarget:
    """Sessions, clients and stack outputs for one resolved target (built lazily, cached)."""

    def __init__(
        self,
        settings: Settings,
        *,
        outputs: StackOutputs | None = None,
        endpoint: str | None = None,
    ) -> None:
        """`outputs` may be given (tests, a fresh deploy) to skip looking them up; `endpoint`
        (tests) is the local endpoint to use instead of the running daemon's."""
        self.settings = settings
        self._outputs = outputs
        if endpoint is not None and self.is_local:
            self.__dict__["_endpoint"] = endpoint  # what the cached property would return

    @property
    def is_local(self) -> bool:
        """True for the embedded local stack (moto), where some AWS APIs need a fallback."""
        return self.settings.target == "local"

    @cached_property
    def _endpoint(self) -> str | None:
        """The local moto endpoint (None on AWS); a stopped local stack is a clear error, and
        so is a wedged one (its health call times out in seconds, before any client waits)."""
        if not self.is_local:
            return None
        from paycli.local import control  # noqa: PLC0415 - the local stack loads on demand

        endpoint = control.live_endpoint()
        if endpoint is None:
            raise ConfigError("the local stack is not running", hint=DEPLOY_HINT["local"])
        return endpoint

    @cached_property
    def session(self) -> boto3.Session:
        """A boto3 session for the target: the local credentials, or the profile/region."""
        if self.is_local:
            from paycli.local import control  # noqa: PLC0415

            return boto3.Session(
                aws_access_key_id=control.LOCAL_ACCESS_KEY,
                aws_secret_access_key=control.LOCAL_SECRET_KEY,
                region_name=control.LOCAL_REGION,
            )
        try:
            session = boto3.Session(
                profile_name=self.settings.profile, region_name=self.settings.region
            )
        except Exception as exc:
            raise (from_botocore(exc) or exc) from exc
        if not session.region_name:
            raise ConfigError("no AWS region set", hint="pass --region or set AWS_REGION")
        return session

    @property
    def region(self) -> str:
        """The region every client and the API signature use."""
        return str(self.session.region_name)

    def credentials(self) -> Credentials:
        """Frozen credentials for signing API requests (SigV4, service execute-api)."""
        creds = self.session.get_credentials()
        if creds is None:
            raise ConfigError(
                "no AWS credentials found",
                hint="configure a profile (`aws configure`) and pass --profile or set AWS_PROFILE",
            )
        frozen = creds.get_frozen_credentials()
        return Credentials(str(frozen.access_key), str(frozen.secret_key), frozen.token)

    def _client(self, service: str) -> Any:
        """Every client goes through here: the target's endpoint and the shared Config. On AWS
        the region is checked first: a typo would otherwise say "cannot reach ..." (the deploy
        dry run, which builds no client, reports it in its own region check)."""
        if not self.is_local:
            from paycli.core.regions import partition_of  # noqa: PLC0415

            if partition_of(self.region) is None:
                raise UsageError(
                    f"{self.region!r} is not an AWS region",
                    hint="e.g. --region eu-west-1 (the region comes from --region, AWS_REGION"
                    " or the profile)",
                )
        return self.session.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self._endpoint,
            config=LOCAL_CLIENT_CONFIG if self.is_local else CLIENT_CONFIG,
        )

    def dynamodb(self) -> DynamoDBClient:
        """DynamoDB client for the target."""
        return self._client("dynamodb")  # type: ignore[no-any-return]

    def sqs(self) -> SQSClient:
        """SQS client for the target."""
        return self._client("sqs")  # type: ignore[no-any-return]

    def sfn(self) -> SFNClient:
        """Step Functions client for the target."""
        return self._client("stepfunctions")  # type: ignore[no-any-return]

    def cloudformation(self) -> CloudFormationClient:
        """CloudFormation client (AWS target only: the local stack has its own provisioner)."""
        return self._client("cloudformation")  # type: ignore[no-any-return]

    def logs(self) -> CloudWatchLogsClient:
        """CloudWatch Logs client (AWS target)."""
        return self._client("logs")  # type: ignore[no-any-return]

    def sts(self) -> STSClient:
        """STS client, for the credentials check before a deploy."""
        return self._client("sts")  # type: ignore[no-any-return]

    def apigateway(self) -> Any:
        """API Gateway client, for the account's CloudWatch Logs role before a deploy."""
        return self._client("apigateway")

    def lambda_(self) -> Any:
        """Lambda client, for the account's concurrency limit before a deploy."""
        return self._client("lambda")

    def outputs(self) -> StackOutputs:
        """The stack's outputs, looked up once; a clear error when nothing is deployed."""
        if self._outputs is None:
            raw = self._local_outputs() if self.is_local else self._aws_outputs()
            where = "local stack" if self.is_local else f"stack {self.settings.stack_name}"
            self._outputs = StackOutputs.from_mapping(raw, where=where)
        return self._outputs

    def _local_outputs(self) -> dict[str, str]:
        """The local deployment's outputs, after checking that the stack runs."""
        from paycli.local import control  # noqa: PLC0415

        _ = self._endpoint  # raises when the local stack is not running
        outputs = control.outputs()
        if not outputs:
            raise ConfigError("nothing is deployed on the local stack", hint=DEPLOY_HINT["local"])
        return dict(outputs)

    def _aws_outputs(self) -> dict[str, str]:
        """DescribeStacks' outputs; a missing stack says which name and region was looked at."""
        name = self.settings.stack_name
        try:
            stacks = self.cloudformation().describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                raise ConfigError(
                    f"stack {name} is not deployed in {self.region}", hint=DEPLOY_HINT["aws"]
                ) from exc
            raise
        outputs = stacks[0].get("Outputs", [])
        return {o["OutputKey"]: o["OutputValue"] for o in outputs if "OutputKey" in o}

    def stack_resources(self) -> dict[str, str]:
        """Logical id -> physical id of the AWS stack's resources (to find log groups)."""
        paginator = self.cloudformation().get_paginator("list_stack_resources")
        resources: dict[str, str] = {}
        for page in paginator.paginate(StackName=self.settings.stack_name):
            for summary in page["StackResourceSummaries"]:
                resources[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
        return resources
