"""`paycli cost`: the model counts from the template and the ASL, and the CLI reports it.

No AWS: the figures come from stack/template.yaml, payment.asl.json and the dated price file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.capacity import limits
from paycli.core.cost import (
    PRICES_FILE,
    CostModel,
    StackShape,
    outcome_paths,
    price_data,
    read_shape,
)
from paycli.core.errors import ExitCode

STACK = Path(__file__).resolve().parents[2] / "stack"
runner = CliRunner()


@pytest.fixture(scope="module")
def shape() -> StackShape:
    return read_shape(STACK / "template.yaml")


def test_each_outcome_is_counted_along_its_path_in_the_asl(shape: StackShape) -> None:
    """A success runs both Lambda tasks (6 states), a decline at validation 4 states, a
    failure the catch path plus the issuer retries, with its DLQ send and MarkFailed update."""
    paths = shape.paths
    assert paths["SUCCEEDED"].states == (
        "ParseMessage", "ValidatePayment", "IsApproved", "DeductAmount", "IsSettled",
        "PaymentSucceeded",
    )  # fmt: skip
    assert paths["SUCCEEDED"].transitions == 6
    assert paths["SUCCEEDED"].lambda_tasks == Counter(
        {"ValidatePaymentFunction": 1, "DeductAmountFunction": 1}
    )
    assert paths["DECLINED"].transitions == 4
    assert paths["DECLINED"].lambda_tasks == Counter({"ValidatePaymentFunction": 1})
    failed = paths["FAILED"]
    assert failed.states[-3:] == ("MarkFailed", "SendToDeadLetterQueue", "PaymentFailed")
    assert failed.transitions == len(failed.states) + 2  # IssuerUnavailableError: 2 retries
    assert failed.lambda_tasks == Counter({"ValidatePaymentFunction": 3})
    assert (failed.sqs_sends, failed.dynamodb_updates) == (1, 1)


def test_the_count_follows_the_asl_not_a_constant() -> None:
    """One more Pass state on the success path is one more transition."""
    asl = json.loads((STACK / "statemachine" / "payment.asl.json").read_text())
    subs = {"${ValidatePaymentFunctionArn}": "V", "${DeductAmountFunctionArn}": "D"}
    before = outcome_paths(asl, subs)["SUCCEEDED"].transitions
    asl["States"]["Extra"] = {
        "Type": "Pass",
        "Next": asl["States"]["IsSettled"]["Choices"][0]["Next"],
    }
    asl["States"]["IsSettled"]["Choices"][0]["Next"] = "Extra"
    assert outcome_paths(asl, subs)["SUCCEEDED"].transitions == before + 1


def test_dynamodb_units_count_transactions_twice_and_every_gsi(shape: StackShape) -> None:
    with_gsis = CostModel(shape, {"SUCCEEDED": 1.0, "DECLINED": 0.0, "FAILED": 0.0})
    without = CostModel(
        StackShape(**{**shape.__dict__, "payments_gsis": 0}),
        {"SUCCEEDED": 1.0, "DECLINED": 0.0, "FAILED": 0.0},
    )
    # intake 3 items x2, validate update 1, settlement 3 items x2 = 13 without indexes
    assert without.dynamodb_units() == (13.0, 3.0)
    # each of the 3 payment-item writes touches both GSIs; the 2 status moves one more each
    assert with_gsis.dynamodb_units()[0] == 13.0 + 3 * 2 + 2


def test_estimate_adds_up_and_names_the_dominant_component(shape: StackShape) -> None:
    model = CostModel(shape)
    standard = model.estimate(1_000_000, "standard")
    view = standard.view()
    assert view["monthly_usd"] == pytest.approx(
        sum(c["monthly_usd"] for c in view["components"]), abs=0.05
    )
    assert view["per_million_usd"] == view["monthly_usd"]  # at one million a month
    assert view["dominant"] == "Step Functions (Standard)"
    transitions = next(c for c in standard.components if c.name.startswith("Step Functions"))
    assert transitions.monthly_usd == pytest.approx(1e6 * model.transitions_per_payment() * 25e-6)
    express = model.estimate(1_000_000, "express")
    assert express.monthly_usd < standard.monthly_usd
    assert "Step Functions (Express)" in {c.name for c in express.components}


def test_xray_cost_per_payment_falls_once_sampling_passes_its_reservoir(shape: StackShape) -> None:
    model = CostModel(shape)

    def xray(n: int) -> float:
        part = next(c for c in model.estimate(n, "standard").components if c.name == "X-Ray")
        return part.monthly_usd / n

    assert xray(100_000_000) < xray(1_000_000) / 5


def test_capacity_names_the_template_throttle_first_and_a_hot_account(shape: StackShape) -> None:
    found = limits(CostModel(shape))
    assert found[0].name == "API Gateway stage throttle (template)"
    assert found[0].binds_at_per_s == shape.api_throttle_rps == 100.0
    names = [lim.name for lim in found]
    assert "DynamoDB partition of one hot account" in names
    assert all(lim.answer and lim.source for lim in found)


def test_price_file_is_dated_and_every_price_has_a_source() -> None:
    data = price_data()
    assert data["region"] == "us-east-1"
    assert data["checked"]
    assert all(p["source"].startswith("https://") for p in data["prices"].values())
    assert all(q["source"].startswith("https://") for q in data["quotas"].values())
    assert PRICES_FILE.is_file()


def cost_json(*args: str) -> Any:
    result = runner.invoke(app, ["cost", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_json_has_the_documented_fields() -> None:
    view = cost_json("--payments-per-month", "10000000", "--rate", "150/s")
    for key in ("monthly_usd", "per_million_usd", "components", "dominant", "express", "capacity"):
        assert key in view
    assert all({"name", "monthly_usd"} <= set(c) for c in view["components"])
    assert view["express"]["operator_loses"]
    assert view["capacity"]["binding_now"] == ["API Gateway stage throttle (template)"]
    express = cost_json("--profile", "express")
    assert express["profile"] == "express"
    assert express["monthly_usd"] == express["express"]["monthly_usd"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "fast"], "bad --rate 'fast'"),
        (["--rate", "-3"], "--rate must be a positive"),
        (["--payments-per-month", "0"], "--payments-per-month must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["cost", *args])
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_human_output_fits_80_columns() -> None:
    result = runner.invoke(app, ["cost", "--rate", "50"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "Dominant: Step Functions (Standard)" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
