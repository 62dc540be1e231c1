"""What may be said about a value that has not passed validation: its kind and length only.

Convention 14: nothing unvalidated reaches a log key or an error message. A payment id in a
URL, a field name in a body or a message's payment_id may be anything a client typed, a card
number included; only values that matched their own format are ever repeated.
"""

from __future__ import annotations

import re
from typing import Final

from paystack.domain.methods import luhn_valid

#: A field name safe to repeat in an error message: letters and underscores, nothing else (no
#: digit, so never a card number).
_SAFE_NAME: Final = re.compile(r"[A-Za-z_]{1,40}")


def described(value: object) -> dict[str, object]:
    """{"kind", "length"} of a value that failed validation (length None when it has none)."""
    length = len(value) if isinstance(value, str | bytes | list | dict) else None
    return {"kind": type(value).__name__, "length": length}


def field_names_text(names: list[str], prefix: str = "") -> str:
    """Unknown field names for an error message: the safe ones by name (after `prefix`, e.g.
    "card."), the rest counted."""
    safe = sorted(prefix + name for name in names if _SAFE_NAME.fullmatch(name))
    others = len(names) - len(safe)
    if others:
        safe.append(f"{others} other field(s) with unexpected names")
    return ", ".join(safe)


#: A run of 13-19 digits standing alone (not inside a longer run of letters and digits, such
#: as a hex id): the shape of a card number (PAN) in text.
_PAN_RUN: Final = re.compile(r"(?<![A-Za-z0-9])[0-9]{13,19}(?![A-Za-z0-9])")


def _is_pan(run: str) -> bool:
    """A digit run that is a card number: Luhn-valid, and not an epoch-milliseconds timestamp
    (13 digits starting with 1: years 2001-2286; no card network issues such numbers), which
    SQS attributes and clients' keys carry and which is Luhn-valid one time in ten."""
    return luhn_valid(run) and not (len(run) == 13 and run.startswith("1"))


def find_pans(text: str) -> list[str]:
    """Every card-number-like run in `text` (13-19 digits standing alone, Luhn-valid): what the
    PAN rule forbids to store or log."""
    return [match for match in _PAN_RUN.findall(text) if _is_pan(match)]


def mask_pans(text: str) -> str:
    """`text` with each card-number-like run replaced by its length, e.g. "[16 digits]"."""
    return _PAN_RUN.sub(
        lambda m: f"[{len(m.group())} digits]" if _is_pan(m.group()) else m.group(), text
    )
