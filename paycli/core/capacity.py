"""Scale on paper: what binds first on AWS as the payment rate grows, with the design answer.

Each limit is a default quota (paycli/data/aws_prices_us_east_1.json, with sources) divided by
what one payment uses of it, counted from the template's shape (paycli/core/cost.py): state
transitions per payment from the ASL, Lambda seconds per payment from the measured durations,
write units on the account item and on the payments table from the handlers' requests. The
template's own API stage throttle is read from the template. docs/scale.md explains each line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paycli.core.cost import (
    CostModel,
    dynamodb_requests,
    lambda_seconds,
    price_data,
    quota,
    write_units,
)


@dataclass(frozen=True)
class Limit:
    """One ceiling: the payment rate at which it binds, and what to do about it."""

    name: str
    binds_at_per_s: float | None
    why: str
    answer: str
    changes_template: bool
    source: str

    def view(self, rate: float | None) -> dict[str, Any]:
        binds = None if self.binds_at_per_s is None else round(self.binds_at_per_s, 1)
        used = None
        if rate is not None and self.binds_at_per_s:
            used = round(rate / self.binds_at_per_s, 3)
        return {
            "name": self.name,
            "binds_at_per_s": binds,
            "utilisation": used,
            "why": self.why,
            "answer": self.answer,
            "changes_template": self.changes_template,
            "source": self.source,
        }


def _source(name: str) -> str:
    return str(price_data()["quotas"][name]["source"])


def _table_wru(model: CostModel, table: str) -> float:
    """Write units one payment takes on one table (its GSI writes included)."""
    return sum(
        share * write_units(write, model.shape.payments_gsis)
        for share, write in dynamodb_requests(model.outcomes)
        if write.table == table
    )


def limits(model: CostModel) -> list[Limit]:
    """Every modelled ceiling, lowest first."""
    seconds = sum(count * lambda_seconds(f) for f, count in model.lambda_invocations().items())
    transitions = model.transitions_per_payment()
    account_wru = _table_wru(model, "AccountsTable")
    table_wru = _table_wru(model, "PaymentsTable")
    found = [
        Limit(
            "API Gateway stage throttle (template)",
            model.shape.api_throttle_rps,
            "PaymentsApi MethodSettings ThrottlingRateLimit: one POST per payment",
            "raise ThrottlingRateLimit/BurstLimit in the template (up to the account's 10,000/s)",
            True,
            "stack/template.yaml",
        ),
        Limit(
            "Step Functions state transitions (Standard)",
            quota("sfn_standard_transitions_per_s") / transitions,
            f"{transitions:.2f} transitions per payment (ASL paths, by outcome share)",
            "ask for a higher quota (AWS also raises it with usage), or run the workflow as "
            "Express (no transition quota; see `paycli cost --profile express`)",
            False,
            _source("sfn_standard_transitions_per_s"),
        ),
        Limit(
            "DynamoDB partition of one hot account",
            quota("dynamodb_partition_wcu_per_s") / account_wru,
            f"{account_wru:.2f} write units per payment on the account item (intake "
            "ConditionCheck + settlement Update, both transactional); concurrent transactions "
            "on one item also conflict, so the real ceiling is lower",
            "shard hot balances (N sub-balance items per account, a debit picks one, reads sum "
            "them) or settle a hot account in batches; a data-model change, not a template one",
            False,
            _source("dynamodb_partition_wcu_per_s"),
        ),
        Limit(
            "Step Functions StartExecution (Standard)",
            quota("sfn_standard_start_execution_per_s"),
            "one execution per payment, started by the pipe",
            "ask for a higher quota, or Express (6,000/s)",
            False,
            _source("sfn_standard_start_execution_per_s"),
        ),
        Limit(
            "DynamoDB payments table (on demand)",
            quota("dynamodb_on_demand_table_wru_per_s") / table_wru,
            f"{table_wru:.2f} write units per payment on PaymentsTable and its "
            f"{model.shape.payments_gsis} GSIs",
            "ask for a higher table quota; a new on-demand table also starts lower and doubles "
            "with traffic, so pre-warm (warm throughput) before a launch",
            False,
            _source("dynamodb_on_demand_table_wru_per_s"),
        ),
        Limit(
            "Lambda concurrency (account)",
            quota("lambda_concurrency") / seconds,
            f"{seconds * 1000:.0f} ms of Lambda per payment (measured durations) at "
            "concurrency = rate x duration",
            "ask for a higher quota; give each function ReservedConcurrentExecutions so the "
            "ingress cannot starve settlement (a template change)",
            True,
            _source("lambda_concurrency"),
        ),
        Limit(
            "API Gateway account throttle",
            quota("api_gateway_account_rps"),
            "one request per payment, shared by every API in the account and region",
            "ask for a higher quota",
            False,
            _source("api_gateway_account_rps"),
        ),
        Limit(
            "SQS + EventBridge Pipes",
            None,
            "standard queues have no published throughput limit; a pipe scales its pollers "
            "with the backlog, with no published per-pipe rate",
            "watch ApproximateAgeOfOldestMessage; if one pipe lags, split the queue (a second "
            "queue and pipe, payments hashed across them): a template change",
            True,
            "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html",
        ),
    ]
    return sorted(found, key=lambda lim: (lim.binds_at_per_s is None, lim.binds_at_per_s or 0))


def capacity_report(model: CostModel, rate: float | None) -> dict[str, Any]:
    """The `capacity` part of `paycli cost --json`: every limit, the first to bind."""
    found = limits(model)
    first = found[0]
    view: dict[str, Any] = {
        "rate_per_s": rate,
        "first_to_bind": first.name,
        "first_binds_at_per_s": round(first.binds_at_per_s or 0.0, 1),
        "limits": [lim.view(rate) for lim in found],
    }
    if rate is not None:
        view["binding_now"] = [
            lim.name for lim in found if lim.binds_at_per_s and rate >= lim.binds_at_per_s
        ]
    return view
