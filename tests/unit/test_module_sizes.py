"""No module in paycli/ or stack/src/ is over 600 lines (issue 12, "Sizes that show it").

A module that grows past the limit splits along the seams it already has (the renderer's core
apart from each noun's views; the local API's socket apart from its routing). The test names
every module over the limit with its line count, so the failure says what to split.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 600
TREES = ("paycli", "stack/src")


def _line_counts() -> dict[str, int]:
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for tree in TREES
        for path in sorted((ROOT / tree).rglob("*.py"))
    }


def test_the_scan_reads_the_product_modules() -> None:
    """The scan finds the modules (a wrong root would pass with nothing read)."""
    counts = _line_counts()
    assert "paycli/cli/app.py" in counts
    assert "stack/src/paystack/domain/payment.py" in counts
    assert len(counts) > 50


def test_no_module_is_over_the_limit() -> None:
    """Every module in paycli/ and stack/src/ has at most LIMIT lines."""
    over = {name: lines for name, lines in _line_counts().items() if lines > LIMIT}
    assert over == {}, f"modules over {LIMIT} lines (split them along their seams): {over}"
