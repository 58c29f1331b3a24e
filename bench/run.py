"""The benchmark: read speed against the Python ceiling and Prism, scale, writes, agents, jobs.

    python -m bench.run [--rounds 3] [--seconds 8] [--agents 5000] [--dispatches 200]

Prints a table, writes bench/results/<date>-<commit>.json and a PNG chart beside it. Every
load goes to loopback. Rounds are interleaved (every variant once, then again), medians are
reported, and ratios are taken within a round so that machine noise cancels.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench import agents, jobs, servers
from bench.load import Run, burst, wrk
from bench.seed import seed_group, seed_org
from runnerhub.settings import Settings, normalize_database_url
from runnerhub.storage import migrate
from runnerhub.storage.database import Database
from runnerhub.storage.tables import accounts, runners

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec" / "openapi" / "dotcom.json"
PRISM = ROOT / "bench" / ".tools" / "node_modules" / ".bin" / "prism"
READ_PATH = "/orgs/acme/actions/runners?per_page=30"
SCALES = (100, 10_000, 100_000)
GROUP_SCALES = (100, 10_000)  # runners in one runner group (GitHub's limit is 10 000)


def median_run(runs: list[Run]) -> dict[str, float]:
    return {
        "rps": statistics.median(r.rps for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "rps_min": min(r.rps for r in runs),
        "rps_max": max(r.rps for r in runs),
        "non2xx": sum(r.non2xx for r in runs),
        "errors": sum(r.errors for r in runs),
    }


def ratio(a: list[Run], b: list[Run], key: str = "rps") -> float:
    """Median over rounds of the within-round ratio."""
    return statistics.median(getattr(x, key) / getattr(y, key) for x, y in zip(a, b, strict=True))


def bench_read(
    url: str, sqlite_path: Path, token: str, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    variants = [
        servers.runnerhub(url, logs / "runnerhub-read.log"),
        servers.ceiling(sqlite_path, logs / "ceiling.log"),
    ]
    # Reads in steady state, as the writes are measured: the key pool's startup fill (about
    # 20 s of CPU on the server's core, holding the GIL for tens of ms per key) is not a read.
    if Settings().runner_key_pool_size:
        wait_for_key_pool(logs / "runnerhub-read.log", fills=1)
    if PRISM.exists():
        variants.append(servers.prism(SPEC, PRISM, logs / "prism.log"))
    runs: dict[str, list[Run]] = {v.name: [] for v in variants}
    try:
        for _ in range(args.rounds):
            for server in variants:
                wrk(server.url, READ_PATH, token, seconds=2)  # warm-up, discarded
                runs[server.name].append(wrk(server.url, READ_PATH, token, seconds=args.seconds))
    finally:
        for server in variants:
            server.stop()
    result: dict[str, Any] = {name: median_run(r) for name, r in runs.items()}
    result["runnerhub/ceiling"] = ratio(runs["runnerhub"], runs["ceiling"])
    if "prism" in runs:
        result["runnerhub/prism"] = ratio(runs["runnerhub"], runs["prism"])
    return result


def bench_scale(
    url: str, tokens: dict[int, str], args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    server = servers.runnerhub(url, logs / "runnerhub-scale.log")
    runs: dict[str, list[Run]] = {}
    try:
        for _ in range(args.rounds):
            for size in SCALES:
                last = math.ceil(size / 30)
                for page in (1, last):
                    path = f"/orgs/scale{size}/actions/runners?per_page=30&page={page}"
                    key = f"{size}:{'first' if page == 1 else 'last'}"
                    wrk(server.url, path, tokens[size], seconds=1)
                    runs.setdefault(key, []).append(
                        wrk(server.url, path, tokens[size], seconds=args.seconds)
                    )
    finally:
        server.stop()
    result: dict[str, Any] = {key: median_run(r) for key, r in runs.items()}
    for page in ("first", "last"):
        big, small = runs[f"{SCALES[-1]}:{page}"], runs[f"{SCALES[0]}:{page}"]
        result[f"p99 {SCALES[-1]}/{SCALES[0]} ({page} page)"] = ratio(big, small, "p99_ms")
    return result


def bench_groups(
    url: str, groups: dict[int, tuple[str, int]], args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    """`GET /orgs/{org}/actions/runner-groups/{id}/runners?per_page=30`, first and last page,
    with N runners in the group; the sizes interleaved in every round."""
    server = servers.runnerhub(url, logs / "runnerhub-groups.log")
    runs: dict[str, list[Run]] = {}
    try:
        for _ in range(args.rounds):
            for size in GROUP_SCALES:
                token, number = groups[size]
                for page in (1, math.ceil(size / 30)):
                    path = (
                        f"/orgs/group{size}/actions/runner-groups/{number}/runners"
                        f"?per_page=30&page={page}"
                    )
                    key = f"{size}:{'first' if page == 1 else 'last'}"
                    wrk(server.url, path, token, seconds=1)
                    runs.setdefault(key, []).append(
                        wrk(server.url, path, token, seconds=args.seconds)
                    )
    finally:
        server.stop()
    result: dict[str, Any] = {key: median_run(r) for key, r in runs.items()}
    big, small = GROUP_SCALES[-1], GROUP_SCALES[0]
    for page in ("first", "last"):
        result[f"p99 {big}/{small} ({page} page)"] = ratio(
            runs[f"{big}:{page}"], runs[f"{small}:{page}"], "p99_ms"
        )
    return result


# The access log's cost on the read: the same server with it off, as JSON lines, as text,
# each writing its log to a file; no key pool, so that none of them spends CPU on keys.
LOG_VARIANTS = {
    "access log off": {"access_log": "false"},
    "json": {"log_format": "json"},
    "text": {"log_format": "text"},
}


def bench_logging(
    url: str, token: str, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    variants = [
        servers.runnerhub(
            url, logs / f"logging-{i}.log", name=name, runner_key_pool_size="0", **settings
        )
        for i, (name, settings) in enumerate(LOG_VARIANTS.items())
    ]
    runs: dict[str, list[Run]] = {v.name: [] for v in variants}
    try:
        for round_ in range(args.rounds):
            shift = round_ % len(variants)  # each variant first, second, third in turn
            for server in variants[shift:] + variants[:shift]:
                wrk(server.url, READ_PATH, token, seconds=2)  # warm-up, discarded
                runs[server.name].append(wrk(server.url, READ_PATH, token, seconds=args.seconds))
    finally:
        for server in variants:
            server.stop()
    result: dict[str, Any] = {name: median_run(r) for name, r in runs.items()}
    for name in ("json", "text"):
        result[f"{name}/off"] = ratio(runs[name], runs["access log off"])
    result["log lines"] = sum(
        (logs / f"logging-{i}.log").read_text().count("runnerhub.access")
        for i in range(1, len(LOG_VARIANTS))
    )
    return result


def bench_writes(
    url: str, token: str, ids: tuple[int, int], args: argparse.Namespace, log: Path
) -> dict[str, Any]:
    """Each write for `seconds`, and JIT configs twice: a burst the key pool absorbs, then
    sustained load once the pool is empty, where every request makes its own RSA key."""
    server = servers.runnerhub(url, log)
    base = "/orgs/writes/actions/runners"
    jit_body = '{"name":"jit-{n}","runner_group_id":1,"labels":["x"]}'
    cases = {
        "add-labels": (f"{base}/{{id}}/labels", '{"labels":["w-{n}"]}'),
        "registration-token": (f"{base}/registration-token", None),
        "generate-jitconfig, sustained": (f"{base}/generate-jitconfig", jit_body),
    }
    pool = Settings().runner_key_pool_size
    burst_name = f"generate-jitconfig, burst of {pool}"
    runs: dict[str, list[Run]] = {"add-labels": [], "registration-token": []}
    if pool:
        runs[burst_name] = []
    runs["generate-jitconfig, sustained"] = []
    try:
        for round_ in range(args.rounds):
            for name, (path, body) in cases.items():
                if name.endswith("sustained") and pool:
                    wait_for_key_pool(log, fills=round_ + 1)
                    runs[burst_name].append(
                        burst(server.url, path, token, requests=pool, body=jit_body)
                    )
                runs[name].append(
                    wrk(server.url, path, token, seconds=args.seconds, method="POST", body=body,
                        ids=ids)
                )  # fmt: skip
    finally:
        server.stop()
    return {name: median_run(r) for name, r in runs.items()}


def wait_for_key_pool(log: Path, fills: int, timeout: float = 300) -> None:
    """Until the server has logged its key pool full `fills` times (once per refill)."""
    deadline = time.monotonic() + timeout
    while log.read_text().count("runner key pool full") < fills:
        if time.monotonic() > deadline:
            raise RuntimeError("the runner key pool did not fill")
        time.sleep(0.5)


def bench_agents(
    url: str, db: Database, token: str, args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    window = 60
    server = servers.runnerhub(
        url, logs / "runnerhub-agents.log", offline_after_seconds=str(window)
    )
    registration = httpx.post(
        f"{server.url}/orgs/agents/actions/runners/registration-token",
        headers={"Authorization": f"Bearer {token}"},
    ).json()["token"]
    fleet = agents.Fleet(server.url, f"{server.url}/agents", registration, args.agents, window / 2)
    peak_rss, peak_online, stop = [0.0], [0], threading.Event()
    scope_id = db.read(
        lambda c: c.execute(
            select(accounts.c.scope_id).where(accounts.c.login == "agents")
        ).scalar()
    )

    def online() -> int:
        since = datetime.now(UTC) - timedelta(seconds=window)
        query = select(func.count()).where(
            runners.c.scope_id == scope_id,
            runners.c.session_id.is_not(None),
            runners.c.last_seen_at > since,
        )
        return int(db.read(lambda c: c.execute(query).scalar_one()))

    def sample() -> None:
        while not stop.wait(1.0):
            peak_rss[0] = max(peak_rss[0], server.rss_mib())
            peak_online[0] = max(peak_online[0], online())

    async def drive() -> float:
        timeout = httpx.Timeout(60.0, read=window)
        async with httpx.AsyncClient(timeout=timeout) as http:
            rate = await agents.register_all(fleet, http)
        await agents.hold_sessions(fleet, args.agent_seconds)
        return rate

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        rate = asyncio.run(drive())
    finally:
        stop.set()
        sampler.join()
        server.stop()
    return {
        "agents": args.agents,
        "registrations_per_s": rate,
        "peak_online": peak_online[0],
        "poll_overhead_p99_ms": agents.p99(fleet.polls) * 1000,
        "polls": len(fleet.polls),
        "failures": sum(fleet.failures.values()),
        "failure_kinds": dict(fleet.failures),
        "peak_rss_mib": peak_rss[0],
    }


def seed_writes(db: Database) -> tuple[str, tuple[int, int]]:
    token = seed_org(db, "writes", 1000)
    ids = db.read(
        lambda c: c.execute(
            select(func.min(runners.c.id), func.max(runners.c.id)).where(
                runners.c.name.like("writes-r%")
            )
        ).one()
    )
    return token, (int(ids[0]), int(ids[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--agent-seconds", type=float, default=75)
    parser.add_argument("--dispatches", type=int, default=200, help="jobs: dispatch latency")
    parser.add_argument(
        "--job-dispatches", type=int, default=100, help="jobs: dispatches of a 100-job matrix"
    )
    parser.add_argument("--job-seconds", type=float, default=240, help="jobs: throughput limit")
    parts = ("read", "scale", "groups", "writes", "agents", "jobs", "logging")
    parser.add_argument("--only", choices=parts, action="append")
    args = parser.parse_args()
    only = set(args.only or [p for p in parts if p != "logging"])
    work = Path(tempfile.mkdtemp(prefix="runnerhub-bench-"))
    sqlite_path = work / "bench.db"
    url = f"sqlite:///{sqlite_path}"
    db = Database(url)
    migrate.upgrade(db)
    results: dict[str, Any] = {"meta": meta(args)}
    print(f"seeding {sum(SCALES) + 30 + 1000} runners ...", flush=True)
    print(f"(logs in {work})", flush=True)
    read_token = seed_org(db, "acme", 30)
    scale_tokens = (
        {size: seed_org(db, f"scale{size}", size) for size in SCALES} if "scale" in only else {}
    )
    group_tokens = (
        {size: seed_group(db, f"group{size}", size) for size in GROUP_SCALES}
        if "groups" in only
        else {}
    )
    if "read" in only:
        results["read"] = bench_read(url, sqlite_path, read_token, args, work)
    if "logging" in only:
        results["logging"] = bench_logging(url, read_token, args, work)
    if "scale" in only:
        results["scale"] = bench_scale(url, scale_tokens, args, work)
    if "groups" in only:
        results["groups"] = bench_groups(url, group_tokens, args, work)
    if "writes" in only:
        results["writes"] = {
            "sqlite": bench_writes(url, *seed_writes(db), args, work / "w-sqlite.log")
        }
        pg_url = os.environ.get("RUNNERHUB_PG_URL")
        if pg_url:
            pg = Database(normalize_database_url(pg_url))
            migrate.upgrade(pg)
            results["writes"]["postgresql"] = bench_writes(
                pg_url, *seed_writes(pg), args, work / "w-pg.log"
            )
            pg.dispose()
    if "agents" in only:
        agents_token = seed_org(db, "agents", 0)
        results["agents"] = bench_agents(url, db, agents_token, args, work)
    if "jobs" in only:
        results["jobs"] = {"sqlite": jobs.bench_jobs(url, db, args, work, "sqlite")}
        pg_url = os.environ.get("RUNNERHUB_PG_URL")
        if pg_url:
            pg = Database(normalize_database_url(pg_url))
            migrate.upgrade(pg)
            results["jobs"]["postgresql"] = jobs.bench_jobs(pg_url, pg, args, work, "pg")
            pg.dispose()
    db.dispose()
    report(results)


def meta(args: argparse.Namespace) -> dict[str, Any]:
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "seconds": args.seconds,
    }


def report(results: dict[str, Any]) -> None:
    from bench.report import chart, table

    text = table(results)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stem = f"{results['meta']['date'][:10]}-{results['meta']['commit']}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(text + "\n")
    chart(results, out / f"{stem}.png")
    print(f"wrote bench/results/{stem}.json, .md and .png")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({time.monotonic() - started:.0f} s)")
