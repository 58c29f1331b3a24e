"""A job's log on its way to the server: lines numbered, timestamped and masked, sent in
batches by a background thread at most once per `interval`, kept until the server
acknowledges them (it keeps each `seq` once, so sending a batch again is harmless)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from runnerhub.agent.backoff import Backoff
from runnerhub.agent.errors import AccessExpired, AgentError, JobGone, Unreachable
from runnerhub.agent.session import say

MASK = "***"
LINE_BYTES = 64 * 1024  # longer lines are cut
BATCH_LINES = 1000
BATCH_BYTES = 256 * 1024  # of text: well under the server's 1 MiB body limit

Send = Callable[[list[dict[str, Any]], list[dict[str, Any]]], bool]


class Masker:
    """Secret values, replaced by *** wherever they appear. A value of several lines is
    also masked line by line, as GitHub does, since output arrives a line at a time."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        candidates = {value, *value.splitlines()}
        with self._lock:
            fresh = {c.strip() for c in candidates if c.strip()} - set(self._values)
            # Longest first, so that a secret containing another is masked whole.
            self._values = sorted([*self._values, *fresh], key=len, reverse=True)

    def apply(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, MASK)
        return text

    def reveals(self, text: str) -> bool:
        return any(value in text for value in self._values)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobLog:
    def __init__(
        self, send: Send, masker: Masker, on_cancel: Callable[[], None],
        *, interval: float = 1.0, max_backoff: float = 30.0,
    ) -> None:  # fmt: skip
        self.send, self.masker, self.on_cancel = send, masker, on_cancel
        self.interval, self.backoff = interval, Backoff(max_backoff)
        self._changed = threading.Condition()
        self._lines: list[dict[str, Any]] = []  # not yet acknowledged, in seq order
        self._steps: dict[int, dict[str, Any]] = {}  # each step's latest state
        self._unsent: set[int] = set()  # steps whose latest state the server has not got
        self._seq = 0
        self._closing = self._gone = False
        self._thread = threading.Thread(target=self._send_all, name="logs", daemon=True)
        self._thread.start()

    def write(self, step: int, text: str) -> None:
        # Masked before the cut, so that the cut never leaves part of a secret showing.
        cut = self.masker.apply(text).encode()[:LINE_BYTES].decode(errors="ignore")
        with self._changed:
            if self._gone:
                return
            self._seq += 1
            self._lines.append({"seq": self._seq, "step": step, "time": now(), "text": cut})
            self._changed.notify()

    def step(self, record: dict[str, Any]) -> None:
        with self._changed:
            self._steps[record["number"]] = record
            self._unsent.add(record["number"])
            self._changed.notify()

    def steps(self) -> list[dict[str, Any]]:
        with self._changed:
            return [self._steps[number] for number in sorted(self._steps)]

    def close(self) -> None:
        """Returns once everything written is acknowledged (or the job is gone)."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join()

    def _send_all(self) -> None:
        last = -self.interval
        try:
            while self._wait_for_work():
                time.sleep(max(0.0, last + self.interval - time.monotonic()))
                last = time.monotonic()
                self._send_batch(*self._batch())
        except BaseException as error:  # a Stop: the agent is leaving
            say(f"log sending stopped: {error!r}")

    def _wait_for_work(self) -> bool:
        with self._changed:
            self._changed.wait_for(lambda: self._lines or self._unsent or self._closing)
            return bool(self._lines or self._unsent) and not self._gone

    def _batch(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with self._changed:
            lines: list[dict[str, Any]] = []
            size = 0
            for line in self._lines[:BATCH_LINES]:
                size += len(line["text"])
                if lines and size > BATCH_BYTES:
                    break
                # Masked again: a mask added since the line was written covers it too.
                lines.append({**line, "text": self.masker.apply(line["text"])})
            steps = [self._steps[number] for number in sorted(self._unsent)]
            self._unsent.clear()
            return lines, steps

    def _send_batch(self, lines: list[dict[str, Any]], steps: list[dict[str, Any]]) -> None:
        try:
            cancel = self.send(lines, steps)
        except (Unreachable, AccessExpired) as error:
            self._unacknowledged(steps)
            if isinstance(error, Unreachable):
                say(f"logs: {error}; retrying")
                self.backoff.sleep()
            return
        except JobGone as error:
            say(f"logs: the job is no longer this runner's ({error}); stopping it")
            self._give_up()
            return
        except AgentError as error:
            say(f"logs: the server refused a batch, dropped: {error}")
            cancel = False
        self.backoff.reset()
        self._acknowledged(lines)
        if cancel:
            self.on_cancel()

    def _unacknowledged(self, steps: list[dict[str, Any]]) -> None:
        with self._changed:
            self._unsent.update(record["number"] for record in steps)

    def _acknowledged(self, lines: list[dict[str, Any]]) -> None:
        with self._changed:
            del self._lines[: len(lines)]  # lines are only ever appended after these

    def _give_up(self) -> None:
        with self._changed:
            self._gone = True
            self._lines.clear()
            self._unsent.clear()
        self.on_cancel()
