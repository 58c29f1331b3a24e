"""Job benchmarks: dispatch-to-start latency, no-op job throughput, and the runs list at scale.

Simulated agents (bench/agents.py: registration, key-signed access tokens, sessions) take
jobs over the real protocol (docs/runner-protocol.md sections 4 and 6): the job is the
answer to a pending long poll, then `start`, then `complete` with `success`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
from sqlalchemy import func, select

from bench import agents, servers
from bench.load import Run, wrk
from bench.seed import seed_org
from runnerhub.domain import accounts as account_rules
from runnerhub.storage import accounts as account_rows
from runnerhub.storage.database import Database
from runnerhub.storage.tables import commits, jobs, runners, workflow_runs, workflows

NOOP = """name: noop
on: workflow_dispatch
jobs:
  noop:
    runs-on: self-hosted
    steps:
      - run: "true"
"""
MATRIX_SIZE = 100
MATRIX = f"""name: matrix
on: workflow_dispatch
jobs:
  noop:
    runs-on: self-hosted
    strategy:
      matrix:
        n: {json.dumps(list(range(MATRIX_SIZE)))}
    steps:
      - run: "true"
"""
RUN_SCALES = (100, 100_000)
WINDOW = 20  # liveness window for these servers: polls are held 10 s, so agents stop fast
# No JIT configs here, so no key pool: its startup fill (256 RSA keys, about 10 s of CPU in a
# thread that holds the GIL for tens of ms per key) took half the server's core otherwise.
SERVER = {"offline_after_seconds": str(WINDOW), "runner_key_pool_size": "0"}
COMPLETE = json.dumps({"conclusion": "success", "outputs": {}, "steps": []}).encode()
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/vnd.github+json"}


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# -- setup


def seed_repo(db: Database, org: str, repo: str) -> tuple[str, int]:
    """An organization with no runners and one repository; the org admin's token."""
    token = seed_org(db, org, 0)
    now = datetime.now(UTC)
    repo_id = db.transact(
        lambda uow: account_rules.create_repo(uow, f"{org}/{repo}", now, admin=f"{org}-admin")
    )
    return token, repo_id


def put_workflow(url: str, token: str, full_name: str, name: str, text: str) -> None:
    body = {"message": f"Add {name}", "content": base64.b64encode(text.encode()).decode()}
    answer = httpx.put(
        f"{url}/repos/{full_name}/contents/.github/workflows/{name}",
        headers={"Authorization": f"Bearer {token}", **JSON_HEADERS},
        json=body,
        timeout=30,
    )
    answer.raise_for_status()


def registration_token(url: str, token: str, org: str) -> str:
    answer = httpx.post(
        f"{url}/orgs/{org}/actions/runners/registration-token",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["token"])


# -- simulated agents that run jobs


