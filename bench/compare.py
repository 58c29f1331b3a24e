"""Read benchmark of several source trees side by side, against the ceiling, interleaved.

    python -m bench.compare --tree before=/tmp/rh-before --tree head=. [--rounds 3] [--seconds 5]

Each tree seeds its own SQLite database with its own code (the schema may differ between
commits) and serves it from its own process; the ceiling reads the first tree's database.
Ratios to the ceiling are taken within each round, then the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import servers
from bench.load import Run, wrk
from bench.run import READ_PATH, median_run, wait_for_key_pool

SEED = (
    "import sys; from runnerhub.storage import migrate; "
    "from runnerhub.storage.database import Database; from bench.seed import seed_org; "
    "db = Database('sqlite:///' + sys.argv[1]); migrate.upgrade(db); "
    "print(seed_org(db, 'acme', 30)); db.dispose()"
)


def tree_env(tree: Path) -> dict[str, str]:
    return {"PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--tree", action="append", required=True, help="name=path[,SETTING=value...]"
    )
    parser.add_argument(
        "--wait-key-pool", action="store_true", help="measure once each server's pool is full"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="runnerhub-compare-"))
    trees = []
    for spec in args.tree:
        name, _, rest = spec.partition("=")
        path, *settings = rest.split(",")
        trees.append((name, Path(path).resolve(), dict(s.split("=", 1) for s in settings)))
    started: list[tuple[servers.Server, str]] = []
    try:
        for name, tree, settings in trees:
            db = work / f"{name}.db"
            token = subprocess.run(
                [sys.executable, "-c", SEED, str(db)],
                env={**os.environ, **tree_env(tree)}, cwd=tree,
                capture_output=True, text=True, check=True,
            ).stdout.strip().splitlines()[-1]  # fmt: skip
            env = {
                **tree_env(tree),
                "RUNNERHUB_DATABASE_URL": f"sqlite:///{db}",
                "RUNNERHUB_RATE_LIMIT_PER_HOUR": "1000000000",
                **settings,
            }
            command = [sys.executable, "-m", "runnerhub.cli.main", "serve", "--port", "{port}"]
            server = servers.start(name, command, env, "/meta", work / f"{name}.log")
            server.name = name
            started.append((server, token))
        if args.wait_key_pool:
            for name, _, settings in trees:
                if settings.get("RUNNERHUB_RUNNER_KEY_POOL_SIZE") != "0":
                    wait_for_key_pool(work / f"{name}.log", fills=1)
        ceiling = servers.ceiling(work / f"{trees[0][0]}.db", work / "ceiling.log")
        started.append((ceiling, started[0][1]))
        runs: dict[str, list[Run]] = {s.name: [] for s, _ in started}
        for _ in range(args.rounds):
            for server, token in started:
                wrk(server.url, READ_PATH, token, seconds=2)  # warm-up, discarded
                runs[server.name].append(wrk(server.url, READ_PATH, token, seconds=args.seconds))
    finally:
        for server, _ in started:
            server.stop()
    print(f"read {READ_PATH}: median of {args.rounds} interleaved rounds of {args.seconds} s")
    print("| server | req/s (min–max) | p50 ms | p99 ms | req/s ÷ ceiling | p99 ÷ ceiling |")
    print("|---|---|---|---|---|---|")
    for name, rs in runs.items():
        m = median_run(rs)
        ratio = statistics.median(a.rps / c.rps for a, c in zip(rs, runs["ceiling"], strict=True))
        tail = statistics.median(
            a.p99_ms / c.p99_ms for a, c in zip(rs, runs["ceiling"], strict=True)
        )
        print(
            f"| {name} | {m['rps']:.0f} ({m['rps_min']:.0f}–{m['rps_max']:.0f}) | "
            f"{m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {ratio:.2f} | {tail:.2f} |"
        )
        for r in rs:
            print(
                f"|   round | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | non2xx {r.non2xx} |"
            )


if __name__ == "__main__":
    main()
