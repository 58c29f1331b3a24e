"""Serving the app with uvicorn: the public URL, which proxies to believe, and slow clients.

uvicorn bounds only the idle time between two requests of a connection. Headers or a body
sent a byte at a time hold a connection for as long as the client likes, so a few hundred
such clients hold as many connections. `BoundedHttpToolsProtocol` closes a connection whose
request headers are not all in within `header_timeout_seconds` (counted from the connection
or from the request's first byte), or whose body is not all in within `body_timeout_seconds`
of its headers. Nothing is bounded once a request is fully read: the runner's long poll is
answered up to 30 s after that.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import sys
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runnerhub.errors import UserError
from runnerhub.settings import Settings
from runnerhub.tls import Certificate


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with one deadline per connection: on the headers until
    they are parsed, then on the body until it is complete, then none until the next request
    begins (uvicorn's keep-alive timeout covers the gap). The body's clock runs while uvicorn
    holds a pipelined request's body back until the request before it is answered: clients
    that pipeline requests with bodies behind a long poll would be cut (agents do not)."""

    header_timeout = 10
    body_timeout = 30
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a kept-alive connection
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self.transport.close()


def serve(
    app: ASGIApp, settings: Settings, host: str, port: int, tls: Certificate | None = None
) -> None:
    class Protocol(BoundedHttpToolsProtocol):
        header_timeout = settings.header_timeout_seconds
        body_timeout = settings.body_timeout_seconds

    proxies = trusted_proxies(settings.trusted_proxies)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=Protocol,  # never h11, which these deadlines do not cover
        ws="none",
        log_level="warning",
        log_config=None,  # uvicorn's lines go through runnerhub's handler (log_format.py)
        access_log=False,  # runnerhub's own (api/access_log.py)
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        # uvicorn believes X-Forwarded-* from 127.0.0.1 unless told otherwise.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        # Long polls must not hold a shutdown up: agents reconnect by themselves.
        timeout_graceful_shutdown=2,
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
    )


def trusted_proxies(setting: str) -> list[str]:
    """RUNNERHUB_TRUSTED_PROXIES as uvicorn's list, refusing what is no IP or network (uvicorn
    would keep it as a literal that never matches)."""
    proxies = [item.strip() for item in setting.split(",") if item.strip()]
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise UserError(
                f"RUNNERHUB_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
            ) from None
    return proxies


def public_url(
    configured: str,
    host: str,
    port: int,
    scheme: str = "http",
    warn: Callable[[str], None] = lambda text: print(f"runnerhub: {text}", file=sys.stderr),
) -> str:
    """RUNNERHUB_PUBLIC_URL, or the address served on when it is unset."""
    if configured:
        return configured.rstrip("/")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:  # a host name
        address = None
    if address is not None and address.is_unspecified:
        warn(
            f"warning: serving on every interface ({host}); set RUNNERHUB_PUBLIC_URL "
            "to the URL clients use, until then URLs in responses name 127.0.0.1"
        )
        host = "127.0.0.1"
    elif address is not None and address.version == 6:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def tune_garbage_collector() -> None:
    """Every request allocates thousands of short-lived objects. Keep the long-lived startup
    heap out of collections, and collect the young generation less often: fewer, shorter
    pauses in the latency tail."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
