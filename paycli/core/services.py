"""Builds each service for a target from the clients and outputs of `core.aws` (the factory).

The CLI asks this for a service and hands it its arguments; tests hand in an AwsTarget with
preset outputs (and moto behind boto3) to exercise the same services.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from paycli.core.accounts import AccountsService
from paycli.core.api import ApiClient
from paycli.core.audit import AuditService, Progress
from paycli.core.aws import AwsTarget, StackOutputs
from paycli.core.deploy import (
    AwsPrerequisites,
    deploy_options,
    find_sam,
    retained_tables_note,
    run_sam,
    sam_delete_command,
    sam_deploy_command,
    stack_dir,
    template_path,
)
from paycli.core.dlq import MOVE_TASK_POLL_SECONDS, MOVE_WORKERS, DlqService, settled_payments
from paycli.core.errors import ConfigError, PaycliError, from_botocore
from paycli.core.executions import ExecutionsService
from paycli.core.load import LoadDriver, LoadProgress
from paycli.core.logs import CloudWatchLogs, LogRecord, from_local, logical_function
from paycli.core.payments import PaymentsService
from paycli.core.reconcile import ReconcileService
from paycli.core.rehearsal import (
    Rehearsal,
    account_problems,
    load_stack,
    rehearse,
    require_region,
    reserved_concurrency,
)
from paycli.core.settings import write_config
from paycli.core.soak import Soak, SoakServices
from paycli.core.status import StatusReport

STATUS_COUNT_CAP = 1000


class Services:
    """One target's services, each built on first use."""

    def __init__(self, target: AwsTarget) -> None:
        """All clients and names come from `target`."""
        self.target = target

    @property
    def outputs(self) -> StackOutputs:
        """The deployed stack's outputs (a clear error when nothing is deployed)."""
        return self.target.outputs()

    def accounts(self) -> AccountsService:
        """Accounts, through the paystack helpers."""
        out = self.outputs
        return AccountsService(self.target.dynamodb(), out.AccountsTableName, out.LedgerTableName)

    @cached_property
    def _api(self) -> ApiClient:
        return ApiClient(self.outputs.ApiUrl, self.target.credentials(), self.target.region)

    def payments(self, *, with_api: bool = False) -> PaymentsService:
        """Payments: reads from the table; `with_api` for `pay` (signed HTTP). The target's
        client and outputs are looked up when the service first needs them."""
        return PaymentsService(
            (lambda: self._api) if with_api else None,
            self.target.dynamodb,
            lambda: self.outputs.PaymentsTableName,
        )

    def load(self) -> LoadDriver:
        """The load driver: signed POSTs through the API, outcomes read from the table."""
        payments = self.payments(with_api=True)
        return LoadDriver(
            payments.pay,
            self.target.dynamodb(),
            self.outputs.PaymentsTableName,
            self.accounts(),
        )

    def soak(
        self,
        progress: Callable[[str], None] | None = None,
        on_load: Callable[[LoadProgress], None] | None = None,
    ) -> Soak:
        """The soak: the load driver's pieces, the operator's recovery services, the audit,
        and (local stack only) the fault plan's control."""
        return Soak(
            SoakServices(
                accounts=self.accounts(),
                pay=self.payments(with_api=True).pay,
                pay_once=PaymentsService(
                    ApiClient(
                        self.outputs.ApiUrl,
                        self.target.credentials(),
                        self.target.region,
                        attempts=1,
                    ),
                    self.target.dynamodb(),
                    self.outputs.PaymentsTableName,
                ).pay,
                dynamodb=self.target.dynamodb(),
                payments_table=self.outputs.PaymentsTableName,
                reconcile=self.reconcile(),
                dlq=self.dlq(),
                executions=self.executions(),
                audit=self.audit(),
                faults=_LocalFaults() if self.target.is_local else None,
            ),
            progress=progress,
            on_load=on_load,
        )

    def reconcile(self) -> ReconcileService:
        """The reconciler's sweep, run by the operator (same domain function as the schedule)."""
        out = self.outputs
        return ReconcileService(
            self.target.dynamodb(), self.target.sqs(), out.PaymentsTableName, out.QueueUrl
        )

    def executions(self) -> ExecutionsService:
        """Executions; RedriveExecution only on AWS (moto lacks it)."""
        return ExecutionsService(
            self.target.sfn(),
            self.outputs.StateMachineArn,
            self.payments(),
            redrive_supported=not self.target.is_local,
        )

    def dlq(self) -> DlqService:
        """The queue and its DLQ; redrive by StartMessageMoveTask on AWS and on the local stack
        (whose emulator implements it), read every 0.1 s locally where a call costs little.
        The DynamoDB client is built when the loop (`--max`) first asks which payments are
        settled: a move task never does, and building it is 50 ms of CPU before its start."""
        out = self.outputs
        ddb, table = cache(self.target.dynamodb), out.PaymentsTableName
        return DlqService(
            self.target.sqs(),
            out.QueueUrl,
            out.DeadLetterQueueUrl,
            move_task_supported=True,
            settled=lambda ids: settled_payments(ddb(), table, ids),
            workers=MOVE_WORKERS,
            poll_seconds=0.1 if self.target.is_local else MOVE_TASK_POLL_SECONDS,
        )

    def audit(self, progress: Progress | None = None) -> AuditService:
        """The ledger audit: tables, both queues and the executions of the stack."""
        out = self.outputs
        return AuditService(
            self.target.dynamodb(),
            self.target.sqs(),
            self.target.sfn(),
            out.tables,
            queue_url=out.QueueUrl,
            dlq_url=out.DeadLetterQueueUrl,
            state_machine_arn=out.StateMachineArn,
            progress=progress,
        )

    def logs(self, function: str | None, payment_id: str | None) -> list[LogRecord]:
        """Captured handler logs (local) or CloudWatch Logs (AWS)."""
        if self.target.is_local:
            from paycli.local import control  # noqa: PLC0415

            _ = self.outputs  # a clear error when the local stack is not running/deployed
            logical = logical_function(function)
            records = control.logs(function=logical, payment_id=payment_id)
            return [from_local(dict(record)) for record in records]
        return self.cloudwatch_logs().fetch(function, payment_id)

    def cloudwatch_logs(self) -> CloudWatchLogs:
        """The AWS log reader, with the functions' physical names from the stack."""
        resources = self.target.stack_resources()
        functions = {k: v for k, v in resources.items() if k.endswith("Function")}
        return CloudWatchLogs(self.target.logs(), functions)

    def status(self) -> StatusReport:
        """Outputs, queue depths and execution counts (counts capped to stay cheap)."""
        executions = self.executions()
        running = len(executions.list_executions("RUNNING", STATUS_COUNT_CAP))
        failed = len(executions.list_executions("FAILED", STATUS_COUNT_CAP))
        return StatusReport(
            target=self.target.settings.target,
            where=self.target.settings.describe(),
            outputs=self.outputs.as_dict(),
            dlq=self.dlq().stats(),
            executions_running=running,
            executions_failed=failed,
            counts_capped=STATUS_COUNT_CAP in (running, failed),
        )

    # ------------------------------------------------------------------ deploy / destroy
    def deploy_local(self) -> dict[str, str]:
        """Start the local stack if needed and provision the bundled template (idempotent)."""
        from paycli.local import control  # noqa: PLC0415

        return dict(control.deploy(template_path()))

    def aws_prerequisites(self) -> AwsPrerequisites:
        """sam installed, a region, working credentials: every missing one named at once."""
        problems: list[ConfigError] = []
        sam = account = region = ""
        try:
            sam = find_sam()
        except ConfigError as exc:
            problems.append(exc)
        try:
            region = self.target.region
            account = str(self.target.sts().get_caller_identity()["Account"])
        except Exception as exc:
            mapped = exc if isinstance(exc, ConfigError) else from_botocore(exc)
            if not isinstance(mapped, ConfigError):
                raise
            problems.append(mapped)
        if problems:
            raise ConfigError(
                "; ".join(p.message for p in problems),
                hint="; ".join(p.hint for p in problems if p.hint) or None,
            )
        return AwsPrerequisites(sam=sam, account=account, region=region)

    def local_stack_running(self) -> bool:
        """Whether the embedded local stack runs already (deploy says "starting" only if not)."""
        from paycli.local import control  # noqa: PLC0415

        return control.status().running

    def prepare_aws_deploy(
        self, *, overrides: Sequence[str], tags: Sequence[str], confirm: bool
    ) -> list[str]:
        """Region first, then the options and sam/credentials: the `sam deploy` command to run.

        Nothing is deployed here; every check that fails raises before anything runs.
        """
        stack = load_stack(stack_dir(), self.target.region)
        require_region(stack, self.target.region)
        options = deploy_options(stack.template, overrides, tags)
        prereq = self.aws_prerequisites()
        problems = account_problems(
            logging_role=self.target.apigateway().get_account().get("cloudwatchRoleArn"),
            concurrency_limit=int(
                self.target.lambda_().get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
            ),
            reserved=reserved_concurrency(stack.template, options.parameter_overrides),
            region=prereq.region,
        )
        if problems:
            raise ConfigError(
                "; ".join(p.message for p in problems),
                hint="; ".join(p.hint for p in problems if p.hint),
            )
        return sam_deploy_command(
            prereq.sam,
            stack.template_path,
            self.target.settings,
            prereq.region,
            confirm=confirm,
            options=options,
        )

    def run_aws_deploy(self, command: list[str]) -> dict[str, str]:
        """Run the prepared `sam deploy`, remember the settings, return the stack's outputs."""
        run_sam(command)
        write_config(self.target.settings)
        return self.target.outputs().as_dict()

    def rehearse_aws_deploy(
        self, *, overrides: Sequence[str], tags: Sequence[str], confirm: bool
    ) -> Rehearsal:
        """`deploy --dry-run`: every offline check and the command; no AWS call at all."""
        return rehearse(
            stack_dir(),
            self.target.settings,
            self.target.region,
            overrides=overrides,
            tags=tags,
            confirm=confirm,
        )

    def destroy(self) -> str:
        """Local: stop the local stack (its state is in memory). AWS: `sam delete`."""
        if self.target.is_local:
            from paycli.local import control  # noqa: PLC0415

            return "stopped" if control.down() else "not running"
        prereq = self.aws_prerequisites()
        tables = self._table_names()
        run_sam(sam_delete_command(prereq.sam, self.target.settings, prereq.region))
        return retained_tables_note(tables)

    def _table_names(self) -> list[str]:
        """The stack's table names, read before it goes (none when they cannot be read: the
        stack is half gone, or the caller may not DescribeStacks; the delete still runs)."""
        try:
            outputs = self.target.outputs().as_dict()
        except (PaycliError, BotoCoreError, ClientError):
            return []
        return [value for key, value in outputs.items() if key.endswith("TableName")]


class _LocalFaults:
    """The local stack's fault plan, set through its control surface."""

    def set_plan(self, plan: dict[str, Any] | None) -> dict[str, Any]:
        from paycli.local import control  # noqa: PLC0415 - the local stack's client only

        return control.set_fault_plan(plan)
