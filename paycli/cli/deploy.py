"""`paycli deploy`, `paycli destroy`, `paycli status`: the stack's life cycle."""

from __future__ import annotations

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

app = typer.Typer()


@app.command()
def deploy(
    ctx: typer.Context,
    *,
    target: TargetOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackNameOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Deploy the bundled SAM app and print the stack outputs.

    Local (default): starts the embedded stack if needed, then provisions the template (again is
    a no-op). AWS: checks sam, region and credentials, runs `sam deploy`, and remembers the
    target, profile, region and stack name in the config file.

    Example: paycli deploy --target aws --region eu-west-1 --yes
    """
    app_ctx = override_target(ctx, target, profile, region, stack_name)
    out = renderer(app_ctx, json_output)
    svc = app_ctx.services()
    if svc.target.is_local:
        with out.spinner(_local_deploy_text()):
            outputs = svc.deploy_local()
    else:
        if not yes:
            can_ask("deploy the change set that `sam deploy` shows?")
        prereq = svc.aws_prerequisites()  # every missing one named before anything is said
        out.note(f"Deploying to {app_ctx.settings.describe()} with `sam deploy`...")
        outputs = svc.deploy_aws(confirm=not yes, prereq=prereq)
    out.emit(outputs, out.outputs_table)


def _local_deploy_text() -> str:
    from paycli.local import control  # noqa: PLC0415 - only when deploying locally

    if control.status().running:
        return "Deploying the template to the running local stack..."
    return "Starting the local stack and deploying the template..."


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

    On AWS the DynamoDB tables are kept (DeletionPolicy Retain): delete them yourself.

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
