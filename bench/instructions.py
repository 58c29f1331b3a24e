"""Instructions per read request, counted by valgrind: a measure the machine's other load
does not move (repeatable to about 0.01 %), for comparing two trees when CPU times spread.

    PYTHONPATH=<tree>/src:<tree> python -m bench.instructions [--requests 300]

Runs the in-process read (bench/inproc.py) under `valgrind --tool=cachegrind` twice, with
100 and 100 + N requests after the same warm-up, and prints the difference divided by N: the
start, the seeding and the warm-up cancel out. The app runs without its lifespan (no RSA key
pool or sweeper working beside the requests), and with a fixed hash seed. Takes a few
minutes: valgrind runs Python about 50 times slower.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys

BASE = 100


def _requests(n: int) -> None:
    from bench.inproc import batch, seeded_app

    app, token = seeded_app("runnerhub-instructions-")

    async def go() -> None:
        await batch(app, token, 200)
        gc.collect()
        await batch(app, token, n)

    asyncio.run(go())


def _count(n: int) -> int:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "bench.instructions", "--inner", str(n),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    assert found is not None, done.stderr[-2000:]
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:
        _requests(args.inner)
        return
    per_request = (_count(BASE + args.requests) - _count(BASE)) / args.requests
    print(f"runnerhub: {per_request / 1000:.0f} k instructions/request")


if __name__ == "__main__":
    main()
