"""`paycli iam policy`: the least-privilege IAM policy for the people who use a stack."""

from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, PlainGroup, RegionOpt, StackNameOpt, app_context, renderer

app = typer.Typer(
    cls=PlainGroup,
    help="IAM for the people who use a stack.\n\nExample: paycli iam policy --for operator --json",
    no_args_is_help=True,
)


@app.command()
def policy(
    ctx: typer.Context,
    *,
    principal: Annotated[
        str,
        typer.Option(
            "--for",
            help="operator (every read and recovery command, not deploy) or payer (pay).",
        ),
    ],
    account_id: Annotated[
        str, typer.Option("--account-id", help="The stack's AWS account. Default: any (*).")
    ] = "*",
    region: RegionOpt = None,
    stack_name: StackNameOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """The IAM policy a person needs to run paycli's commands on the AWS stack, scoped to it.

    Derived from the calls the commands make (a test records them against the stack in moto);
    resources are the stack's ARN patterns, built offline from the bundled template. With --json
    the policy document itself, ready for `aws iam put-user-policy --policy-document`.

    Example: paycli iam policy --for payer --region eu-west-1 --json > payer-policy.json
    """
    from paycli.core.iam import PRINCIPALS, policy_for  # noqa: PLC0415 - loads the translator

    settings = app_context(ctx).settings
    document, reasons = policy_for(
        principal,
        stack_name=stack_name or settings.stack_name,
        region=region or settings.region or "*",
        account=account_id,
    )
    out = renderer(ctx, json_output)
    title = f"IAM policy for a paycli {principal} ({' or '.join(PRINCIPALS)})"
    out.emit(document, lambda doc: out.policy_table(title, doc, reasons))
