"""`paycli cost`: the stack's AWS bill per component, and what binds first as traffic grows."""

from enum import StrEnum
from typing import Annotated

import typer

from paycli.cli._common import JsonOpt, renderer

app = typer.Typer()


class ProfileChoice(StrEnum):
    """Step Functions workflow type."""

    standard = "standard"
    express = "express"


def _rate(text: str | None) -> float | None:
    """`250` or `250/s` as payments per second."""
    from paycli.core.errors import UsageError  # noqa: PLC0415

    if text is None:
        return None
    value = text.strip().removesuffix("/s")
    try:
        rate = float(value)
    except ValueError:
        raise UsageError(
            f"bad --rate {text!r}", hint="payments per second, e.g. 250 or 250/s"
        ) from None
    if not rate > 0 or rate == float("inf"):
        raise UsageError("--rate must be a positive number of payments per second")
    return rate


@app.command()
def cost(
    ctx: typer.Context,
    *,
    payments_per_month: Annotated[
        int, typer.Option("--payments-per-month", "-n", help="Payments a month.")
    ] = 1_000_000,
    rate: Annotated[
        str | None,
        typer.Option("--rate", help="Peak payments/s for the capacity model, e.g. 250/s."),
    ] = None,
    profile: Annotated[
        ProfileChoice, typer.Option("--profile", help="Step Functions workflow type.")
    ] = ProfileChoice.standard,
    json_output: JsonOpt = False,
) -> None:
    """Estimate the monthly AWS bill (us-east-1 prices, dated, with sources) per component,
    from the template's shape, and what binds first as the payment rate grows.

    Example: paycli cost --payments-per-month 10000000 --rate 250/s --json
    """
    from paycli.core.cost import cost_report  # noqa: PLC0415 - keep --help fast
    from paycli.core.deploy import template_path  # noqa: PLC0415

    out = renderer(ctx, json_output)
    per_s = _rate(rate)
    if payments_per_month < 1:
        from paycli.core.errors import UsageError  # noqa: PLC0415

        raise UsageError("--payments-per-month must be at least 1")
    report = cost_report(payments_per_month, profile.value, template_path(), per_s)
    out.emit(report, out.cost_view)
