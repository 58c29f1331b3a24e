"""Sending one webhook delivery over HTTP (httpx): what the deliverer is given by the app.

Redirects are not followed (as GitHub's hookshot); a response body is read as text. Any
failure to get an HTTP answer is an attempt without a status code, described in GitHub's
words ("failed to connect", "timed out").
"""

from __future__ import annotations

import time

import httpx

from runnerhub.domain.hook_delivery import Attempt
from runnerhub.services.hook_deliverer import Outgoing


class Hookshot:
    def __init__(self) -> None:
        self._verified = httpx.AsyncClient(follow_redirects=False)
        self._unverified = httpx.AsyncClient(follow_redirects=False, verify=False)  # noqa: S501 (insecure_ssl=1, the hook owner's choice)

    async def send(self, outgoing: Outgoing) -> Attempt:
        client = self._verified if outgoing.verify_tls else self._unverified
        started = time.perf_counter()
        try:
            response = await client.post(
                outgoing.url, content=outgoing.body, headers=outgoing.headers,
                timeout=outgoing.timeout,
            )  # fmt: skip
        except httpx.TimeoutException:
            return self._failed(outgoing, started, "timed out")
        except httpx.HTTPError:
            return self._failed(outgoing, started, "failed to connect")
        return Attempt(
            request_headers=outgoing.headers,
            status_code=response.status_code,
            response_headers=dict(response.headers),
            response_body=response.text,
            duration=time.perf_counter() - started,
        )

    def _failed(self, outgoing: Outgoing, started: float, error: str) -> Attempt:
        return Attempt(outgoing.headers, None, {}, "", time.perf_counter() - started, error)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await self._verified.aclose()
        await self._unverified.aclose()
