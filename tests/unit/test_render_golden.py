"""Golden output of the tables at 80 and 120 columns, plain (NO_COLOR) and in colour.

Ids and other values people copy are never folded or cut; narrow tables drop or shorten the
columns that matter least and say so; times carry one labelled zone. Regenerate after an
intended change with `PAYCLI_UPDATE_GOLDEN=1 pytest tests/unit/test_render_golden.py` and
read the diff.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from paycli.render import Renderer

GOLDEN = Path(__file__).parent / "golden"
PAY_IDS = ["pay_5d638bc724f84a378a99cb2d3072dcc7", "pay_2701284165014815aac0d0d9bc35768a"]
EXEC_NAME = "44e60bde-b7f8-44b7-88bd-5793ef11da8f-b6f965cc7bfd"
ARN = f"arn:aws:states:us-east-1:123456789012:execution:paycli-PaymentStateMachine:{EXEC_NAME}"


def _payment(payment_id: str, status: str, reason: str | None, last4: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "status": status,
        "method": "card",
        "account_id": "acc_cli_4f2a9c",
        "amount_minor": 123456,
        "currency": "USD",
        "created_at": "2026-12-02T05:51:24.771Z",
        "reason": reason,
        "card": {"brand": "visa", "last4": last4},
    }


PAYMENTS = [
    _payment(PAY_IDS[0], "SUCCEEDED", None, "4242"),
    _payment(PAY_IDS[1], "FAILED", "processing_error", "0119"),
]
EXECUTIONS = [
    {
        "execution_arn": ARN,
        "name": EXEC_NAME,
        "status": "FAILED",
        "start_date": "2026-12-02T05:51:26.649Z",
        "stop_date": "2026-12-02T05:51:29.707Z",
    }
]
DLQ = [
    {
        "payment_id": PAY_IDS[1],
        "error": "IssuerUnavailableError",
        "sent_at": "2026-12-02T05:51:29.705Z",
        "receive_count": 2,
    }
]
ACCOUNTS = [
    {"account_id": "acc_cli_4f2a9c", "balance_minor": 10000, "currency": "USD",
     "created_at": "2026-12-02T05:51:23.941Z"},
]  # fmt: skip
OUTPUTS = {
    "DeadLetterQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/paycli-PaymentDLQ",
    "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:paycli-Payments",
}
LOGS = [
    {"timestamp": "2026-12-02T05:51:24.771Z", "function": "Ingress", "level": "INFO",
     "payment_id": PAY_IDS[0], "message": "payment accepted"},
    {"timestamp": "2026-12-02T05:51:24.931Z", "function": "ValidatePayment", "level": None,
     "payment_id": None,
     "message": "REPORT paycli-ValidatePaymentFunction 47.66 ms, a long line that must wrap"},
]  # fmt: skip
REDRIVEN = [{"execution_arn": ARN, "method": "restart", "new_execution_arn": ARN + "-rd-1a2b3c4d"}]

TABLES: dict[str, Callable[[Renderer], Any]] = {
    "payments": lambda r: r.payments_table(PAYMENTS),
    "executions": lambda r: r.executions_table(EXECUTIONS),
    "dlq_peek": lambda r: r.dlq_messages_table(DLQ),
    "accounts": lambda r: r.accounts_table(ACCOUNTS),
    "outputs": lambda r: r.outputs_table(OUTPUTS),
    "redrive": lambda r: r.redrive_results_table(REDRIVEN),
    "logs": lambda r: r.logs_table(LOGS),
}


def render(name: str, width: int, colour: bool) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=colour,
        color_system="standard" if colour else None,
        no_color=not colour,
        highlight=False,
    )
    renderer = Renderer(where="local stack", out=console)
    console.print(TABLES[name](renderer), crop=False)
    return buffer.getvalue()


CASES = [(n, w, c) for n in TABLES for w in (80, 120) for c in (False, True)]


@pytest.mark.parametrize(
    ("name", "width", "colour"),
    CASES,
    ids=[f"{n}-{w}-{'colour' if c else 'plain'}" for n, w, c in CASES],
)
def test_table_matches_its_golden_output(name: str, width: int, colour: bool) -> None:
    path = GOLDEN / f"{name}-{width}-{'colour' if colour else 'plain'}.txt"
    text = render(name, width, colour)
    if os.environ.get("PAYCLI_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "width"), [(n, w) for n in TABLES for w in (80, 120)])
def test_ids_are_whole_on_one_line_at_any_width(name: str, width: int) -> None:
    """`... | grep -o 'pay_[0-9a-f]*'` finds every id whole; the same for execution names."""
    text = render(name, width, colour=False)
    wanted = {
        "payments": PAY_IDS,
        "executions": [EXEC_NAME],
        "dlq_peek": [PAY_IDS[1]],
        "accounts": ["acc_cli_4f2a9c"],
        "outputs": list(OUTPUTS.values()),
        "redrive": [EXEC_NAME, f"{EXEC_NAME}-rd-1a2b3c4d"],
        "logs": [PAY_IDS[0]] if width >= 120 else [],
    }[name]
    for value in wanted:
        assert value in text
    if name == "payments":
        assert sorted(re.findall(r"pay_[0-9a-f]+", text)) == sorted(PAY_IDS)


def test_narrow_tables_say_which_columns_they_hide() -> None:
    text = render("payments", 80, colour=False)
    assert "hidden at 80 columns; --json has all" in text
    assert "created (UTC)" in render("payments", 120, colour=False)


def test_plain_output_has_no_escape_codes_and_colour_output_has() -> None:
    assert "\x1b[" not in render("payments", 80, colour=False)
    assert "\x1b[" in render("payments", 80, colour=True)


def test_table_times_use_one_labelled_zone_and_local_is_a_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """UTC by default, named in the header; `--time-zone local` (or PAYCLI_TIME_ZONE) shows
    this machine's zone, named too. Mixed inputs (Z, +00:00, -05:00) land in the one zone."""
    import time  # noqa: PLC0415

    from paycli.core.errors import UsageError  # noqa: PLC0415
    from paycli.core.settings import resolve_settings  # noqa: PLC0415

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        utc = Renderer(out=Console(file=io.StringIO(), width=120))
        local = Renderer(out=Console(file=io.StringIO(), width=120), local_time=True)
        for stamp in ("2026-12-02T05:51:24.771Z", "2026-12-02T00:51:24.771-05:00"):
            assert utc.time(stamp) == "2026-12-02 05:51:24"
            assert local.time(stamp) == "2026-12-02 00:51:24"
        assert (utc.zone, local.zone) == ("UTC", "EST")
        env = {"PAYCLI_HOME": str(tmp_path), "PAYCLI_TIME_ZONE": "local"}
        assert resolve_settings(flags={}, env=env).time_zone == "local"
        assert resolve_settings(flags={"time_zone": "UTC"}, env=env).time_zone == "utc"
        with pytest.raises(UsageError, match="time zone"):
            resolve_settings(flags={"time_zone": "mars"}, env=env)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