class Worker:
    """The agents of one benchmark: each holds a session and takes jobs until stopped."""

    def __init__(self, fleet: agents.Fleet) -> None:
        self.fleet = fleet
        self.stopping = False
        self.delivered: Counter[int] = Counter()  # RunnerJobRequest answers per job id
        self.started: Counter[int] = Counter()  # successful `start` per job id
        self.completed: Counter[int] = Counter()
        self.by_runner: dict[int, set[int]] = {}
        self.failures: Counter[str] = Counter()
        self.ready = 0
        self.last_done = 0.0
        self.on_delivered: Callable[[int, float], None] = lambda job_id, moment: None
        self.on_done: Callable[[int, float], None] = lambda job_id, moment: None

    async def agent(self, index: int, authorization: dict[str, str]) -> None:
        conn = agents.Connection(authorization["server_url"])
        try:
            bearer = await self._session_token(conn, authorization)
            status, answer = await conn.request("POST", "/_apis/runner/sessions", bearer)
            if status != 201:
                self.failures[f"session answered {status}"] += 1
                return
            session = json.loads(answer)["sessionId"]
            self.ready += 1
            posting = {**bearer, "Content-Type": "application/json"}
            while not self.stopping:
                status, answer = await conn.request(
                    "GET", f"/_apis/runner/messages?sessionId={session}", bearer
                )
                moment = time.perf_counter()
                if status == 202:
                    continue
                if status != 200:
                    self.failures[f"poll answered {status}"] += 1
                    return
                message = json.loads(answer)
                if message.get("messageType") != "RunnerJobRequest":
                    self.failures[f"message {message.get('messageType')}"] += 1
                    continue
                job_id = int(message["body"]["jobId"])
                self.delivered[job_id] += 1
                self.by_runner.setdefault(index, set()).add(job_id)
                self.on_delivered(job_id, moment)
                jobs_path = f"/_apis/runner/jobs/{job_id}"
                status, _ = await conn.request("POST", f"{jobs_path}/start", posting, b"{}")
                if status != 200:
                    self.failures[f"start answered {status}"] += 1
                    continue
                self.started[job_id] += 1
                status, _ = await conn.request("POST", f"{jobs_path}/complete", posting, COMPLETE)
                if status != 200:
                    self.failures[f"complete answered {status}"] += 1
                    continue
                self.completed[job_id] += 1
                self.last_done = time.perf_counter()
                self.on_done(job_id, self.last_done)
        except (OSError, KeyError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
            if not self.stopping:
                self.failures[type(error).__name__] += 1
        finally:
            conn.close()

    async def _session_token(
        self, conn: agents.Connection, authorization: dict[str, str]
    ) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "sub": authorization["client_id"], "iss": authorization["client_id"],
            "aud": authorization["authorization_url"], "iat": now, "exp": now + 600,
            "jti": str(uuid.uuid4()),
        }  # fmt: skip
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion": jwt.encode(claims, self.fleet.key, algorithm="RS256"),
                "client_assertion_type": agents.ASSERTION_TYPE,
            }
        ).encode()
        path = urlsplit(authorization["authorization_url"]).path
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, answer = await conn.request("POST", path, form, body)
        if status != 200:
            raise ValueError(f"token answered {status}")
        return {"Authorization": f"Bearer {json.loads(answer)['access_token']}"}

    async def start(self) -> list[asyncio.Task[None]]:
        credentials = self.fleet.credentials  # type: ignore[attr-defined]
        tasks = [asyncio.create_task(self.agent(i, c)) for i, c in enumerate(credentials)]
        deadline = time.monotonic() + 60
        while self.ready + sum(self.failures.values()) < len(tasks):
            if time.monotonic() > deadline:
                raise RuntimeError("the agents did not open their sessions")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # every agent's first poll is held by now
        return tasks

    async def stop(self, tasks: list[asyncio.Task[None]]) -> None:
        self.stopping = True
        _, pending = await asyncio.wait(tasks, timeout=1.0)
        for task in pending:  # held polls: dropping the connection ends them
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class Dispatcher:
    """POSTs dispatches over one keep-alive connection."""

    def __init__(self, url: str, token: str, full_name: str, workflow: str) -> None:
        self.conn = agents.Connection(url)
        self.path = f"/repos/{full_name}/actions/workflows/{workflow}/dispatches"
        self.headers = {"Authorization": f"Bearer {token}", **JSON_HEADERS}

    async def dispatch(self) -> int:
        status, _ = await self.conn.request("POST", self.path, self.headers, b'{"ref":"main"}')
        return status


async def fleet_up(url: str, org: str, registration: str, size: int) -> agents.Fleet:
    fleet = agents.Fleet(url, f"{url}/{org}", registration, size, WINDOW / 2)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(timeout=timeout) as http:
        await agents.register_all(fleet, http)
    return fleet


def on_load_core(coroutine: Any) -> Any:
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(servers.LOAD_CPU)})
    try:
        return asyncio.run(coroutine)
    finally:
        os.sched_setaffinity(0, affinity)


# -- 1. dispatch -> started


