"""`paycli demo`: the quickstart in one command that finishes by itself.

Deploys the template on the local stack, creates an account, pays with three Stripe-style test
cards (success, decline, processing error), waits for each outcome, and reports the payments,
the balance and the DLQ. It stops the local stack afterwards only if it started it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from paycli.core.aws import AwsTarget
from paycli.core.payments import Payment, PayRequest
from paycli.core.services import Services
from paycli.core.settings import Settings, with_target

DEMO_CARDS: Final = (
    ("4242424242424242", "succeeds"),
    ("4000000000000002", "is declined (generic_decline)"),
    ("4000000000000119", "fails technically (processing_error) and lands in the DLQ"),
)


@dataclass(frozen=True)
class DemoReport:
    """Everything the demo did, for the final summary."""

    account: dict[str, Any]
    payments: list[Payment]
    dlq: dict[str, int]
    stopped_stack: bool

    def view(self) -> dict[str, Any]:
        """Stable JSON fields."""
        return {
            "account": self.account,
            "payments": [payment.view() for payment in self.payments],
            "dlq": self.dlq,
            "stopped_local_stack": self.stopped_stack,
        }


def run_demo(
    settings: Settings,
    step: Callable[[str], None],
    *,
    timeout: float = 60.0,
    keep_running: bool = False,
) -> DemoReport:
    """Run the walkthrough on the local stack; `step` receives one line per step."""
    from paycli.local import control  # noqa: PLC0415 - the demo is local by definition

    was_running = control.status().running
    step("Deploying the template on the local stack...")
    services = Services(AwsTarget(with_target(settings, "local")))
    try:
        services.deploy_local()
        return _walkthrough(services, step, timeout, stop=not (was_running or keep_running))
    finally:
        if not (was_running or keep_running):
            control.down()


def _walkthrough(
    services: Services, step: Callable[[str], None], timeout: float, *, stop: bool
) -> DemoReport:
    account_id = f"acc_demo_{uuid.uuid4().hex[:6]}"
    account = services.accounts().create("100.00", "USD", account_id)
    step(f"Created account {account_id} with 100.00 USD.")
    payments = services.payments(with_api=True)
    settled: list[Payment] = []
    for number, outcome in DEMO_CARDS:
        step(f"Paying 12.50 USD with card ****{number[-4:]}, which {outcome}...")
        request = PayRequest("card", "12.50", "USD", account.account_id, card_number=number)
        accepted = payments.pay(request).payment
        settled.append(payments.wait(accepted.payment_id, timeout=timeout))
        step(f"  {accepted.payment_id}: {settled[-1].status} {settled[-1].reason or ''}".rstrip())
    balance = services.accounts().get(account.account_id)
    dlq = services.dlq().stats().view()
    if stop:
        step("Stopping the local stack the demo started.")
    return DemoReport(balance.view(), settled, dlq, stop)
