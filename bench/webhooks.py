"""Webhook latency: from a state change's commit to the delivery at a fast local receiver.

A `runnerhub serve` (SQLite by default, `--database-url` for PostgreSQL) with one repository
hook (JSON, with a secret) pointing at a threaded receiver on loopback. Each round dispatches
a workflow (`workflow_dispatch`): the run is `requested` and its job `queued` in that commit.
Latency is measured from the moment the dispatch answered (the commit is before it) to the
arrival of each event, and, as an upper bound, from the moment the request was sent.
Prints a table and writes JSON; asserts nothing.

    python -m bench.webhooks --rounds 200 --out bench/results/webhooks.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bench import load, seed, servers
from runnerhub import testing

WORKFLOW = """name: bench
on: workflow_dispatch
jobs:
  noop:
    runs-on: [self-hosted, nowhere]
    steps:
      - run: "true"
"""


MATRIX = """name: matrix
on: workflow_dispatch
jobs:
  noop:
    runs-on: [self-hosted, nowhere]
    strategy:
      matrix:
        n: [NUMBERS]
    steps:
      - run: "true"
""".replace("NUMBERS", ", ".join(str(i) for i in range(100)))


class Arrivals:
    """The receiver: when each (event, action, run id) arrived. `fast`: an aiohttp server on
    an event loop of its own (about 0.1 ms a request), as an autoscaler's endpoint is;
    otherwise the standard library's threaded server (about 0.3 ms), which bounds what one
    hook's in-order deliveries can reach."""

    def __init__(self, *, fast: bool = True) -> None:
        self.seen: dict[tuple[str, str, int], float] = {}
        self.count, self.last = 0, 0.0
        self.lock = threading.Lock()
        self.port = testing.free_port()
        self._stop: Any = None
        (self._serve_fast if fast else self._serve_threaded)()

    def record(self, event: str, body: bytes, now: float) -> None:
        payload = json.loads(body)
        run = payload.get("workflow_run") or payload.get("workflow_job") or {}
        key = (event, payload.get("action", ""), int(run.get("run_id", run.get("id", 0))))
        with self.lock:
            self.seen.setdefault(key, now)
            self.count += 1
            self.last = now

    def _serve_fast(self) -> None:
        ready = threading.Event()

        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            self.record(request.headers["X-GitHub-Event"], body, time.perf_counter())
            return web.Response(status=200)

        async def serve() -> None:
            app = web.Application(client_max_size=32 * 1024 * 1024)
            app.router.add_post("/hook", hook)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            stopped = asyncio.Event()
            self._stop = (asyncio.get_running_loop(), stopped)
            ready.set()
            await stopped.wait()
            await runner.cleanup()

        threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
        ready.wait(10)

    def _serve_threaded(self) -> None:
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint behind a proxy

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                now = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                arrivals.record(self.headers["X-GitHub-Event"], body, now)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._stop = server

    def arrived(self) -> tuple[int, float]:
        """How many have arrived, and when the last did."""
        with self.lock:
            return self.count, self.last

    def shutdown(self) -> None:
        if isinstance(self._stop, ThreadingHTTPServer):
            self._stop.shutdown()
        elif self._stop is not None:
            loop, stopped = self._stop
            loop.call_soon_threadsafe(stopped.set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait(self, key: tuple[str, str, int], timeout: float = 10) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if key in self.seen:
                    return self.seen[key]
            time.sleep(0.0005)
        raise TimeoutError(f"no {key} within {timeout} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(
    rounds: int, workdir: Path, database_url: str | None, bursts: int, backlog: int = 0,
    read_seconds: int = 0, fast: bool = True, beside: tuple[int, int, int, str] = (0, 0, 0, ""),
) -> dict[str, Any]:  # fmt: skip
    """`beside`: (rounds, backlog, seconds, the worker's core) of the read against the ceiling while a backlog
    drains (_beside_ceiling); no rounds, none."""
    arrivals = Arrivals(fast=fast)
    settings = {"testing": "true", "rate_limit_per_hour": "1000000"}
    if database_url:
        server = testing.start_server(database_url, workdir, **settings)
        hub = testing.Runnerhub(server, testing.Database(testing.normalize_database_url(
            database_url)), workdir)  # fmt: skip
    else:
        hub = testing.start(workdir, rate_limit_per_hour="1000000")
    try:
        site = hub.seed()
        hub.put_workflow(site, "bench.yml", WORKFLOW)
        hub.put_workflow(site, "matrix.yml", MATRIX)
        with site.api() as api:
            hook = {"name": "web", "events": ["workflow_run", "workflow_job"],
                    "config": {"url": arrivals.url, "content_type": "json", "secret": "s"}}  # fmt: skip
            api.post(f"/repos/{site.repo}/hooks", json=hook).raise_for_status()
            results = _rounds(api, site.repo, arrivals, rounds)
            if bursts:
                results["sustained"] = _sustained(api, site.repo, arrivals, bursts)
        if backlog:
            results["drain"] = _drain(hub, site, arrivals, database_url, workdir, backlog,
                                      read_seconds)  # fmt: skip
        if beside[0]:
            rounds_, matrices, seconds, cpu = beside
            results["beside_ceiling"] = _beside_ceiling(hub, site, arrivals, workdir, matrices,
                                                        seconds, rounds_, cpu)  # fmt: skip
        return results
    finally:
        hub.stop()
        arrivals.shutdown()


def _drain(
    hub: testing.Runnerhub, site: testing.Site, arrivals: Arrivals, database_url: str | None,
    workdir: Path, backlog: int, read_seconds: int,
) -> dict[str, Any]:  # fmt: skip
    """The deliverer's own rate, whatever making the events costs: a backlog of `backlog`
    100-job matrices (101 events each) is queued while delivery is off, then a server that
    delivers is started; events per second from its first delivery to its last. Then the
    read endpoint (an organization's 30 runners) with wrk, while a second such backlog is
    being delivered and once it is gone, on that one server, side by side."""
    url = database_url or f"sqlite:///{workdir / 'runnerhub.db'}"
    hub.server.stop()
    token = seed.seed_org(hub.db, "reads", 30)
    read = "/orgs/reads/actions/runners?per_page=30"

    def serve() -> None:
        hub.server = testing.start_server(url, workdir, webhook_delivery="true",
                                          rate_limit_per_hour="1000000000",
                                          runner_key_pool_size="0")  # fmt: skip

    wanted = _queue(hub, site, arrivals, url, workdir, backlog)
    first = arrivals.arrived()[0] + 1
    serve()
    _wait_for(arrivals, first)
    count, started = arrivals.arrived()
    _wait_for(arrivals, wanted)
    got, last = arrivals.arrived()
    result: dict[str, Any] = {
        "events": got - count, "seconds": round(last - started, 3),
        "events_per_second": round((got - count) / (last - started), 1),
    }  # fmt: skip
    hub.server.stop()
    if read_seconds:
        wanted = _queue(hub, site, arrivals, url, workdir, backlog)
        serve()
        _wait_for(arrivals, arrivals.arrived()[0] + 1)
        count, began = arrivals.arrived()
        during = load.wrk(hub.url, read, token, seconds=read_seconds)
        delivered, ended = arrivals.arrived()
        left = wanted - delivered
        _wait_for(arrivals, wanted)
        after = load.wrk(hub.url, read, token, seconds=read_seconds)
        result.update({
            "read_during": asdict(during), "read_after": asdict(after),
            "read_rps_during/after": round(during.rps / after.rps, 2),
            "read_p99_during/after": round(during.p99_ms / after.p99_ms, 2),
            "events_per_second_during_read": round((delivered - count) / (ended - began), 1),
            "backlog_left_when_read_ended": left,
        })  # fmt: skip
    return result


def _beside_ceiling(
    hub: testing.Runnerhub, site: testing.Site, arrivals: Arrivals, workdir: Path,
    backlog: int, seconds: int, rounds: int, worker_cpu: str = servers.LOAD_CPU,
) -> dict[str, Any]:  # fmt: skip
    """The read endpoint against the ceiling (#8's comparison: bench/ceiling.py on the same
    database) while the webhook worker delivers to one hook at full speed, in interleaved
    rounds. Each round: the ceiling alone; then a backlog of `backlog` 100-job matrices is
    queued with delivery off, a server that delivers is started, and wrk reads while the
    backlog drains (the drain must outlast the read: `backlog_left` says by how much); then,
    the backlog gone, wrk reads that server alone. Both servers are pinned to one core as in
    bench/run.py; the receiver and wrk share the other, and the webhook worker runs on
    `worker_cpu` (the other core by default; the server's own: one core for all of
    runnerhub)."""
    sqlite_path = workdir / "runnerhub.db"
    url = f"sqlite:///{sqlite_path}"
    hub.server.stop()
    token = seed.seed_org(hub.db, "beside", 30)  # an organization of its own: not _drain's
    read = "/orgs/beside/actions/runners?per_page=30"
    os.sched_setaffinity(0, {int(servers.LOAD_CPU)})  # the receiver's thread
    ceiling = servers.ceiling(sqlite_path, workdir / "ceiling.log")
    runs: dict[str, list[load.Run]] = {"ceiling": [], "during": [], "alone": []}
    drains: list[dict[str, float]] = []
    try:
        for round_ in range(rounds):
            load.wrk(ceiling.url, read, token, seconds=2)  # warm-up, discarded
            runs["ceiling"].append(load.wrk(ceiling.url, read, token, seconds=seconds))
            wanted = _queue(hub, site, arrivals, url, workdir, backlog)
            server = servers.runnerhub(url, workdir / f"beside-{round_}.log",
                                       webhook_delivery="true", runner_key_pool_size="0")  # fmt: skip
            try:
                worker = _worker_of(server.pid)
                os.sched_setaffinity(worker, {int(worker_cpu)})
                _wait_for(arrivals, arrivals.arrived()[0] + 1)
                load.wrk(server.url, read, token, seconds=1)  # warm-up, discarded
                (count, began), cpu = arrivals.arrived(), _cpu_seconds(worker)
                runs["during"].append(load.wrk(server.url, read, token, seconds=seconds))
                (delivered, ended), used = arrivals.arrived(), _cpu_seconds(worker) - cpu
                _wait_for(arrivals, wanted)
                load.wrk(server.url, read, token, seconds=2)  # warm-up, discarded
                runs["alone"].append(load.wrk(server.url, read, token, seconds=seconds))
            finally:
                server.stop()
            drains.append({
                "events_per_second": round((delivered - count) / (ended - began), 1),
                "backlog_left": wanted - delivered,
                "worker_cpu_ms_per_event": round(used * 1000 / max(1, delivered - count), 3),
            })  # fmt: skip
    finally:
        ceiling.stop()
    result: dict[str, Any] = {name: _median(r) for name, r in runs.items()}
    for name in ("during", "alone"):
        result[f"{name}/ceiling"] = _ratio(runs[name], runs["ceiling"], "rps")
        result[f"{name}_p99/ceiling_p99"] = _ratio(runs[name], runs["ceiling"], "p99_ms")
    result["drains"] = drains
    result["events_per_second"] = float(statistics.median(d["events_per_second"] for d in drains))
    return result


def _queue(hub: testing.Runnerhub, site: testing.Site, arrivals: Arrivals, url: str,
           workdir: Path, backlog: int) -> int:  # fmt: skip
    """`backlog` matrices dispatched through a server that does not deliver: the arrival
    count once all their events are delivered."""
    hub.server = testing.start_server(url, workdir, webhook_delivery="false",
                                      rate_limit_per_hour="1000000000",
                                      runner_key_pool_size="0")  # fmt: skip
    try:
        with site.api() as api:
            for _ in range(backlog):
                api.post(f"/repos/{site.repo}/actions/workflows/matrix.yml/dispatches",
                         json={"ref": "main"}).raise_for_status()  # fmt: skip
    finally:
        hub.server.stop()
    return arrivals.arrived()[0] + backlog * 101


def _wait_for(arrivals: Arrivals, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while arrivals.arrived()[0] < count and time.monotonic() < deadline:
        time.sleep(0.005)


def _worker_of(server_pid: int, timeout: float = 30) -> int:
    """The pid of the server's webhook worker (its one child process), once it has started."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = children.read_text().split()
        if pids:
            return int(pids[0])
        time.sleep(0.05)
    raise RuntimeError("the webhook worker did not start")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _median(runs: list[load.Run]) -> dict[str, float]:
    return {key: round(statistics.median(getattr(r, key) for r in runs), 2)
            for key in ("rps", "p50_ms", "p99_ms")}  # fmt: skip


def _ratio(a: list[load.Run], b: list[load.Run], key: str) -> float:
    """The median of the rounds' ratios (each round's taken side by side)."""
    return round(statistics.median(getattr(x, key) / getattr(y, key)
                                   for x, y in zip(a, b, strict=True)), 2)  # fmt: skip


def _rounds(api: httpx.Client, repo: str, arrivals: Arrivals, rounds: int) -> dict[str, Any]:
    after: dict[str, list[float]] = {"workflow_run requested": [], "workflow_job queued": []}
    bound: dict[str, list[float]] = {key: [] for key in after}
    path = f"/repos/{repo}/actions/workflows/bench.yml/dispatches"
    # A round first, not counted: the webhook worker may still be starting when the server
    # answers its first request.
    answer = api.post(path, json={"ref": "main", "return_run_details": True})
    warm = _run_id(api, repo, answer)
    arrivals.wait(("workflow_job", "queued", warm), timeout=60)
    for _ in range(rounds):
        sent = time.perf_counter()
        answer = api.post(path, json={"ref": "main", "return_run_details": True})
        answered = time.perf_counter()
        answer.raise_for_status()
        run_id = _run_id(api, repo, answer)
        for name in after:
            event, action = name.split()
            arrived = arrivals.wait((event, action, run_id))
            after[name].append(max(0.0, arrived - answered) * 1000)
            bound[name].append((arrived - sent) * 1000)
    return {name: _summary(after[name], bound[name]) for name in after}


def _sustained(api: httpx.Client, repo: str, arrivals: Arrivals, bursts: int) -> dict[str, Any]:
    """`bursts` dispatches of a 100-job matrix, as fast as they answer: 101 events each, all
    to the one hook (so in order, one at a time); events per second from the first dispatch
    to the last arrival."""
    path = f"/repos/{repo}/actions/workflows/matrix.yml/dispatches"
    with arrivals.lock:
        before = arrivals.count
    wanted = before + bursts * 101
    started = time.perf_counter()
    for _ in range(bursts):
        api.post(path, json={"ref": "main"}).raise_for_status()
    dispatched = time.perf_counter()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with arrivals.lock:
            if arrivals.count >= wanted:
                break
        time.sleep(0.01)
    with arrivals.lock:
        got, last = arrivals.count - before, arrivals.last
    seconds = last - started
    return {"events": got, "seconds": round(seconds, 3),
            "events_per_second": round(got / seconds, 1),
            "dispatch_seconds": round(dispatched - started, 3)}  # fmt: skip


def _run_id(api: httpx.Client, repo: str, answer: httpx.Response) -> int:
    if answer.status_code == 200 and answer.content:
        return int(answer.json()["workflow_run_id"])
    runs = api.get(f"/repos/{repo}/actions/runs", params={"per_page": 1}).json()
    return int(runs["workflow_runs"][0]["id"])


def _summary(after: list[float], bound: list[float]) -> dict[str, float]:
    return {
        "count": len(after),
        "p50_ms": round(statistics.median(after), 2),
        "p99_ms": round(percentile(after, 99), 2),
        "max_ms": round(max(after), 2),
        "p50_from_request_ms": round(statistics.median(bound), 2),
        "p99_from_request_ms": round(percentile(bound, 99), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="PostgreSQL; SQLite by default")
    parser.add_argument("--bursts", type=int, default=10, help="100-job matrices, 0: none")
    parser.add_argument("--backlog", type=int, default=50,
                        help="100-job matrices queued while delivery is off, then drained; 0: none")
    parser.add_argument("--read-seconds", type=int, default=5,
                        help="wrk on the read endpoint during the drain and after it; 0: none")
    parser.add_argument("--threaded-receiver", action="store_true",
                        help="the standard library's threaded receiver, not aiohttp's")
    parser.add_argument("--beside-ceiling", type=int, default=0, metavar="ROUNDS",
                        help="rounds of the read against the ceiling while a backlog drains")
    parser.add_argument("--beside-backlog", type=int, default=250,
                        help="100-job matrices queued for each of those rounds")
    parser.add_argument("--beside-seconds", type=int, default=8, help="wrk's run in them")
    parser.add_argument("--worker-on-server-core", action="store_true",
                        help="in those rounds, the webhook worker shares the server's core")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        results = measure(args.rounds, Path(directory), args.database_url, args.bursts,
                          args.backlog, args.read_seconds, fast=not args.threaded_receiver,
                          beside=(args.beside_ceiling, args.beside_backlog,
                                  args.beside_seconds,
                                  servers.SERVER_CPU if args.worker_on_server_core
                                  else servers.LOAD_CPU))  # fmt: skip
    sustained = results.pop("sustained", None)
    drain = results.pop("drain", None)
    beside = results.pop("beside_ceiling", None)
    print("| event | n | p50 ms | p99 ms | max ms | p50 from request | p99 from request |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['count']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} "
              f"| {row['p50_from_request_ms']} | {row['p99_from_request_ms']} |")  # fmt: skip
    if sustained:
        print(f"\nsustained: {sustained['events']} events in {sustained['seconds']} s = "
              f"{sustained['events_per_second']} events/s to one hook "
              f"(dispatches took {sustained['dispatch_seconds']} s)")  # fmt: skip
        results["sustained"] = sustained
    if drain:
        print(f"drain: a backlog of {drain['events']} events delivered in {drain['seconds']} s "
              f"= {drain['events_per_second']} events/s to one hook")
        if "read_during" in drain:
            print("\n| read `GET /orgs/{org}/actions/runners` | req/s | p50 ms | p99 ms |")
            print("|---|---|---|---|")
            for name in ("read_during", "read_after"):
                row = drain[name]
                print(f"| {name.removeprefix('read_')} the drain | {row['rps']:.0f} "
                      f"| {row['p50_ms']:.1f} | {row['p99_ms']:.1f} |")
            print(f"(deliveries meanwhile: {drain['events_per_second_during_read']} events/s; "
                  f"{drain['backlog_left_when_read_ended']} were left when the read ended)")
        results["drain"] = drain
    if beside:
        print(f"\n| read, {args.beside_ceiling} interleaved rounds (medians) | req/s | p50 ms "
              "| p99 ms | req/s / ceiling | p99 / ceiling |")
        print("|---|---|---|---|---|---|")
        for name, label in (("ceiling", "ceiling"), ("alone", "runnerhub"),
                            ("during", "runnerhub, delivering")):  # fmt: skip
            row = beside[name]
            ratios = ("1", "1") if name == "ceiling" else (
                beside[f"{name}/ceiling"], beside[f"{name}_p99/ceiling_p99"])  # fmt: skip
            print(f"| {label} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
                  f"| {ratios[0]} | {ratios[1]} |")
        print("(deliveries during the read: " + ", ".join(
            f"{d['events_per_second']} events/s, {d['backlog_left']} left, "
            f"{d['worker_cpu_ms_per_event']} ms worker CPU per event" for d in beside["drains"])
            + ")")  # fmt: skip
        results["beside_ceiling"] = beside
    if args.out:
        database = "postgresql" if args.database_url else "sqlite"
        receiver = "threaded" if args.threaded_receiver else "aiohttp"
        worker = "server's core" if args.worker_on_server_core else "load core"
        args.out.write_text(json.dumps({"database": database, "receiver": receiver,
                                        "worker_core_beside_ceiling": worker,
                                        "results": results}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