def bench_latency(
    db_url: str, db: Database, org: str, count: int, agent_count: int, log: Path
) -> dict[str, Any]:
    token, _ = seed_repo(db, org, "latency")
    full_name = f"{org}/latency"
    server = servers.runnerhub(db_url, log, **SERVER)
    try:
        put_workflow(server.url, token, full_name, "noop.yml", NOOP)
        registration = registration_token(server.url, token, org)
        drive = dispatch_latency(server.url, token, org, full_name, registration, agent_count,
                                 count)  # fmt: skip
        return {"agents": agent_count, **on_load_core(drive)}
    finally:
        server.stop()


async def dispatch_latency(
    url: str, token: str, org: str, full_name: str, registration: str, agent_count: int,
    count: int,
) -> dict[str, Any]:  # fmt: skip
    """`count` dispatches of the no-op workflow, one at a time, to `agent_count` simulated
    agents at `url`: from each dispatch's request to its job's start."""
    fleet = await fleet_up(url, org, registration, agent_count)
    worker = Worker(fleet)
    waiting: dict[str, asyncio.Future[float]] = {}

    def got(job_id: int, moment: float) -> None:
        if "start" in waiting and not waiting["start"].done():
            waiting["start"].set_result(moment)

    def done(job_id: int, moment: float) -> None:
        if "done" in waiting and not waiting["done"].done():
            waiting["done"].set_result(moment)

    worker.on_delivered, worker.on_done = got, done
    tasks = await worker.start()
    dispatcher = Dispatcher(url, token, full_name, "noop.yml")
    loop = asyncio.get_running_loop()
    latencies, dispatch_ms, bad = [], [], Counter[str]()
    try:
        for _ in range(count):
            waiting["start"], waiting["done"] = loop.create_future(), loop.create_future()
            sent = time.perf_counter()
            status = await dispatcher.dispatch()
            dispatch_ms.append((time.perf_counter() - sent) * 1000)
            if status != 204:
                bad[f"dispatch answered {status}"] += 1
                continue
            try:
                started = await asyncio.wait_for(waiting["start"], 10)
                await asyncio.wait_for(waiting["done"], 10)
            except TimeoutError:
                bad["no agent took the job within 10 s"] += 1
                continue
            latencies.append((started - sent) * 1000)
            await asyncio.sleep(0.02)  # the agent's next poll is held again
    finally:
        dispatcher.conn.close()
        await worker.stop(tasks)
    return {
        "dispatches": count,
        "started": len(latencies),
        "p50_ms": quantile(latencies, 50),
        "p99_ms": quantile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "dispatch_response_p50_ms": quantile(dispatch_ms, 50),
        "failures": sum(bad.values()) + sum(worker.failures.values()),
        "failure_kinds": {**bad, **worker.failures},
        "doubled": sum(1 for n in worker.delivered.values() if n > 1),
    }


# -- 2. throughput


