"""paycli/local/gc_policy.py: the daemon's collector pauses are recorded, and with "full" the
survivors of every full collection are frozen, so the next one walks only what came since."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from paycli.local import gc_policy


@pytest.fixture
def watch() -> Iterator[gc_policy.GcWatch]:
    thresholds = gc.get_threshold()
    recorder = gc_policy.GcWatch()
    recorder.install()
    try:
        yield recorder
    finally:
        recorder.uninstall()
        gc.unfreeze()  # this process froze nothing else
        gc.set_threshold(*thresholds)


def test_each_collection_is_counted_with_its_pause(watch: gc_policy.GcWatch) -> None:
    gc.collect()
    gc.collect(0)
    figures = watch.to_json()
    assert figures["generations"]["2"]["collections"] >= 1
    assert figures["generations"]["0"]["collections"] >= 1
    assert figures["generations"]["2"]["max_ms"] >= 0
    assert figures["threshold"] == list(gc.get_threshold())


def test_a_full_collection_freezes_its_survivors_when_refreezing(
    watch: gc_policy.GcWatch,
) -> None:
    """After a full collection the oldest generation is empty: the 20,000 long-lived objects
    are frozen (and cyclic garbage was collected, not frozen)."""
    watch.refreeze = True
    kept = [[i] for i in range(20_000)]
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    collected = gc.collect()
    assert collected >= 1
    assert len(gc.get_objects(generation=2)) < 1_000
    assert gc.get_freeze_count() >= len(kept)
    assert watch.to_json()["refreezes"] == 1


def test_without_refreezing_the_survivors_stay_in_the_oldest_generation(
    watch: gc_policy.GcWatch,
) -> None:
    kept = [[i] for i in range(20_000)]
    gc.collect()
    assert len(gc.get_objects(generation=2)) >= len(kept)
    assert watch.to_json()["refreezes"] == 0


def test_settle_follows_the_freeze_mode(
    watch: gc_policy.GcWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(gc_policy.FREEZE_ENV, "off")
    watch.settle()
    assert (gc.get_freeze_count(), watch.refreeze) == (0, False)
    monkeypatch.setenv(gc_policy.FREEZE_ENV, "start")
    watch.settle()
    assert gc.get_freeze_count() > 0
    assert not watch.refreeze
    monkeypatch.delenv(gc_policy.FREEZE_ENV)
    watch.settle()
    assert watch.refreeze  # "full" is the default


def test_settings_from_the_environment_and_their_errors() -> None:
    assert gc_policy.freeze_mode({}) == "full"
    assert gc_policy.freeze_mode({gc_policy.FREEZE_ENV: "start"}) == "start"
    with pytest.raises(ValueError, match=gc_policy.FREEZE_ENV):
        gc_policy.freeze_mode({gc_policy.FREEZE_ENV: "sometimes"})
    assert gc_policy.threshold({}) is None
    assert gc_policy.threshold({gc_policy.THRESHOLD_ENV: "7000, 20, 100"}) == (7000, 20, 100)
    for bad in ("7000,20", "a,b,c", "1,2,3,4"):
        with pytest.raises(ValueError, match=gc_policy.THRESHOLD_ENV):
            gc_policy.threshold({gc_policy.THRESHOLD_ENV: bad})
