"""SIGINT and SIGTERM stop the agent, whenever they arrive.

`main` installs the handlers before anything else (argument parsing, the slow imports of httpx
and cryptography, reading files). The handler raises Stop wherever the agent is, and `run`
closes its session, if it has one, on the way out.

Raising is not always enough: a handler that runs inside a weakref callback or a finalizer
(importlib runs one for each module lock) has its exception dropped, and the agent would run
on. So the handler also records the signal, and `check`, called before each request to the
server, raises Stop again. Python would print such a dropped Stop as "Exception ignored",
with a traceback, though nothing went wrong: the hook for those lets it pass in silence.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[str] = []  # the signals that arrived, by name


class Stop(BaseException):
    """A signal arrived. A BaseException, as KeyboardInterrupt is, so that no `except
    Exception` on the way swallows it."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    unraisable = sys.unraisablehook
    sys.unraisablehook = _quiet_about_stop(unraisable)
    previous = {sig: signal.signal(sig, _stop) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        sys.unraisablehook = unraisable


def _quiet_about_stop(
    hook: Callable[[sys.UnraisableHookArgs], object],
) -> Callable[[sys.UnraisableHookArgs], None]:
    def unraisable(report: sys.UnraisableHookArgs) -> None:
        # A dropped Stop: `check` raises it again. (typing is not imported here: see main.)
        if not isinstance(report.exc_value, Stop):
            hook(report)

    return unraisable


def check() -> None:
    """Raises Stop if a signal arrived, even one whose Stop was dropped."""
    if _received:
        raise Stop(_received[0])


def _stop(signum: int, frame: FrameType | None) -> None:  # raises: typing is not imported yet
    _received.append(signal.Signals(signum).name)
    raise Stop(_received[0])