def bench_throughput(
    db_url: str, db: Database, org: str, dispatches: int, agent_count: int, limit: float,
    log: Path,
) -> dict[str, Any]:  # fmt: skip
    token, repo_id = seed_repo(db, org, "many")
    full_name = f"{org}/many"
    server = servers.runnerhub(db_url, log, **SERVER)
    try:
        put_workflow(server.url, token, full_name, "matrix.yml", MATRIX)
        registration = registration_token(server.url, token, org)

        async def drive() -> dict[str, Any]:
            fleet = await fleet_up(server.url, org, registration, agent_count)
            worker = Worker(fleet)
            tasks = await worker.start()
            dispatcher = Dispatcher(server.url, token, full_name, "matrix.yml")
            expected = dispatches * MATRIX_SIZE
            finished = asyncio.Event()
            worker.on_done = lambda job_id, moment: (
                finished.set() if sum(worker.completed.values()) >= expected else None
            )
            began = time.perf_counter()
            deadline = began + limit
            sent, bad = 0, Counter[str]()
            try:
                for _ in range(dispatches):
                    if time.perf_counter() > deadline:
                        break
                    status = await dispatcher.dispatch()
                    sent += 1
                    if status != 204:
                        bad[f"dispatch answered {status}"] += 1
                dispatched = time.perf_counter()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        finished.wait(), max(0.1, deadline - time.perf_counter())
                    )
                ended = time.perf_counter()
            finally:
                dispatcher.conn.close()
                await worker.stop(tasks)
            done = sum(worker.completed.values())
            elapsed = ((worker.last_done or ended) - began) if done >= expected else ended - began
            return {
                "agents": agent_count,
                "dispatches": sent,
                "matrix": MATRIX_SIZE,
                "dispatch_s": dispatched - began,
                "elapsed_s": elapsed,
                "agent_completed": done,
                "jobs_per_s": done / elapsed if elapsed else 0.0,
                "timed_out": done < expected,
                "delivered_twice": sorted(j for j, n in worker.delivered.items() if n > 1)[:20],
                "started_twice": sorted(j for j, n in worker.started.items() if n > 1)[:20],
                "failures": sum(bad.values()) + sum(worker.failures.values()),
                "failure_kinds": {**bad, **worker.failures},
                "busiest_agent": max((len(s) for s in worker.by_runner.values()), default=0),
                "idlest_agent": min((len(s) for s in worker.by_runner.values()), default=0),
                "_started_ids": set(worker.started),
            }

        result: dict[str, Any] = on_load_core(drive())
    finally:
        server.stop()
    result.update(verify(db, repo_id, result.pop("_started_ids"), org))
    return result


def verify(db: Database, repo_id: int, started_ids: set[int], org: str) -> dict[str, Any]:
    """From the database: every job of the repository completed once, with success."""

    def check(conn: Any) -> dict[str, Any]:
        run_ids = select(workflow_runs.c.id).where(workflow_runs.c.repo_id == repo_id)
        rows = conn.execute(
            select(jobs.c.id, jobs.c.status, jobs.c.conclusion, jobs.c.runner_id).where(
                jobs.c.run_id.in_(run_ids)
            )
        ).all()
        statuses = Counter(r.status for r in rows)
        conclusions = Counter(r.conclusion for r in rows if r.status == "completed")
        completed_ids = {r.id for r in rows if r.status == "completed"}
        run_status = Counter(
            f"{s}/{c}"
            for s, c in conn.execute(
                select(workflow_runs.c.status, workflow_runs.c.conclusion).where(
                    workflow_runs.c.repo_id == repo_id
                )
            )
        )
        scope = account_rows.organization_scope(conn, org)
        holding = conn.execute(
            select(func.count()).where(
                runners.c.scope_id == scope.id, runners.c.job_id.is_not(None)
            )
        ).scalar_one()
        return {
            "db_jobs": len(rows),
            "db_status": dict(statuses),
            "db_conclusions": {str(k): v for k, v in conclusions.items()},
            "db_runs": dict(run_status),
            "completed_not_started_by_an_agent": len(completed_ids - started_ids),
            "started_not_completed": len(started_ids - completed_ids),
            "runners_still_holding_a_job": int(holding),
        }

    return db.read(check)


# -- 3. the runs list at scale


def seed_runs(db: Database, org: str) -> tuple[str, dict[int, str]]:
    """Repositories `{org}/runs{N}` with N runs each, inserted in bulk; their list paths."""
    token = seed_org(db, org, 0)
    now = datetime.now(UTC)
    paths = {}
    for size in RUN_SCALES:
        name = f"runs{size}"
        repo_id = db.transact(
            lambda uow, name=name: account_rules.create_repo(
                uow, f"{org}/{name}", now, admin=f"{org}-admin"
            )
        )
        db.write(lambda conn, size=size, repo_id=repo_id: _bulk_runs(conn, org, repo_id, size, now))
        paths[size] = f"/repos/{org}/{name}/actions/runs?per_page=30"
    return token, paths


