"""In-process cost of one read request: the ASGI app called directly (no sockets), per tree.

    PYTHONPATH=<tree>/src:<tree> python -m bench.inproc [--requests 5000] [--profile]

Prints CPU µs per request (median of 9 batches) for runnerhub's app and for the ceiling app on
the same database, so that the framework-and-handler cost can be compared without wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

READ = "/orgs/acme/actions/runners"
QUERY = b"per_page=30"


def scope(token: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": READ, "raw_path": READ.encode(), "query_string": QUERY,
        "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"),
                                     (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip


async def call(app: Any, token: str) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(token), receive, send)
    return status


async def batch(app: Any, token: str, n: int) -> float:
    started = time.thread_time()  # CPU time: other load on the machine does not count
    for _ in range(n):
        assert await call(app, token) == 200
    return (time.thread_time() - started) / n * 1e6


def seeded_app(prefix: str) -> tuple[Any, str]:
    """The app on a fresh SQLite database holding org `acme` with 30 runners, and an admin
    token; the ceiling is pointed at the same database."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    url = f"sqlite:///{work / 'db'}"
    from bench.seed import seed_org
    from runnerhub.app import create_app
    from runnerhub.settings import Settings
    from runnerhub.storage import migrate
    from runnerhub.storage.database import Database

    db = Database(url)
    migrate.upgrade(db)
    token = seed_org(db, "acme", 30)
    settings = Settings(database_url=url, rate_limit_per_hour=10**9, public_url="http://x")
    os.environ["CEILING_DB"] = str(work / "db")
    return create_app(settings, db), token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    app, token = seeded_app("runnerhub-inproc-")
    from bench import ceiling

    async def go() -> None:
        async with app.router.lifespan_context(app):
            for name, target in (("runnerhub", app), ("ceiling", ceiling.app)):
                await batch(target, token, 300)
                times = [await batch(target, token, args.requests // 9) for _ in range(9)]
                print(f"{name}: {statistics.median(times):.0f} µs/request "
                      f"({min(times):.0f}–{max(times):.0f})")  # fmt: skip
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await batch(app, token, args.requests)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)

    asyncio.run(go())


if __name__ == "__main__":
    main()
