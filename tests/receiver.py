"""A webhook receiver on loopback for the tests: real HTTP, every request kept as it came."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.server import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str

    @property
    def event(self) -> str:
        return self.headers["X-GitHub-Event"]


@dataclass
class Receiver:
    """Answers `status` to every POST (`delay` seconds late); `port` is fixed, so a receiver
    can be stopped and started again at the same URL."""

    port: int = field(default_factory=free_port)
    status: int = 200
    delay: float = 0.0
    fail_first: int = 0  # answer 503 to this many requests first
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers), body, self.path))
                    status = 503 if len(receiver.received) <= receiver.fail_first else None
                self.send_response(status or receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"thanks")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, name: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if name is None or r.event == name]

    def wait(self, count: int, name: str | None = None, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events(name))} {name or 'any'} deliveries, {count} wanted")
