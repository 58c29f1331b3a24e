"""Simulated agents: many runners registering and holding long-poll sessions at once, over
the real protocol (docs/runner-protocol.md), from one asyncio process on loopback."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


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
    failures: int = 0

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def private_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
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


async def hold_sessions(fleet: Fleet, http: httpx.AsyncClient, seconds: float) -> None:
    """Every registered runner opens a session and long-polls until `seconds` pass."""
    deadline = time.monotonic() + seconds
    key = fleet.private_pem()

    async def agent(authorization: dict[str, str], delay: float) -> None:
        await asyncio.sleep(delay)  # spread the start like a fleet coming up
        now = int(time.time())
        claims = {
            "sub": authorization["client_id"],
            "iss": authorization["client_id"],
            "aud": authorization["authorization_url"],
            "iat": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
        }
        try:
            token = (
                await http.post(
                    authorization["authorization_url"],
                    data={
                        "grant_type": "client_credentials",
                        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        "client_assertion": jwt.encode(claims, key, algorithm="RS256"),
                    },
                )
            ).json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            base = authorization["server_url"]
            session = (await http.post(f"{base}_apis/runner/sessions", headers=bearer)).json()
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await http.get(
                    f"{base}_apis/runner/messages",
                    headers=bearer,
                    params={"sessionId": session["sessionId"]},
                )
                if response.status_code != 202:
                    fleet.failures += 1
                    return
                fleet.polls.append(time.perf_counter() - started - fleet.hold_seconds)
            await http.delete(f"{base}_apis/runner/sessions/{session['sessionId']}", headers=bearer)
        except httpx.HTTPError:
            fleet.failures += 1

    spread = min(10.0, seconds / 4)
    credentials = fleet.credentials  # type: ignore[attr-defined]
    await asyncio.gather(
        *(agent(c, spread * i / len(credentials)) for i, c in enumerate(credentials))
    )


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[98]