TIMELINE = {
    "name": EXEC_NAME,
    "status": "FAILED",
    "payment_id": PAY_IDS[1],
    "payment_status": "FAILED",
    "failed_state": "ValidatePayment",
    "error": "IssuerUnavailableError",
    "cause": "issuer unavailable",
    "steps": [
        {"state": "ValidatePayment", "type": "Task", "entered": "2026-12-02T05:51:26.650Z",
         "attempts": 3, "failed": True, "error": "IssuerUnavailableError"},
        {"state": "SendToDeadLetterQueue", "type": "Task", "entered": "2026-12-02T05:51:29.700Z",
         "attempts": 1, "failed": False, "error": None},
    ],
}  # fmt: skip


@pytest.mark.parametrize("width", [80, 120])
def test_the_execution_timeline_keeps_state_and_error_names_whole(width: int) -> None:
    """Before: at 80 columns `executions show` folded "SendToDeadLetterQ|ueue",
    "IssuerUnavailableE|rror" and the entry time onto two lines; now it drops the columns that
    matter least, says which, and stays within the width."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, no_color=True)
    console.print(Renderer(where="local stack", out=console).execution_detail(TIMELINE))
    text = buffer.getvalue()
    for name in ("SendToDeadLetterQueue", "IssuerUnavailableError", "ValidatePayment"):
        assert re.search(rf"│ {name}\s", text), text
    assert max(len(line) for line in text.splitlines()) <= width
    assert f"payment {PAY_IDS[1]} is FAILED" in text
    if width == 120:
        assert "2026-12-02 05:51:29" in text
        assert "hidden" not in text
    else:
        assert "hidden at 80 columns; --json has all" in text.replace("\n", " ")


def test_the_iam_policy_table_never_folds_an_action_or_an_arn() -> None:
    """Before: at 80 columns `paycli iam policy` folded "cloudformation:Desc|ribeStacks" and
    ".../POST/payment|s/bank". Actions and resources are whole, one per line; "needed by" (which
    --json, the bare policy document, does not carry) wraps but is never dropped."""
    arns = [f"arn:aws:execute-api:*:*:*/*/POST/payments/{m}" for m in ("bank", "card", "wallet")]
    document = {
        "Statement": [
            {"Sid": "Paycli01", "Action": ["cloudformation:DescribeStacks"],
             "Resource": ["arn:aws:cloudformation:*:*:stack/paycli/*"]},
            {"Sid": "Paycli02", "Action": ["execute-api:Invoke"], "Resource": arns},
        ]
    }  # fmt: skip
    reasons = ["pay (finds the API's URL in the stack's outputs)", "pay (the signed POST)"]
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None, no_color=True)
    renderer = Renderer(out=console)
    console.print(renderer.policy_table("IAM policy", document, reasons), crop=False)
    text = buffer.getvalue()
    for value in ["cloudformation:DescribeStacks", "arn:aws:cloudformation:*:*:stack/paycli/*"]:
        assert f" {value} " in text, text
    for arn in arns:
        assert re.search(rf"│ {re.escape(arn)}\s*│", text), text
    assert "pay (the signed" in text
    assert "hidden" not in text


def test_off_a_terminal_a_sentence_is_one_line_and_tables_still_fit() -> None:
    """`paycli dlq redrive | cat` at 60 columns printed 'Would move 101 message(s) back on
    local stack' and '(StartMessageMoveTask).' on two lines, so a grep for the sentence
    missed; off a terminal a one-sentence result is one line, tables are as before."""
    buffer = io.StringIO()
    renderer = Renderer(where="local stack", out=Console(file=buffer, width=60))
    view = {"method": "receive-send-delete", "dry_run": False, "candidates": 101, "moved": 101}
    renderer.emit({**view, "failed": 0}, renderer.redrive_text)
    renderer.emit(EXECUTIONS, renderer.executions_table)
    sentence, *table = buffer.getvalue().splitlines()
    assert sentence.startswith("Moved 101 of 101 message(s) back to the payment queue")
    assert sentence.endswith("with receive-send-delete.")
    alone = io.StringIO()  # the table as the goldens print it: unchanged
    Console(file=alone, width=60).print(renderer.executions_table(EXECUTIONS), crop=False)
    assert table == alone.getvalue().splitlines()


def test_the_cost_tables_keep_amounts_and_names_whole_when_narrow() -> None:
    """At 60 columns the bill cut amounts ('349,999,999,999,…' at a huge volume) and folded
    names inside the answers ('ThrottlingRateLi' / 'mit'); amounts are whole, text wraps
    between words only."""
    from paycli.core.cost import cost_report  # noqa: PLC0415
    from paycli.core.deploy import template_path  # noqa: PLC0415

    view = cost_report(1_000_000_000_000, "standard", template_path(), 250.0)
    buffer = io.StringIO()
    renderer = Renderer(out=Console(file=buffer, width=60))
    renderer.emit(view, renderer.cost_view)
    text = buffer.getvalue()
    assert "…" not in text
    for part in view["components"]:
        assert f"{part['monthly_usd']:,.2f}" in text
    assert f"{view['monthly_usd']:,.2f}" in text
    words = {word for line in text.splitlines() for word in line.split()}
    assert "ThrottlingRateLimit/BurstLimit" in words
    assert "ReservedConcurrentExecutions" in words
