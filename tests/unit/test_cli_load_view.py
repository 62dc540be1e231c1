"""`paycli load`'s table for people says what the run did, not what it could have done."""

from __future__ import annotations

from paycli.cli.load import _human
from paycli.core.load import LoadReport


def _report(count: int, concurrency: int) -> LoadReport:
    latency: dict[str, float | None] = {"p50": 0.1, "p95": 0.2, "p99": 0.2, "max": 0.2}
    return LoadReport(
        count=count, concurrency=concurrency, rate=0.0, accepted=count, completed=count,
        accepted_per_s=1.0, completed_per_s=1.0, latency_s=latency,
        outcomes={"SUCCEEDED": count}, errors={}, same_key_resends=0, same_key_mismatches=0,
        unfinished=0, elapsed_s=1.0, accounts=("acc_a",),
    )  # fmt: skip


def test_a_run_smaller_than_its_concurrency_does_not_claim_more_in_flight() -> None:
    """`load --count 3` (8 threads by default) said '3 (8 in flight, ...)'."""
    assert _human(_report(3, 8))["sent"] == "3 (3 in flight at most, rate max)"
    assert _human(_report(100, 8))["sent"] == "100 (8 in flight at most, rate max)"
