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
    if rate > MAX_RATE:
        raise UsageError(f"--rate must be at most {MAX_RATE:,} payments per second, not {text}")
    return rate


#: Bounds of the model's inputs: far past any quota it names (API Gateway's account throttle is
#: 10,000/s), and small enough that every figure prints whole. 99999999999999999999999 a month
#: used to print a bill of 349,999,999,999,... USD, cut mid-number.
MAX_PAYMENTS_PER_MONTH = 1_000_000_000_000
MAX_RATE = 10_000_000


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
        ProfileChoice,
        typer.Option("--profile", case_sensitive=False, help="Step Functions workflow type."),
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
    if not 1 <= payments_per_month <= MAX_PAYMENTS_PER_MONTH:
        from paycli.core.errors import UsageError  # noqa: PLC0415

        raise UsageError(
            "--payments-per-month must be at least 1"
            if payments_per_month < 1
            else f"--payments-per-month must be at most {MAX_PAYMENTS_PER_MONTH:,},"
            f" not {payments_per_month:,}"
        )
    report = cost_report(payments_per_month, profile.value, template_path(), per_s)
    out.emit(report, out.cost_view)
