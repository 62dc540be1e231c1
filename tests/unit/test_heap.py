"""heap.settle(): what is alive when a deployment is served leaves the collector's walks; what
is garbage then is collected first, and garbage made later is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from paycli.local import heap


class _Node:
    """A container that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> _Node:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return first


def _in_a_generation(obj: object) -> bool:
    return any(o is obj for generation in range(3) for o in gc.get_objects(generation))


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test process's heap goes back to the collector afterwards."""
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_settle_freezes_the_living_and_collects_the_dead_first() -> None:
    """A live object is frozen (no generation walks it); a cycle that was already garbage is
    gone, not frozen; a cycle dropped after settle() is still collected."""
    alive = _cycle()
    dead = weakref.ref(_cycle())  # unreachable at once: only a collection frees it
    assert _in_a_generation(alive)

    frozen = heap.settle()

    assert frozen == gc.get_freeze_count() > 0
    assert not _in_a_generation(alive)
    assert dead() is None
    later = weakref.ref(_cycle())
    gc.collect()
    assert later() is None
