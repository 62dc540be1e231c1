"""`paycli deploy`, `paycli destroy`, `paycli status`: the stack's life cycle."""

from typing import Annotated

import typer

from paycli.cli._common import (
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    StackNameOpt,
    TargetOpt,
    YesOpt,
    can_ask,
    confirm,
    override_target,
    renderer,
)
from paycli.core.errors import ExitCode, UsageError

app = typer.Typer()


@app.command()
def deploy(
    ctx: typer.Context,
    *,
    target: TargetOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackNameOpt = None,
    parameter_overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter-overrides",
            metavar="KEY=VALUE",
            help="A template parameter for `sam deploy` (repeatable). AWS only.",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tags", metavar="KEY=VALUE", help="A stack tag (repeatable). AWS only."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="AWS: run every offline check and print the sam command; deploy nothing.",
        ),
    ] = False,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Deploy the bundled SAM app and print the stack outputs.

    Local (default): starts the embedded stack if needed, then provisions the template (again is
    a no-op). AWS: checks the region (every resource type and the Powertools layer exist there),
    the options, sam and credentials, then runs `sam deploy` and remembers the target, profile,
    region and stack name in the config file. --dry-run makes no AWS call: region, sam, options,
    every path sam packages, `paycli validate` for the region, and the exact sam command.

    Example: paycli deploy --target aws --region eu-west-1 --tags team=payments --yes
    """
    app_ctx = override_target(ctx, target, profile, region, stack_name)
    out = renderer(app_ctx, json_output)
    svc = app_ctx.services()
    overrides, tag_list = parameter_overrides or [], tags or []
    if svc.target.is_local:
        if dry_run or overrides or tag_list:
            raise UsageError(
                "--dry-run, --parameter-overrides and --tags apply to AWS deploys",
                hint="add --target aws",
            )
        doing = (
            "Deploying" if svc.local_stack_running() else "Starting the local stack and deploying"
        )
        with out.spinner(f"{doing} the template..."):
            outputs = svc.deploy_local()
    elif dry_run:
        with out.spinner("Rehearsing the deploy offline..."):
            rehearsal = svc.rehearse_aws_deploy(overrides=overrides, tags=tag_list, confirm=not yes)
        out.emit_rehearsal(rehearsal.as_dict())
        if not rehearsal.ok:
            raise typer.Exit(int(ExitCode.FAILURE))
        return
    else:
        if not yes:  # sam would ask to confirm the change set: it needs a terminal
            can_ask("deploy the change set that `sam deploy` shows?")
        command = svc.prepare_aws_deploy(overrides=overrides, tags=tag_list, confirm=not yes)
        out.note(f"Deploying to {app_ctx.settings.describe()} with `sam deploy`...")
        outputs = svc.run_aws_deploy(command)
    out.emit(outputs, out.outputs_table)


@app.command()
def destroy(
    ctx: typer.Context,
    *,
    target: TargetOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackNameOpt = None,
    yes: YesOpt = False,
) -> None:
    """Stop the local stack (its data is in memory), or delete the AWS stack (`sam delete`).

    On AWS the four DynamoDB tables are kept (DeletionPolicy RetainExceptOnCreate): they keep
    costing (storage, point-in-time recovery) and have deletion protection on; the message
    says how to delete them.

    Example: paycli destroy --yes
    """
    app_ctx = override_target(ctx, target, profile, region, stack_name)
    where = app_ctx.settings.describe()
    if not yes:
        confirm(f"Destroy the {where}?")
    result = app_ctx.services().destroy()
    renderer(app_ctx).note(f"{where}: {result}")


@app.command()
def status(
    ctx: typer.Context,
    *,
    target: TargetOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackNameOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Stack outputs, queue and DLQ depths, running and failed executions.

    Example: paycli status --json | jq .dlq_messages
    """
    app_ctx = override_target(ctx, target, profile, region, stack_name)
    out = renderer(app_ctx, json_output)
    out.emit(app_ctx.services().status().view(), out.status_view)