def _bulk_runs(conn: Any, org: str, repo_id: int, count: int, now: datetime) -> None:
    admin = account_rows.account_by_login(conn, f"{org}-admin")
    assert admin is not None
    sha = uuid.uuid4().hex + "00000000"
    conn.execute(
        commits.insert().values(
            repo_id=repo_id, sha=sha, branch="main", message="Add ci.yml", author_id=admin.id,
            created_at=now,
        )
    )  # fmt: skip
    workflow_id = conn.execute(
        workflows.insert().values(
            repo_id=repo_id, path=".github/workflows/ci.yml", name="CI", state="active",
            run_count=count, created_at=now, updated_at=now,
        )
    ).inserted_primary_key[0]  # fmt: skip
    content = NOOP.replace("workflow_dispatch", "push").encode()
    for start in range(0, count, 5000):
        conn.execute(
            workflow_runs.insert(),
            [_run_row(repo_id, workflow_id, sha, admin.id, content, n, count, now)
             for n in range(start, min(start + 5000, count))],
        )  # fmt: skip


def _run_row(
    repo_id: int, workflow_id: int, sha: str, actor: int, content: bytes, n: int, count: int,
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    return {
        "repo_id": repo_id, "workflow_id": workflow_id, "run_number": n + 1, "run_attempt": 1,
        "name": "CI", "event": "push", "status": "completed", "conclusion": "success",
        "head_sha": sha, "head_branch": "main", "actor_id": actor, "triggering_actor_id": actor,
        "inputs": "{}", "content": content, "created_at": now - timedelta(seconds=count - n),
        "updated_at": now, "run_started_at": now,
    }  # fmt: skip


def bench_runs_list(
    db_url: str, token: str, paths: dict[int, str], rounds: int, seconds: int, log: Path
) -> dict[str, Any]:
    server = servers.runnerhub(db_url, log, runner_key_pool_size="0")
    runs: dict[int, list[Run]] = {size: [] for size in RUN_SCALES}
    try:
        for _ in range(rounds):
            for size in RUN_SCALES:
                wrk(server.url, paths[size], token, seconds=1)  # warm-up, discarded
                runs[size].append(wrk(server.url, paths[size], token, seconds=seconds))
    finally:
        server.stop()
    result: dict[str, Any] = {}
    for size, found in runs.items():
        result[str(size)] = {
            "rps": statistics.median(r.rps for r in found),
            "p50_ms": statistics.median(r.p50_ms for r in found),
            "p99_ms": statistics.median(r.p99_ms for r in found),
            "non2xx": sum(r.non2xx for r in found),
            "errors": sum(r.errors for r in found),
        }
    big, small = runs[RUN_SCALES[-1]], runs[RUN_SCALES[0]]
    result["p99 ratio"] = statistics.median(
        b.p99_ms / s.p99_ms for b, s in zip(big, small, strict=True)
    )
    return result


# -- all three on one database


def bench_jobs(db_url: str, db: Database, args: Any, logs: Path, tag: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    print(f"jobs ({tag}): dispatch -> started, {args.dispatches} dispatches ...", flush=True)
    result["latency"] = bench_latency(
        db_url, db, "jobs-lat", args.dispatches, 10, logs / f"jobs-latency-{tag}.log"
    )
    print(f"jobs ({tag}): {args.job_dispatches * MATRIX_SIZE} no-op jobs ...", flush=True)
    result["throughput"] = bench_throughput(
        db_url, db, "jobs-many", args.job_dispatches, 100, args.job_seconds,
        logs / f"jobs-throughput-{tag}.log",
    )  # fmt: skip
    print(f"jobs ({tag}): seeding {sum(RUN_SCALES):,} runs ...", flush=True)
    token, paths = seed_runs(db, "jobs-runs")
    result["runs_list"] = bench_runs_list(
        db_url, token, paths, args.rounds, args.seconds, logs / f"jobs-runs-{tag}.log"
    )
    return result
