"""The renderer: money with its currency, data on stdout, progress on stderr."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from paycli.render import Renderer, money


def _renderer(json_output: bool = False) -> tuple[Renderer, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    renderer = Renderer(
        json_output=json_output,
        where="local stack",
        out=Console(file=out, width=120, color_system=None),
        err=Console(file=err, width=120, color_system=None),
    )
    return renderer, out, err


PAYMENT = {
    "payment_id": "pay_1",
    "status": "DECLINED",
    "method": "card",
    "account_id": "acc_1",
    "amount_minor": 1250,
    "currency": "USD",
    "reason": "generic_decline",
    "card": {"brand": "visa", "last4": "0002"},
}


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "USD", "12.50 USD"),
        (5, "JPY", "5 JPY"),
        (1234, "BHD", "1.234 BHD"),
        (-250, "EUR", "-2.50 EUR"),
        (7, "ZZZ", "7 ZZZ (minor units)"),
        (None, "USD", "-"),
    ],
)
def test_money_uses_the_currency_exponent(minor: int | None, currency: str, text: str) -> None:
    """Minor units become major units by the currency's exponent; unknown codes are not guessed."""
    assert money(minor, currency) == text


def test_json_goes_through_the_output_console_only(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints exactly the data on the (injected) output console, notes on the error
    console, nothing on the process's own stdout; streams get one object per line."""
    renderer, out, err = _renderer(json_output=True)
    renderer.note("a remark")
    renderer.emit([PAYMENT], renderer.payments_table)
    assert json.loads(out.getvalue()) == [PAYMENT]
    assert "a remark" in err.getvalue()
    renderer.json_line(PAYMENT)
    assert out.getvalue().splitlines()[-1] == json.dumps(PAYMENT)
    assert capsys.readouterr().out == ""


def test_human_table_names_the_target_and_formats_money() -> None:
    """A person sees the status, reason, amount with currency, masked card and the target."""
    renderer, out, err = _renderer()
    renderer.emit([PAYMENT], renderer.payments_table)
    text = out.getvalue()
    for needle in ("on local stack", "DECLINED", "generic_decline", "12.50 USD", "visa ****0002"):
        assert needle in text
    assert err.getvalue() == ""


def test_progress_and_spinner_write_to_stderr_not_stdout() -> None:
    """So `| jq` keeps working while a redrive or a wait runs."""
    renderer, out, err = _renderer()
    with renderer.progress("Redriving", total=3) as update:
        update(3, 3)
    with renderer.spinner("waiting") as set_text:
        set_text("still waiting")
    renderer.note("done")
    assert out.getvalue() == ""
    assert "Redriving" in err.getvalue()
    assert "done" in err.getvalue()


def test_execution_detail_names_the_failing_state() -> None:
    """The timeline view ends with where and why the execution failed."""
    renderer, out, _err = _renderer()
    view = {
        "name": "exec-1",
        "status": "FAILED",
        "payment_id": "pay_1",
        "failed_state": "ValidatePayment",
        "error": "IssuerUnavailableError",
        "cause": json.dumps({"errorMessage": "issuer down", "stackTrace": ["  File x"]}),
        "steps": [
            {"state": "ParseMessage", "type": "Pass", "entered": "t0", "attempts": 0,
             "failed": False, "error": None},
            {"state": "ValidatePayment", "type": "Task", "entered": "t1", "attempts": 3,
             "failed": True, "error": "IssuerUnavailableError"},
        ],
    }  # fmt: skip
    renderer.emit(view, renderer.execution_detail)
    text = out.getvalue()
    assert "Failed in ValidatePayment: IssuerUnavailableError" in text
    assert "issuer down" in text
    assert "stackTrace" not in text  # the Lambda error JSON is reduced to its message


def test_a_note_off_a_terminal_is_one_line_at_any_width() -> None:
    """Before: `paycli demo 2>log` at 80 columns split "... (processing_error) " / "and lands
    in the DLQ..." over two lines; on a terminal rich still wraps it to the width."""
    text = "Paying 12.50 USD with card ****0119, which fails technically and lands in the DLQ..."
    err = io.StringIO()
    renderer = Renderer(err=Console(file=err, width=40, color_system=None))
    renderer.note(text)
    assert err.getvalue() == text + "\n"
    tty = io.StringIO()
    Renderer(err=Console(file=tty, width=40, force_terminal=True, color_system=None)).note(text)
    assert len(tty.getvalue().splitlines()) > 1
