"""What sharing the rate limits across instances costs the read request, on PostgreSQL: the
app in process (no sockets) on a PostgreSQL database, batches of reads alternating the
in-memory rate limiter (one instance, as before) and the shared one (its sync thread
running), with the wake-up listener on. Reported per request: CPU of the whole process
(every thread: the request's worker thread, the listener, the sync) and wall time; then
each limiter's `spend` alone.

    python -m bench.scale_out_cost --database-url postgresql://... [--batches 15] [--size 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from bench.inproc import call


async def timed(app: Any, token: str, n: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        assert await call(app, token) == 200
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--size", type=int, default=200)
    args = parser.parse_args()

    from bench import inproc
    from bench.seed import seed_org
    from runnerhub.app import create_app
    from runnerhub.coordination.ratelimit import MemoryRateLimiter
    from runnerhub.settings import Settings, normalize_database_url
    from runnerhub.storage import migrate
    from runnerhub.storage.database import Database

    url = normalize_database_url(args.database_url)
    db = Database(url)
    migrate.upgrade(db)
    org = f"acme{uuid.uuid4().hex[:6]}"
    token = seed_org(db, org, 30)
    inproc.READ = f"/orgs/{org}/actions/runners"
    settings = Settings(database_url=url, rate_limit_per_hour=10**9, public_url="http://x")
    app = create_app(settings, db)
    state = app.state.runnerhub
    shared, memory = state.limiter, MemoryRateLimiter()

    async def go() -> None:
        async with app.router.lifespan_context(app):
            await timed(app, token, 200)
            runs: dict[str, list[tuple[float, float]]] = {"memory": [], "shared": []}
            for _ in range(args.batches):
                for name, limiter in (("memory", memory), ("shared", shared)):
                    state.limiter = limiter
                    runs[name].append(await timed(app, token, args.size))
            for name, found in runs.items():
                cpu = statistics.median(c for c, _ in found)
                wall = statistics.median(w for _, w in found)
                print(f"{name}: {cpu:.0f} µs CPU, {wall:.0f} µs wall per request")
            paired = [s[0] - m[0] for m, s in zip(runs["memory"], runs["shared"], strict=True)]
            print(
                f"shared - memory, median paired CPU: {statistics.median(paired):+.0f} µs/request"
            )

    asyncio.run(go())
    # The limiters alone, on one key already known (the steady state of the hot path).
    for name, limiter in (("memory", memory), ("shared", shared)):
        limiter.spend("user:1", 10**9, time.time())
        started = time.perf_counter()
        for _ in range(100_000):
            limiter.spend("user:1", 10**9, time.time())
        print(f"{name} spend(): {(time.perf_counter() - started) * 10:.2f} µs a call")


if __name__ == "__main__":
    main()
