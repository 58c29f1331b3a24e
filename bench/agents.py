"""Simulated agents: many runners registering and holding long-poll sessions at once, over
the real protocol (docs/runner-protocol.md), from one asyncio process on loopback."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Fleet:
    url: str
    runner_url: str
    registration_token: str
    size: int
    hold_seconds: float
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    polls: list[float] = field(default_factory=list)  # seconds beyond the server's hold
    failures: Counter[str] = field(default_factory=Counter)

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


async def register_all(fleet: Fleet, http: httpx.AsyncClient, concurrency: int = 32) -> float:
    """Register `size` runners (token trade + register each); returns registrations/s."""
    gate = asyncio.Semaphore(concurrency)
    auth = {"Authorization": f"RemoteAuth {fleet.registration_token}"}
    pem = fleet.public_pem()
    fleet.credentials = []  # type: ignore[attr-defined]

    async def one(i: int) -> None:
        async with gate:
            await http.post(
                f"{fleet.url}/actions/runner-registration",
                headers=auth,
                json={"url": fleet.runner_url, "runner_event": "register"},
            )
            response = await http.post(
                f"{fleet.url}/actions/runners/register",
                headers=auth,
                json={
                    "url": fleet.runner_url,
                    "name": f"sim-{i}",
                    "public_key": pem,
                    "read_only_labels": ["self-hosted", "Linux", "X64"],
                    "labels": ["sim"],
                },
            )
            response.raise_for_status()
            fleet.credentials.append(response.json()["authorization"])  # type: ignore[attr-defined]

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(fleet.size)))
    return fleet.size / (time.perf_counter() - started)


class Connection:
    """One keep-alive HTTP/1.1 connection, as light as a simulated agent can be: a shared
    httpx pool of thousands of connections, or thousands of httpx clients, make the load
    generator the bottleneck instead of the server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        assert self.host == "127.0.0.1", "load goes to loopback only"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await reader.readexactly(length) if length else b""

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def hold_sessions(fleet: Fleet, seconds: float) -> None:
    """Every registered runner opens a session and long-polls until `seconds` pass."""
    deadline = time.monotonic() + seconds
    key = fleet.key  # a key object: PyJWT would re-parse (and re-check) a PEM per signature
    form = "application/x-www-form-urlencoded"

    async def agent(authorization: dict[str, str], delay: float) -> None:
        await asyncio.sleep(delay)  # spread the start like a fleet coming up
        conn = Connection(authorization["server_url"])
        now = int(time.time())
        claims = {
            "sub": authorization["client_id"],
            "iss": authorization["client_id"],
            "aud": authorization["authorization_url"],
            "iat": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
        }
        assertion = jwt.encode(claims, key, algorithm="RS256")
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion": assertion,
                "client_assertion_type": ASSERTION_TYPE,
            }
        ).encode()
        try:
            token_path = urlsplit(authorization["authorization_url"]).path
            status, answer = await conn.request("POST", token_path, {"Content-Type": form}, body)
            bearer = {"Authorization": f"Bearer {json.loads(answer)['access_token']}"}
            status, answer = await conn.request("POST", "/_apis/runner/sessions", bearer)
            session = json.loads(answer)["sessionId"]
            while time.monotonic() < deadline:
                started = time.perf_counter()
                status, _ = await conn.request(
                    "GET", f"/_apis/runner/messages?sessionId={session}", bearer
                )
                if status != 202:
                    fleet.failures[f"poll answered {status}"] += 1
                    return
                fleet.polls.append(time.perf_counter() - started - fleet.hold_seconds)
            await conn.request("DELETE", f"/_apis/runner/sessions/{session}", bearer)
        except (OSError, KeyError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            fleet.failures[type(error).__name__] += 1
        finally:
            conn.close()

    spread = min(10.0, seconds / 4)
    credentials = fleet.credentials  # type: ignore[attr-defined]
    await asyncio.gather(
        *(agent(c, spread * i / len(credentials)) for i, c in enumerate(credentials))
    )


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[98]
