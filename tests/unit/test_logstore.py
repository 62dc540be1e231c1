"""The handler log store writes each record to a file it keeps open: readers in another
process see every line at once, and appending opens nothing."""

from __future__ import annotations

import json
from pathlib import Path

from paycli.local.logstore import LogStore, read_log_file


def _descriptors_on(path: Path) -> int:
    """How many of this process's file descriptors are open on `path`."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if fd.readlink() == path:
                count += 1
        except OSError:
            continue
    return count


def test_records_go_to_one_open_file_flushed_per_record(tmp_path: Path) -> None:
    """A hundred records: one descriptor on the file throughout (it was opened and closed per
    record), each line readable as soon as it was appended; close() releases it and a later
    record opens it again."""
    store = LogStore(tmp_path)
    assert store.path is not None
    for index in range(100):
        store.append({"message": f"line {index}", "function": "f"})
        assert _descriptors_on(store.path) == 1
        assert read_log_file(store.path)[-1]["message"] == f"line {index}"
    store.close()
    assert _descriptors_on(store.path) == 0
    store.append({"message": "after close"})
    store.close()
    lines = store.path.read_text().splitlines()
    assert len(lines) == 101
    assert json.loads(lines[-1]) == {"message": "after close"}


def test_a_store_dropped_without_close_releases_its_file(tmp_path: Path) -> None:
    """No descriptor outlives the store (and no ResourceWarning: it is closed, not leaked)."""
    store = LogStore(tmp_path)
    path = store.path
    assert path is not None
    store.append({"message": "x"})
    del store
    assert _descriptors_on(path) == 0
