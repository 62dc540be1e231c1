"""What a handler thread sees of the process: its own environment and its own stdout/stderr.

Lambda gives each execution environment its own process; the in-process runner runs handlers as
threads of one process, so each thread gets an overlay of `os.environ` (its function's
variables) and its writes to sys.stdout/sys.stderr routed into its invocation's capture.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping
from typing import TextIO

# Variables of the host process a Lambda function never sees: an endpoint override would send
# in-process handlers over HTTP, and a named profile does not exist inside Lambda.
HIDDEN_PREFIXES = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


# --------------------------------------------------------------------------- environment
class _Overlay:
    """One thread's view on top of the process environment: added values and hidden keys."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = dict(values)
        self.deleted: set[str] = set()

    def hides(self, key: str) -> bool:
        return key in self.deleted or (key not in self.values and key.startswith(HIDDEN_PREFIXES))


class ThreadLocalEnviron(MutableMapping[str, str]):
    """`os.environ` with a per-thread overlay.

    MOTO_NOTES: swapping each function's variables into os.environ around a call made 1-3 of
    200 concurrent executions fail with KeyErrors. Installed as `os.environ`, this lets each
    handler thread see its own function's variables while other threads see the process's.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> _Overlay | None:
        overlay: _Overlay | None = getattr(self._local, "overlay", None)
        return overlay

    @contextlib.contextmanager
    def overlay(self, values: dict[str, str]) -> Iterator[None]:
        """Within the block, this thread sees `values` on top of the process environment."""
        previous = self._overlay()
        self._local.overlay = _Overlay(values)
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None:
            if key in overlay.values:
                return overlay.values[key]
            if overlay.hides(key):
                raise KeyError(key)
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            self.base[key] = value
            return
        overlay.values[key] = value
        overlay.deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            del self.base[key]
            return
        if key not in self:
            raise KeyError(key)
        overlay.values.pop(key, None)
        overlay.deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        if overlay is None:
            yield from self.base
            return
        yield from overlay.values
        for key in list(self.base):
            if key not in overlay.values and not overlay.hides(key):
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        """Like os.environ.copy(): a plain dict of what this thread sees."""
        return dict(self)


_environ_lock = threading.Lock()


def install_environ() -> ThreadLocalEnviron:
    """Replace os.environ with a ThreadLocalEnviron once per process and return it."""
    with _environ_lock:
        current = os.environ
        if isinstance(current, ThreadLocalEnviron):
            return current
        environ = ThreadLocalEnviron(current)
        # Replacing (not clearing) os.environ is the point: os.getenv and botocore read it.
        os.environ = environ  # type: ignore[assignment]  # noqa: B003
        return environ


# --------------------------------------------------------------------------- log capture
class ThreadRoutedStream(io.TextIOBase):
    """sys.stdout/sys.stderr stand-in: a thread running a handler writes into that invocation's
    capture; every other thread writes through to the real stream. Powertools' Logger keeps the
    sys.stdout it saw at import, so this is installed before any handler is imported."""

    def __init__(self, real: TextIO, name: str) -> None:
        self.real = real
        self.name = name
        self._local = threading.local()

    def _passthrough(self) -> TextIO:
        """Where unrouted writes go: whatever sys.<name> is now (a test runner may have
        swapped it since), or the stream this wrapped."""
        current = getattr(sys, self.name, None)
        if current is None or current is self:
            return self.real
        return current  # type: ignore[no-any-return]

    def capture(self) -> Callable[[str], None] | None:
        sink: Callable[[str], None] | None = getattr(self._local, "sink", None)
        return sink

    @contextlib.contextmanager
    def routed(self, sink: Callable[[str], None]) -> Iterator[None]:
        previous = self.capture()
        self._local.sink = sink
        try:
            yield
        finally:
            self._local.sink = previous

    def write(self, text: str) -> int:
        sink = self.capture()
        if sink is None:
            return self._passthrough().write(text)
        sink(text)
        return len(text)

    def flush(self) -> None:
        if self.capture() is None:
            self._passthrough().flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.real, "encoding", "utf-8"))


_ROUTED: dict[str, ThreadRoutedStream] = {}


def install_streams() -> tuple[ThreadRoutedStream, ThreadRoutedStream]:
    """Wrap sys.stdout/sys.stderr once per process; later calls return the same wrappers."""
    with _environ_lock:
        for name in ("stdout", "stderr"):
            if name not in _ROUTED:
                current = getattr(sys, name)
                _ROUTED[name] = (
                    current
                    if isinstance(current, ThreadRoutedStream)
                    else ThreadRoutedStream(current, name)
                )
                setattr(sys, name, _ROUTED[name])
        return _ROUTED["stdout"], _ROUTED["stderr"]


def ensure_streams() -> None:
    """Re-install the wrappers if something (a test runner's capture) swapped sys.stdout or
    sys.stderr since: the swapped-in stream becomes where unrouted writes go."""
    for name, routed in _ROUTED.items():
        current = getattr(sys, name)
        if current is not routed:
            with _environ_lock:
                current = getattr(sys, name)
                if current is not routed and current is not None:
                    routed.real = current
                    setattr(sys, name, routed)


class LineBuffer:
    """Collects writes of one invocation and emits whole lines."""

    def __init__(self, emit: Callable[[str, str], None], stream: str) -> None:
        self._emit = emit
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> None:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            if line.strip():
                self._emit(line, self._stream)

    def close(self) -> None:
        if self._pending.strip():
            self._emit(self._pending, self._stream)
        self._pending = ""


def reroute_log_handlers() -> None:
    """Point logging handlers that write to a console stream at the routed wrappers, so a
    logger built before the runner existed (a module imported earlier, or while a test runner
    had swapped sys.stdout) is captured too.

    A Powertools Logger's own handler writes to the sys.stdout of when the logger was first
    built, which may be a stream long gone (a CLI runner's or a test's capture): it is pointed
    at the routed stdout whatever it was (the handlers give their Logger no stream of its
    own), as in Lambda that logger writes to the function's stdout. Other handlers move only
    from a stream that is sys.stdout/sys.stderr now, or the one the wrappers last passed
    writes through to."""
    targets: dict[int, ThreadRoutedStream] = {}
    for name, routed in _ROUTED.items():
        for stream in (routed.real, getattr(sys, name), getattr(sys, f"__{name}__")):
            if stream is not None and stream is not routed:
                targets[id(stream)] = routed
    stdout = _ROUTED.get("stdout")
    loggers = [logging.getLogger()]
    loggers += [
        obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)
    ]
    for logger in loggers:
        powertools = getattr(logger, "powertools_handler", None)
        for handler in logger.handlers:
            if not isinstance(handler, logging.StreamHandler):
                continue
            if id(handler.stream) in targets:
                handler.setStream(targets[id(handler.stream)])
            elif (
                handler is powertools
                and type(handler) is logging.StreamHandler
                and stdout is not None
                and not isinstance(handler.stream, ThreadRoutedStream)
            ):
                handler.setStream(stdout)
