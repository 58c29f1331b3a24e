"""Several instances on one PostgreSQL behind HAProxy: what a second instance buys, and how
fast a change through one instance reaches an agent held by another.

One run starts, on one database, one instance behind its own HAProxy and two instances
behind another (runnerhub.balancer), and measures both side by side, rounds interleaved:

- the hot read, `GET /orgs/{org}/actions/runners?per_page=30` (30 runners, 4 labels each),
  with wrk on the load core through each balancer, and straight at the one instance (what
  HAProxy costs);
- dispatch -> started: `POST .../dispatches` of a one-job workflow through the balancer until
  a pending long poll of one of 10 idle simulated agents (bench/jobs.py) answers with the job;
  with two instances the poll and the dispatch land wherever round robin puts them;

then, on the two instances, straight at them (no balancer): a simulated agent's poll held by
instance A, its runner's labels replaced through instance B, timed from B's answer (the
change committed) and from the request, to A's answer of the poll.

The instances are not pinned (two instances on one core would measure nothing); wrk and the
agents run on the load core. PostgreSQL, the instances and HAProxy share the machine: compare
within one run. Prints a table and writes JSON; asserts nothing.

    bash scripts/with-postgres bash -c \\
        'python -m bench.instances --database-url "$RUNNERHUB_PG_URL" --out bench/results/x.json'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import agents, jobs
from bench.jobs import Worker, quantile
from bench.load import wrk
from bench.seed import seed_org
from runnerhub.balancer import Instances, start_instances
from runnerhub.settings import normalize_database_url
from runnerhub.storage.database import Database

SERVER = {**jobs.SERVER, "rate_limit_per_hour": "100000000"}


def read(url: str, path: str, token: str, seconds: int) -> dict[str, float]:
    wrk(url, path, token, seconds=1)  # warm-up, discarded
    run = wrk(url, path, token, seconds=seconds)
    return {"rps": run.rps, "p50_ms": run.p50_ms, "p99_ms": run.p99_ms,
            "non2xx": run.non2xx, "errors": run.errors}  # fmt: skip


def latency(db: Database, instances: Instances, org: str, count: int) -> dict[str, Any]:
    """Dispatch -> started through the balancer, as bench/jobs.py's `bench_latency`."""
    token, _ = jobs.seed_repo(db, org, "latency")
    full_name = f"{org}/latency"
    jobs.put_workflow(instances.url, token, full_name, "noop.yml", jobs.NOOP)
    registration = jobs.registration_token(instances.url, token, org)

    drive = jobs.dispatch_latency(instances.url, token, org, full_name, registration, 10, count)
    return jobs.on_load_core(drive)  # type: ignore[no-any-return]


def long_polls(url: str) -> int:
    found = re.search(r"^runnerhub_long_polls (\S+)$", httpx.get(f"{url}/metrics").text, re.M)
    return int(float(found.group(1))) if found else 0


def wakeups(db: Database, instances: Instances, org: str, count: int) -> dict[str, Any]:
    """A poll held by instance A, the runner's labels replaced through instance B."""
    token = seed_org(db, org, 0)
    holder, changer = (server.url for server in instances.servers[:2])
    registration = jobs.registration_token(holder, token, org)
    headers = {"Authorization": f"Bearer {token}", **jobs.JSON_HEADERS}

    async def drive() -> dict[str, Any]:
        fleet = await jobs.fleet_up(holder, org, registration, 1)
        (authorization,) = fleet.credentials  # type: ignore[attr-defined]
        worker = Worker(fleet)
        conn = agents.Connection(holder)
        bearer = await worker._session_token(conn, authorization)
        status, answer = await conn.request("POST", "/_apis/runner/sessions", bearer)
        assert status == 201, answer
        session = json.loads(answer)["sessionId"]
        async with httpx.AsyncClient(base_url=changer, headers=headers, timeout=30) as api:
            runner_id = (await api.get(f"/orgs/{org}/actions/runners")).json()["runners"][0]["id"]
            from_commit: list[float] = []
            from_request: list[float] = []
            missed = 0
            poll_path = f"/_apis/runner/messages?sessionId={session}"
            for n in range(count):
                poll = asyncio.create_task(conn.request("GET", poll_path, bearer))
                deadline = time.monotonic() + 5
                while await asyncio.to_thread(long_polls, holder) < 1:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the poll was not held")
                    await asyncio.sleep(0.01)
                sent = time.perf_counter()
                changed = await api.put(
                    f"/orgs/{org}/actions/runners/{runner_id}/labels",
                    json={"labels": [f"wake-{n % 2}"]},
                )
                committed = time.perf_counter()
                assert changed.status_code == 200, changed.text
                try:
                    await asyncio.wait_for(asyncio.shield(poll), 5)
                except TimeoutError:
                    missed += 1
                    await poll
                    continue
                woken = time.perf_counter()
                from_commit.append((woken - committed) * 1000)
                from_request.append((woken - sent) * 1000)
        conn.close()
        return {
            "wakeups": len(from_commit), "missed (over 5 s)": missed,
            "p50_ms": quantile(from_commit, 50), "p99_ms": quantile(from_commit, 99),
            "max_ms": max(from_commit, default=float("nan")),
            "p50_from_request_ms": quantile(from_request, 50),
            "p99_from_request_ms": quantile(from_request, 99),
        }  # fmt: skip

    return jobs.on_load_core(drive())  # type: ignore[no-any-return]


