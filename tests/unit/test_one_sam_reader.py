"""One SAM reader (issue 12): the Globals merge and the `${}` placeholder pattern exist once, in
paycli/core/sam.py, and the validator, the local stack and the IAM audit all use it. Two
hand-written copies drifted before (a shallow and a deep Globals merge; three `${}` patterns
with different character classes): this keeps it from happening again."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "paycli" / "core" / "sam.py"
SOURCES = [
    p
    for p in [*ROOT.joinpath("paycli").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py")]
    if p != OWNER and p != Path(__file__).resolve()
]
# A regex literal for `${...}`, a Globals-section table, or a value merge written again.
COPIES = {
    "a ${} placeholder pattern": re.compile(r"""r["'][^"'\n]*\\\$\\\{"""),
    "the Globals section table": re.compile(r'"Function":\s*"AWS::Serverless::Function"'),
    "a Globals value merge": re.compile(r"^\s*def merge_values\(", re.MULTILINE),
}


def test_the_sam_rules_are_written_once() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in SOURCES
        for what, pattern in COPIES.items()
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "use paycli.core.sam instead"


def test_the_owner_defines_each_one() -> None:
    """The guard above would pass vacuously if the patterns matched nothing anywhere."""
    text = OWNER.read_text(encoding="utf-8")
    assert all(pattern.search(text) for pattern in COPIES.values())
