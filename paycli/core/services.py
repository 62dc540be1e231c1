"""Builds each service for a target from the clients and outputs of `core.aws` (the factory).

The CLI asks this for a service and hands it its arguments; tests hand in an AwsTarget with
preset outputs (and moto behind boto3) to exercise the same services.
"""

from __future__ import annotations

from functools import cached_property

from paycli.core.accounts import AccountsService
from paycli.core.api import ApiClient
from paycli.core.audit import AuditService, Progress, Tables
from paycli.core.aws import AwsTarget, StackOutputs
from paycli.core.deploy import (
    AwsPrerequisites,
    find_sam,
    run_sam,
    sam_delete_command,
    sam_deploy_command,
    template_path,
)
from paycli.core.dlq import DlqService, settled_payments
from paycli.core.errors import ConfigError, from_botocore
from paycli.core.executions import ExecutionsService
from paycli.core.load import LoadDriver
from paycli.core.logs import CloudWatchLogs, LogRecord, from_local, logical_function
from paycli.core.payments import PaymentsService
from paycli.core.reconcile import ReconcileService
from paycli.core.settings import write_config
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
        """Payments: reads from the table; `with_api` for `pay` (signed HTTP)."""
        api = self._api if with_api else None
        return PaymentsService(api, self.target.dynamodb(), self.outputs.PaymentsTableName)

    def load(self) -> LoadDriver:
        """The load driver: signed POSTs through the API, outcomes read from the table."""
        payments = self.payments(with_api=True)
        return LoadDriver(
            payments.pay,
            self.target.dynamodb(),
            self.outputs.PaymentsTableName,
            self.accounts(),
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
        """The queue and its DLQ; StartMessageMoveTask only on AWS (moto lacks it)."""
        out = self.outputs
        ddb, table = self.target.dynamodb(), out.PaymentsTableName
        return DlqService(
            self.target.sqs(),
            out.QueueUrl,
            out.DeadLetterQueueUrl,
            move_task_supported=not self.target.is_local,
            settled=lambda ids: settled_payments(ddb, table, ids),
        )

    def audit(self, progress: Progress | None = None) -> AuditService:
        """The ledger audit: tables, both queues and the executions of the stack."""
        out = self.outputs
        return AuditService(
            self.target.dynamodb(),
            self.target.sqs(),
            self.target.sfn(),
            Tables(out.PaymentsTableName, out.AccountsTableName, out.LedgerTableName),
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

    def deploy_aws_command(self, prereq: AwsPrerequisites, *, confirm: bool) -> list[str]:
        """The `sam deploy` command for the bundled template and these settings."""
        return sam_deploy_command(
            prereq.sam, template_path(), self.target.settings, prereq.region, confirm=confirm
        )

    def deploy_aws(
        self, *, confirm: bool, prereq: AwsPrerequisites | None = None
    ) -> dict[str, str]:
        """Run `sam deploy`, remember the settings, return the stack's outputs (`prereq`:
        already checked by the caller)."""
        prereq = prereq or self.aws_prerequisites()
        run_sam(self.deploy_aws_command(prereq, confirm=confirm))
        write_config(self.target.settings)
        return self.target.outputs().as_dict()

    def destroy(self) -> str:
        """Local: stop the local stack (its state is in memory). AWS: `sam delete`."""
        if self.target.is_local:
            from paycli.local import control  # noqa: PLC0415

            return "stopped" if control.down() else "not running"
        prereq = self.aws_prerequisites()
        run_sam(sam_delete_command(prereq.sam, self.target.settings, prereq.region))
        return "deleted (tables are kept: DeletionPolicy Retain)"