def measure(url: str, workdir: Path, rounds: int, seconds: int, dispatches: int, wakes: int,
            ) -> dict[str, Any]:  # fmt: skip
    db = Database(normalize_database_url(url))
    sets = {
        "one": start_instances(url, workdir / "one", 1, **SERVER),
        "two": start_instances(url, workdir / "two", 2, **SERVER),
    }
    try:
        token = seed_org(db, "read", 30)
        path = "/orgs/read/actions/runners?per_page=30"
        # "direct": the one instance without HAProxy in front, for what the balancer costs.
        targets = {"direct": sets["one"].servers[0].url, "one": sets["one"].url,
                   "two": sets["two"].url}  # fmt: skip
        reads: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for n in range(rounds):
            order = list(targets) if n % 2 == 0 else list(reversed(targets))
            for name in order:
                print(f"read, round {n + 1}: {name} ...", flush=True)
                reads[name].append(read(targets[name], path, token, seconds))
        result: dict[str, Any] = {"read": {}, "latency": {}}
        for name, runs in reads.items():
            result["read"][name] = {
                key: statistics.median(run[key] for run in runs) for key in runs[0]
            }
            result["read"][name]["rps_min"] = min(run["rps"] for run in runs)
            result["read"][name]["rps_max"] = max(run["rps"] for run in runs)
        result["read"]["two/one"] = statistics.median(
            t["rps"] / o["rps"] for t, o in zip(reads["two"], reads["one"], strict=True)
        )
        for name, instances in sets.items():
            print(f"dispatch -> started: {name} instance(s) ...", flush=True)
            result["latency"][name] = latency(db, instances, f"lat-{name}", dispatches)
        print("wake-ups across instances ...", flush=True)
        result["wakeups"] = wakeups(db, sets["two"], "wake", wakes)
    finally:
        for instances in sets.values():
            instances.stop()
        db.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--dispatches", type=int, default=200)
    parser.add_argument("--wakes", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        result = measure(args.database_url, Path(directory), args.rounds, args.seconds,
                         args.dispatches, args.wakes)  # fmt: skip
    read_rows, lat = result["read"], result["latency"]
    print("\n| | one instance | two instances |\n|---|---|---|")
    print(f"| read req/s (min–max) | {read_rows['one']['rps']:.0f} "
          f"({read_rows['one']['rps_min']:.0f}–{read_rows['one']['rps_max']:.0f}) | "
          f"{read_rows['two']['rps']:.0f} "
          f"({read_rows['two']['rps_min']:.0f}–{read_rows['two']['rps_max']:.0f}) |")  # fmt: skip
    for key in ("p50_ms", "p99_ms"):
        print(f"| read {key} | {read_rows['one'][key]:.1f} | {read_rows['two'][key]:.1f} |")
    print(f"| read non-2xx, errors | {read_rows['one']['non2xx']:.0f}, "
          f"{read_rows['one']['errors']:.0f} | {read_rows['two']['non2xx']:.0f}, "
          f"{read_rows['two']['errors']:.0f} |")  # fmt: skip
    for key in ("p50_ms", "p99_ms", "max_ms"):
        print(f"| dispatch -> started {key} | {lat['one'][key]:.1f} | {lat['two'][key]:.1f} |")
    print(f"| dispatches started | {lat['one']['started']}/{lat['one']['dispatches']} | "
          f"{lat['two']['started']}/{lat['two']['dispatches']} |")  # fmt: skip
    print(f"| failures | {lat['one']['failures']} | {lat['two']['failures']} |")
    direct = read_rows["direct"]
    print(f"\none instance without HAProxy: {direct['rps']:.0f} req/s "
          f"({direct['rps_min']:.0f}–{direct['rps_max']:.0f}), p50 {direct['p50_ms']:.1f} ms, "
          f"p99 {direct['p99_ms']:.1f} ms")  # fmt: skip
    print(f"two/one read = {read_rows['two/one']:.2f}")
    wake = result["wakeups"]
    print(f"wake-up across instances ({wake['wakeups']}, {wake['missed (over 5 s)']} missed): "
          f"p50 {wake['p50_ms']:.1f} ms, p99 {wake['p99_ms']:.1f} ms, max {wake['max_ms']:.1f} "
          f"ms from the change's answer; p50/p99 {wake['p50_from_request_ms']:.1f}/"
          f"{wake['p99_from_request_ms']:.1f} ms from its request")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"database": "postgresql", "results": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
