"""One bounded wrk run against loopback, parsed from the JSON line its script prints."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import LOAD_CPU, pinned

SCRIPT = Path(__file__).parent / "wrk" / "report.lua"


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
    connections: int = 32,
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
