"""`paycli pay card|bank|wallet`: send one payment through the API (SigV4-signed)."""

from collections.abc import Callable
from typing import Annotated

import typer
from paystack.domain.payment import Method

from paycli.cli._common import JsonOpt, renderer, services

app = typer.Typer()


@app.command()
def pay(
    ctx: typer.Context,
    *,
    method: Annotated[Method, typer.Argument(metavar="METHOD", help="card, bank or wallet.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount in major units, e.g. 12.50.")],
    account: Annotated[str, typer.Option("--account", help="Account to debit.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code.")] = "USD",
    card: Annotated[
        str | None,
        typer.Option(
            "--card", help="Card number, for card (default 4242424242424242; see README)."
        ),
    ] = None,
    iban: Annotated[
        str | None, typer.Option("--iban", help="IBAN, for bank (default a test IBAN).")
    ] = None,
    wallet: Annotated[
        str | None, typer.Option("--wallet", help="Wallet id, for wallet (default wal_demo0001).")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Reuse to retry safely (default: generated)."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow it to its final status.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait may take.")] = 60.0,
    json_output: JsonOpt = False,
) -> None:
    """Send a payment; with --wait, follow it to SUCCEEDED, DECLINED or FAILED.

    Exit code 0 once the API accepted it (with --wait, whatever the outcome). The card number
    goes to the API only: it is never printed, logged or stored here.

    Example: paycli pay card --amount 12.50 --account acc_demo --card 4000000000000002 --wait
    """
    from dataclasses import replace  # noqa: PLC0415

    from paycli.core import inputs  # noqa: PLC0415 - keep --help fast
    from paycli.core.errors import StoppedByUserError  # noqa: PLC0415
    from paycli.core.payments import (  # noqa: PLC0415
        Payment,
        PaymentWaitTimeoutError,
        new_idempotency_key,
        pay_request,
    )

    out = renderer(ctx, json_output)
    instrument = {"card": card, "iban": iban, "wallet": wallet}
    # One validated value before any AWS or local-stack lookup: bad input is a usage error.
    payment_input = pay_request(
        method.value, amount, currency, account, instrument, idempotency_key
    ).parse()
    if wait:
        inputs.positive_seconds(timeout, "--timeout")
    stack = services(ctx)
    _ = stack.outputs  # no stack (or no local stack running): say so before showing a key
    svc = stack.payments(with_api=True)
    # The key is shown before the request: when the answer never comes (a timeout, Ctrl-C),
    # the payment may still have been accepted, and only a retry with this key is safe.
    key = payment_input.idempotency_key or new_idempotency_key()
    out.note(f"Idempotency-Key: {key}")
    try:
        result = svc.pay(replace(payment_input, idempotency_key=key))
    except KeyboardInterrupt:
        raise StoppedByUserError(
            "stopped before the API answered: the payment may have been accepted",
            hint=f"run the same command with --idempotency-key {key}: it answers with that"
            " payment if there is one, and never pays twice",
        ) from None
    if result.replayed:
        out.note("replayed: the API answered with this key's earlier payment")
    payment = result.payment
    seen = [payment]

    def follow(update: Callable[[str], None], latest: Payment) -> None:
        seen[0] = latest
        update(f"{latest.payment_id}: {latest.status}")

    try:
        if wait:
            with out.spinner(f"{payment.payment_id}: {payment.status}") as update:
                payment = svc.wait(
                    payment.payment_id, timeout=timeout, on_change=lambda p: follow(update, p)
                )
    except PaymentWaitTimeoutError as late:
        payment = late.payment  # out of time: still print what is known, then exit 6
        raise
    except KeyboardInterrupt:  # printed as last seen (below); it settles on the stack anyway
        payment = seen[0]
        raise StoppedByUserError(
            f"stopped waiting: {payment.payment_id} was accepted ({payment.status} when last"
            " seen) and settles on the stack",
            hint=f"`paycli payments get {payment.payment_id}` shows its outcome",
        ) from None
    finally:
        out.emit({**payment.view(), "idempotency_key": result.idempotency_key}, out.payment_panel)
