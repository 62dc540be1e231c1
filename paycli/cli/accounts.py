"""`paycli accounts create|get|list`: test accounts with balances."""

from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, PlainGroup, renderer, services

app = typer.Typer(
    cls=PlainGroup,
    help="Test accounts with balances (for demos and tests).\n\n"
    "Example: paycli accounts create --id acc_demo --balance 100.00",
    no_args_is_help=True,
)


@app.command()
def create(
    ctx: typer.Context,
    *,
    balance: Annotated[
        str, typer.Option("--balance", help="Opening balance in major units, e.g. 100.00.")
    ],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code.")] = "USD",
    account_id: Annotated[
        str | None, typer.Option("--id", help="Account id (default: a generated acc_... id).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Create an account with an opening balance (and its opening ledger entry).

    Example: paycli accounts create --id acc_demo --balance 100.00 --currency USD
    """
    from paycli.core import inputs  # noqa: PLC0415 - keep --help fast

    if account_id is not None:
        inputs.account_id(account_id, hint="omit --id to have one generated")
    out = renderer(ctx, json_output)
    account = services(ctx).accounts().create(balance, currency, account_id)
    out.emit(account.view(), out.account_panel)


@app.command()
def get(
    ctx: typer.Context,
    *,
    account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID", help="The account id.")],
    json_output: JsonOpt = False,
) -> None:
    """Show one account and its balance.

    Example: paycli accounts get acc_demo --json
    """
    from paycli.core import inputs  # noqa: PLC0415

    inputs.account_id(account_id)
    out = renderer(ctx, json_output)
    account = services(ctx).accounts().get(account_id)
    out.emit(account.view(), out.account_panel)


@app.command("list")
def list_(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List every account with its balance.

    Example: paycli accounts list
    """
    out = renderer(ctx, json_output)
    views = [account.view() for account in services(ctx).accounts().list_accounts()]
    out.emit(views, out.accounts_table)
