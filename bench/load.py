"""Bounded load against loopback: wrk for a duration, or a burst of a fixed number of requests."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import LOAD_CPU, pinned

SCRIPT = Path(__file__).parent / "wrk" / "report.lua"
CONNECTIONS = 32


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: int


def wrk(
    url: str,
    path: str,
    token: str,
    *,
    seconds: int,
    connections: int = CONNECTIONS,
    method: str = "GET",
    body: str | None = None,
    ids: tuple[int, int] = (0, 0),
) -> Run:
    assert url.startswith("http://127.0.0.1:"), "load goes to loopback only"
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_TOKEN": token,
        "BENCH_METHOD": method,
        "BENCH_ID_LO": str(ids[0]),
        "BENCH_ID_HI": str(ids[1]),
    }
    if body is not None:
        env["BENCH_BODY"] = body
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]
    out = subprocess.run(
        pinned(command, LOAD_CPU),
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCHJSON "))
    data = json.loads(line.removeprefix("BENCHJSON "))
    return Run(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non2xx=data["non2xx"],
        errors=data["errors"],
    )


def burst(url: str, path: str, token: str, *, requests: int, body: str) -> Run:
    """`requests` POSTs over CONNECTIONS keep-alive connections, timed from the first to the
    last answer (wrk can only run for a duration). Runs on the load core, like wrk."""
    assert url.startswith("http://127.0.0.1:"), "load goes to loopback only"
    tag = secrets.token_hex(4)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "Content-Type": "application/json",
    }
    latencies: list[float] = []
    statuses: list[int] = []

    async def send_all() -> float:
        limits = httpx.Limits(max_connections=CONNECTIONS)
        async with httpx.AsyncClient(
            base_url=url, headers=headers, limits=limits, timeout=60
        ) as http:
            numbers = iter(range(requests))

            async def connection() -> None:
                for n in numbers:
                    sent = time.perf_counter()
                    answer = await http.post(path, content=body.replace("{n}", f"{tag}-{n}"))
                    latencies.append(time.perf_counter() - sent)
                    statuses.append(answer.status_code)

            started = time.perf_counter()
            await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
            return time.perf_counter() - started

    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    try:
        elapsed = asyncio.run(send_all())
    finally:
        os.sched_setaffinity(0, affinity)
    cuts = statistics.quantiles(latencies, n=100)
    return Run(
        rps=requests / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=cuts[98] * 1000,
        non2xx=sum(not 200 <= status < 300 for status in statuses),
        errors=0,
    )
