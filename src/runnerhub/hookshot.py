"""Sending one webhook delivery over HTTP (aiohttp): what the deliverer is given by the app.

Redirects are not followed (as GitHub's hookshot); up to `BODY_KEPT` bytes of a response body
are read, as text. Any failure to get an HTTP answer is an attempt without a status code,
described in GitHub's words ("failed to connect", "timed out").

With RUNNERHUB_WEBHOOK_ALLOWED_NETWORKS set, a connection goes only to an address in those
networks. The check is made on the address the socket connects to, after name resolution,
so a name that resolves elsewhere later (DNS rebinding) cannot slip past it.

aiohttp rather than httpx, which the rest of the project uses: one hook's deliveries go one
after another, so the client's cost per request bounds a hook's throughput. Sending to a
local receiver over a kept connection, aiohttp took about a fifth of httpx's CPU per request
(0.4 ms against 2 ms, measured side by side; README, "Webhook latency").
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from runnerhub.domain.hook_delivery import BODY_KEPT, Attempt
from runnerhub.services.hook_deliverer import Outgoing
from runnerhub.settings import IPNetwork


class NotAllowed(OSError):
    """The address is outside the networks webhooks may reach."""


class Hookshot:
    def __init__(self, allowed: Sequence[IPNetwork] = ()) -> None:
        self.allowed = tuple(allowed)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # Sessions belong to the loop they were made on: made here, not in __init__.
        guard = self._socket if self.allowed else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, socket_factory=guard),
            cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookies go nowhere
            auto_decompress=True,
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, outgoing: Outgoing) -> Attempt:
        if self._session is None:
            await self.start()
        assert self._session is not None
        started = time.perf_counter()
        try:
            async with self._session.post(
                outgoing.url, data=outgoing.body, headers=outgoing.headers,
                allow_redirects=False, ssl=outgoing.verify_tls,
                timeout=aiohttp.ClientTimeout(total=outgoing.timeout),
            ) as response:  # fmt: skip
                body = await _head_of(response.content, BODY_KEPT)
                return Attempt(
                    request_headers=outgoing.headers,
                    status_code=response.status,
                    response_headers={str(k): v for k, v in response.headers.items()},
                    response_body=_text(body, response.charset),
                    duration=time.perf_counter() - started,
                )
        except TimeoutError:
            return self._failed(outgoing, started, "timed out")
        except aiohttp.ClientConnectorError as error:
            refused = isinstance(error.os_error, NotAllowed)
            why = "address not allowed (RUNNERHUB_WEBHOOK_ALLOWED_NETWORKS)"
            return self._failed(outgoing, started, why if refused else "failed to connect")
        except (aiohttp.ClientError, ValueError, OSError):
            return self._failed(outgoing, started, "failed to connect")

    def _socket(self, info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _, address = info
        ip = ipaddress.ip_address(address[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not any(ip in network for network in self.allowed):
            raise NotAllowed(f"{ip} is outside the networks webhooks may reach")
        return socket.socket(family, kind, proto)

    def _failed(self, outgoing: Outgoing, started: float, error: str) -> Attempt:
        return Attempt(outgoing.headers, None, {}, "", time.perf_counter() - started, error)


async def _head_of(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to `limit` bytes of the body; the rest is never read (the connection is then
    closed rather than reused)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _text(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")

