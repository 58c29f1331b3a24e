"""Webhooks end to end: the hooks API at repository and organization scope, and deliveries
to a real HTTP receiver on loopback, checked with githubkit (signature and models) and with
GitHub's own `x-webhooks` schemas — real server process, real agent, SQLite or PostgreSQL."""

from __future__ import annotations

import base64
import json
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from githubkit.webhooks import parse, verify
from sqlalchemy import create_engine, text

from runnerhub.settings import normalize_database_url
from runnerhub.storage import migrate
from runnerhub.storage.database import Database
from tests import node_check
from tests.agents import configure, start_agent, wait_for
from tests.contract import validate, validate_webhook
from tests.factories import World
from tests.helpers import auth
from tests.receiver import Received, Receiver
from tests.server import ServerProcess, free_port, start_server

SECRET = "It's a Secret to Everybody"
SCOPES = ("repo", "admin:org", "admin:org_hook")
FAST = {"webhook_scan_seconds": "0.5", "webhook_max_backoff_seconds": "2"}


@pytest.fixture(scope="module")
def live(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(database_url, workdir, **FAST)
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver().start()
    yield made
    made.stop()


class Site:
    def __init__(self, server: ServerProcess, world: World, *, enterprise: bool = False) -> None:
        self.admin = admin = world.user()
        self.enterprise = world.enterprise(admin) if enterprise else None
        self.org = world.org(admin, enterprise=self.enterprise)
        self.repo = world.repo(self.org)
        token = world.token(admin, scopes=SCOPES)
        self.http = httpx.Client(base_url=server.url, headers=auth(token), timeout=30)

    def hook(self, url: str, *, where: str = "repo", **config: Any) -> dict[str, Any]:
        events = config.pop("events", ["workflow_job", "workflow_run"])
        body = {"name": "web", "events": events, "config": {"url": url, **config}}
        made = self.http.post(f"{self.base(where)}/hooks", json=body)
        assert made.status_code == 201, made.text
        validate(f"{self.base(where)}/hooks", "POST", 201, made.json())
        return dict(made.json())

    def base(self, where: str) -> str:
        return f"/repos/{self.repo}" if where == "repo" else f"/orgs/{self.org}"

    def push(self, workflow: str) -> int:
        body = {"message": "ci", "content": base64.b64encode(workflow.encode()).decode()}
        put = self.http.put(f"/repos/{self.repo}/contents/.github/workflows/ci.yml", json=body)
        assert put.status_code in (200, 201), put.text
        commit = put.json()["commit"]["sha"]
        runs = self.http.get(f"/repos/{self.repo}/actions/runs", params={"head_sha": commit})
        return int(runs.json()["workflow_runs"][0]["id"])


@pytest.fixture
def site(live: ServerProcess, world: World) -> Iterator[Site]:
    made = Site(live, world)
    yield made
    made.http.close()


def checked(received: Received, secret: str | None = SECRET) -> dict[str, Any]:
    """The payload, after every check a strict consumer makes: GitHub's headers, the
    signatures over the exact body (githubkit's `verify`), githubkit's models, and GitHub's
    `x-webhooks` schema."""
    headers = received.headers
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert len(headers["X-GitHub-Delivery"]) == 36
    assert headers["X-GitHub-Hook-Installation-Target-Type"] in ("repository", "organization")
    assert headers["X-GitHub-Hook-ID"].isdigit()
    if secret is not None:
        assert verify(secret, received.body, headers["X-Hub-Signature-256"])
        assert headers["X-Hub-Signature"].startswith("sha1=")
    else:
        assert "X-Hub-Signature-256" not in headers
    body = received.body
    if headers["Content-Type"] == "application/x-www-form-urlencoded":
        body = parse_qs(body.decode())["payload"][0].encode()
    payload = json.loads(body)
    parse(received.event, body)  # type: ignore[arg-type]  # githubkit's models accept it
    validate_webhook(received.event, payload.get("action"), payload)
    return dict(payload)


# -- the API


def test_create_pings_and_never_shows_the_secret(site: Site, receiver: Receiver) -> None:
    made = site.hook(receiver.url, content_type="json", secret=SECRET, events=["*"])
    assert made["config"] == {"url": receiver.url, "content_type": "json", "insecure_ssl": "0",
                              "secret": "********"}  # fmt: skip
    assert made["events"] == ["*"]
    assert made["active"] is True
    assert made["type"] == "Repository"
    ping = checked(receiver.wait(1, "ping")[0])
    assert ping["hook_id"] == made["id"]
    assert ping["hook"]["config"]["secret"] == "********"
    assert ping["repository"]["full_name"] == site.repo
    assert ping["sender"]["login"]
    assert ping["organization"]["login"] == site.org
    for path in ("", "/config"):
        shown = site.http.get(f"/repos/{site.repo}/hooks/{made['id']}{path}").json()
        assert SECRET not in json.dumps(shown)
    listed = site.http.get(f"/repos/{site.repo}/hooks").json()
    validate(f"/repos/{site.repo}/hooks", "GET", 200, listed)
    assert [h["id"] for h in listed] == [made["id"]]
    base = f"/repos/{site.repo}/hooks/{made['id']}/deliveries"
    # The attempt is recorded once its answer is in: after the receiver has the request.
    wait_for(lambda: site.http.get(base).json()[0]["status_code"] == 200, 10, "the attempt")
    deliveries = site.http.get(base).json()
    validate(f"/repos/{site.repo}/hooks/1/deliveries", "GET", 200, deliveries)
    one = site.http.get(f"/repos/{site.repo}/hooks/{made['id']}/deliveries/{deliveries[0]['id']}")
    validate(f"/repos/{site.repo}/hooks/1/deliveries/1", "GET", 200, one.json())
    assert one.json()["request"]["payload"]["zen"]
    assert SECRET not in one.text
    assert one.json()["status_code"] == 200
    assert one.json()["response"]["payload"] == "thanks"


def test_update_config_delete_and_errors(site: Site, receiver: Receiver) -> None:
    made = site.hook(receiver.url, secret=SECRET)
    one = f"/repos/{site.repo}/hooks/{made['id']}"
    patched = site.http.patch(one, json={"add_events": ["ping"], "remove_events": ["workflow_run"],
                                         "active": False})  # fmt: skip
    assert patched.status_code == 200, patched.text
    validate(one, "PATCH", 200, patched.json())
    assert patched.json()["events"] == ["workflow_job", "ping"]
    assert not patched.json()["active"]
    assert patched.json()["config"]["secret"] == "********"  # kept: no config in the PATCH
    config = site.http.patch(f"{one}/config", json={"content_type": "json", "insecure_ssl": 1})
    assert config.json() == {"url": receiver.url, "content_type": "json", "insecure_ssl": "1",
                             "secret": "********"}  # fmt: skip
    validate(f"{one}/config", "PATCH", 200, config.json())
    # A PATCH of the hook with a config replaces it whole: the secret not given is gone.
    replaced = site.http.patch(one, json={"config": {"url": receiver.url}}).json()
    assert "secret" not in replaced["config"]
    assert replaced["config"]["content_type"] == "form"
    bad = [
        {"name": "web", "config": {"url": "not a url"}},
        {"name": "web", "config": {}},
        {"name": "web", "config": {"url": receiver.url, "content_type": "xml"}},
        {"name": "web", "config": {"url": receiver.url}, "events": []},
        {"name": "nope", "config": {"url": receiver.url}},
        {"name": "web", "config": {"url": receiver.url}, "events": "push"},
    ]
    for body in bad:
        answer = site.http.post(f"/repos/{site.repo}/hooks", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert site.http.delete(one).status_code == 204
    for method, path in (("GET", one), ("DELETE", one), ("POST", f"{one}/pings"),
                         ("GET", f"{one}/deliveries"), ("GET", f"{one}/deliveries/1")):  # fmt: skip
        assert site.http.request(method, path).status_code == 404, path


def test_hooks_are_invisible_across_scopes_and_need_the_grant(
    site: Site, world: World, live: ServerProcess, receiver: Receiver
) -> None:
    made = site.hook(receiver.url)
    other = Site(live, world)
    try:
        assert other.http.get(f"/repos/{other.repo}/hooks/{made['id']}").status_code == 404
        assert other.http.get(f"/repos/{site.repo}/hooks").status_code == 403  # not an admin
    finally:
        other.http.close()
    token = world.token(site.admin, scopes=("repo",))
    narrow = httpx.Client(base_url=live.url, headers=auth(token))
    with narrow:
        refused = narrow.get(f"/orgs/{site.org}/hooks")
        assert refused.status_code == 403
        assert refused.headers["X-Accepted-OAuth-Scopes"] == "admin:org_hook"
        assert narrow.get(f"/repos/{site.repo}/hooks").status_code == 200  # `repo` suffices
    for scopes, status in ((("public_repo",), 403), (("read:repo_hook",), 200)):
        token = world.token(site.admin, scopes=scopes)
        with httpx.Client(base_url=live.url, headers=auth(token)) as http:
            assert http.get(f"/repos/{site.repo}/hooks").status_code == status, scopes


def test_under_api_v3_and_at_the_organization(site: Site, receiver: Receiver) -> None:
    made = site.hook(receiver.url, where="org", content_type="json", secret=SECRET)
    assert made["type"] == "Organization"
    assert "test_url" not in made
    assert made["url"].endswith(f"/orgs/{site.org}/hooks/{made['id']}")
    shown = site.http.get(f"/api/v3/orgs/{site.org}/hooks/{made['id']}")
    assert shown.status_code == 200
    validate(f"/api/v3/orgs/{site.org}/hooks/1", "GET", 200, shown.json())
    assert shown.json()["url"].split("/api/v3")[1] == f"/orgs/{site.org}/hooks/{made['id']}"
    ping = receiver.wait(1, "ping")[0]
    assert ping.headers["X-GitHub-Hook-Installation-Target-Type"] == "organization"
    assert checked(ping)["organization"]["login"] == site.org


def test_form_content_type(site: Site, receiver: Receiver) -> None:
    site.hook(receiver.url, secret=SECRET)  # form is GitHub's default
    ping = receiver.wait(1, "ping")[0]
    assert ping.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert ping.body.startswith(b"payload=")
    assert checked(ping)["zen"]


def test_no_secret_no_signature(site: Site, receiver: Receiver) -> None:
    site.hook(receiver.url, content_type="json")
    checked(receiver.wait(1, "ping")[0], secret=None)


# -- events from jobs and runs


WORKFLOW = """\
name: Build
on: push
jobs:
  build:
    runs-on: [self-hosted, linux]
    steps:
      - run: echo built
"""


@dataclass
class JobRun:
    """What a repository hook and an organization hook received of one pushed job run by a
    real agent."""

    run_id: int
    org_hook_id: int
    received: list[Received]


@pytest.fixture(scope="module")
def job_run(
    live: ServerProcess, db: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JobRun]:
    # An organization of an enterprise: its payloads name the enterprise too.
    site, receiver = Site(live, World(db), enterprise=True), Receiver().start()
    try:
        site.hook(receiver.url, content_type="json", secret=SECRET)
        org_hook = site.hook(receiver.url, where="org", content_type="json", secret=SECRET,
                             events=["workflow_job"])  # fmt: skip
        receiver.wait(2, "ping")
        run_id = site.push(WORKFLOW)
        registration = site.http.post(f"/orgs/{site.org}/actions/runners/registration-token")
        directory = tmp_path_factory.mktemp("hooks") / "worker"
        done = configure(directory, f"{live.url}/{site.org}", registration.json()["token"],
                         "--name", "worker", "--labels", "linux")  # fmt: skip
        assert done.returncode == 0, done.stderr
        agent = start_agent(directory)
        try:
            receiver.wait(6, "workflow_job", timeout=60)  # three each for two hooks
            receiver.wait(3, "workflow_run", timeout=30)
        finally:
            agent.stop()
        yield JobRun(run_id, int(org_hook["id"]), receiver.events())
    finally:
        receiver.stop()
        site.http.close()


def test_a_job_run_by_an_agent_is_queued_in_progress_and_completed(job_run: JobRun) -> None:
    run_id, org_hook = job_run.run_id, {"id": job_run.org_hook_id}
    jobs = [r for r in job_run.received if r.event == "workflow_job"]
    runs = [r for r in job_run.received if r.event == "workflow_run"]
    repo_jobs = [r for r in jobs if r.headers["X-GitHub-Hook-ID"] != str(org_hook["id"])]
    payloads = [checked(r) for r in repo_jobs]
    assert [p["action"] for p in payloads] == ["queued", "in_progress", "completed"]
    queued, started, completed = (p["workflow_job"] for p in payloads)
    assert queued["runner_id"] is None
    assert queued["labels"] == ["self-hosted", "linux"]
    assert started["runner_name"] == "worker"
    assert started["runner_id"]
    assert started["runner_group_id"] == 1
    assert started["runner_group_name"] == "Default"
    assert completed["conclusion"] == "success"
    assert completed["run_id"] == run_id
    assert completed["workflow_name"] == "Build"
    assert completed["head_branch"] == "main"
    assert next(s["name"] for s in completed["steps"]) == "Set up job"
    # One event, one guid, whichever hook it goes to.
    guids = {r.headers["X-GitHub-Delivery"] for r in jobs}
    assert len(guids) == 3
    run_payloads = [checked(r) for r in runs]
    assert [p["action"] for p in run_payloads] == ["requested", "in_progress", "completed"]
    assert run_payloads[-1]["workflow_run"]["conclusion"] == "success"
    assert run_payloads[0]["workflow"]["path"] == ".github/workflows/ci.yml"
    enterprises = {p["enterprise"]["slug"] for p in payloads + run_payloads}
    assert len(enterprises) == 1


def test_octokit_verifies_and_validates_every_payload(job_run: JobRun, octokit: Path) -> None:
    results = node_check.check(octokit, job_run.received, SECRET)
    assert len(results) == len(job_run.received) == 2 + 6 + 3  # pings, jobs, runs
    pairs = zip(job_run.received, results, strict=True)
    failed = [(r.event, result["error"]) for r, result in pairs if not result["ok"]]
    assert failed == [], json.dumps(failed, indent=1)[:6000]


def test_redeliver_through_the_api(site: Site, receiver: Receiver) -> None:
    made = site.hook(receiver.url, content_type="json", secret=SECRET)
    first = receiver.wait(1, "ping")[0]
    base = f"/repos/{site.repo}/hooks/{made['id']}/deliveries"
    delivery = site.http.get(base).json()[0]
    again = site.http.post(f"{base}/{delivery['id']}/attempts")
    assert again.status_code == 202
    second = receiver.wait(2, "ping")[1]
    assert second.body == first.body
    assert second.headers["X-GitHub-Delivery"] == first.headers["X-GitHub-Delivery"]
    listed = site.http.get(base, params={"per_page": 1})
    assert listed.json()[0]["redelivery"] is True
    assert 'rel="next"' in listed.headers["Link"]
    cursor = listed.headers["Link"].split("cursor=")[1].split(">")[0]
    older = site.http.get(base, params={"per_page": 1, "cursor": cursor}).json()
    assert older[0]["id"] == delivery["id"]
    assert older[0]["redelivery"] is False


def test_a_receiver_down_then_up_gets_it_by_retry(site: Site) -> None:
    receiver = Receiver()  # not listening yet
    made = site.hook(receiver.url, content_type="json", secret=SECRET)
    base = f"/repos/{site.repo}/hooks/{made['id']}/deliveries"
    wait_for(lambda: site.http.get(base).json()[0]["status"] == "failed to connect", 20,
             "a failed attempt")  # fmt: skip
    receiver.start()
    try:
        checked(receiver.wait(1, "ping", timeout=20)[0])
        wait_for(lambda: site.http.get(base).json()[0]["status_code"] == 200, 10, "delivered")
    finally:
        receiver.stop()


def test_an_answer_of_500_is_retried(site: Site, receiver: Receiver) -> None:
    receiver.status = 500
    site.hook(receiver.url, content_type="json")
    receiver.wait(2, "ping", timeout=20)
    receiver.status = 200
    count = len(receiver.wait(3, "ping", timeout=20))
    assert count >= 3


def test_a_slow_hook_delays_no_other(site: Site, receiver: Receiver) -> None:
    slow = Receiver(delay=5).start()
    try:
        site.hook(slow.url, content_type="json")
        site.hook(receiver.url, content_type="json")
        receiver.wait(1, "ping", timeout=3)  # while the slow one still holds its first
    finally:
        slow.stop()


def fresh_database(database_url: str, tmp_path: Path) -> tuple[str, Database]:
    """A database of the test's own (no other server sends its outbox), built by migrations."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'own.db'}"
    else:
        name = f"own_{uuid.uuid4().hex[:8]}"
        engine = create_engine(normalize_database_url(database_url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        base, _, query = database_url.partition("?")
        url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    own = Database(normalize_database_url(url))
    migrate.upgrade(own)
    return url, own


def test_kill_9_before_delivery_then_delivered_after_restart(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """The outbox row commits with the change: a server killed before sending it (here, one
    that sends nothing) delivers it once started again, on a database no other server uses."""
    url, own = fresh_database(database_url, tmp_path)
    held = start_server(url, tmp_path, webhook_delivery="false", **FAST)
    site = Site(held, World(own))
    try:
        site.hook(receiver.url, content_type="json", secret=SECRET)
        site.push(WORKFLOW)
        held.process.send_signal(signal.SIGKILL)
        held.process.wait()
        assert receiver.events() == []
        again = start_server(url, tmp_path, **FAST)
        try:
            checked(receiver.wait(1, "ping")[0])
            queued = checked(receiver.wait(1, "workflow_job")[0])
            assert queued["action"] == "queued"
            requested = receiver.wait(1, "workflow_run")
            assert checked(requested[0])["action"] == "requested"
        finally:
            again.stop()
    finally:
        site.http.close()
        own.dispose()
    # Exactly once: one ping, one queued job, one requested run.
    assert len(receiver.events("ping")) == 1
    assert len(receiver.events("workflow_job")) == 1


def test_no_retry_window_fails_after_one_attempt(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """RUNNERHUB_WEBHOOK_RETRY_WINDOW_SECONDS=0: one attempt, as GitHub, then `failed`."""
    url, own = fresh_database(database_url, tmp_path)
    server = start_server(url, tmp_path, webhook_retry_window_seconds="0", **FAST)
    site = Site(server, World(own))
    receiver.status = 502
    try:
        made = site.hook(receiver.url, content_type="json")
        receiver.wait(1, "ping")
        base = f"/repos/{site.repo}/hooks/{made['id']}/deliveries"
        wait_for(lambda: site.http.get(base).json()[0]["status_code"] == 502, 10, "the attempt")
        listed = site.http.get(base).json()
        assert listed[0]["status"] == "Invalid HTTP Response: 502"
        failed = site.http.get(base, params={"status": "failure"}).json()
        assert [d["id"] for d in failed] == [listed[0]["id"]]
        assert site.http.get(base, params={"status": "success"}).json() == []
        assert site.http.get(base, params={"status": "maybe"}).status_code == 422
        hook = site.http.get(f"/repos/{site.repo}/hooks/{made['id']}").json()
        assert hook["last_response"]["code"] == 502
    finally:
        site.http.close()
        server.stop()
        own.dispose()
    assert len(receiver.events("ping")) == 1  # never again, even after the scan interval


def test_two_instances_send_each_delivery_once(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Two servers on one database: each delivery is leased by one of them."""
    url, own = fresh_database(database_url, tmp_path)
    first = start_server(url, tmp_path, **FAST)
    second = start_server(url, tmp_path, **FAST)
    site = Site(first, World(own))
    try:
        made = site.hook(receiver.url, content_type="json")
        other = httpx.Client(base_url=second.url, headers=site.http.headers, timeout=30)
        with other:
            for index in range(20):
                client = site.http if index % 2 else other
                pinged = client.post(f"/repos/{site.repo}/hooks/{made['id']}/pings")
                assert pinged.status_code == 204
        received = receiver.wait(21, "ping", timeout=60)
    finally:
        site.http.close()
        first.stop()
        second.stop()
        own.dispose()
    guids = [r.headers["X-GitHub-Delivery"] for r in received]
    assert len(guids) == len(set(guids)) == 21


def test_fine_grained_tokens_need_the_webhooks_permission(
    site: Site, world: World, live: ServerProcess
) -> None:
    cases = [
        (("repository_hooks", "read"), f"/repos/{site.repo}/hooks", 200),
        (("administration", "write"), f"/repos/{site.repo}/hooks", 403),
        (("organization_hooks", "read"), f"/orgs/{site.org}/hooks", 200),
        (("organization_self_hosted_runners", "write"), f"/orgs/{site.org}/hooks", 403),
    ]
    for permission, path, status in cases:
        if "/repos/" in path:
            token = world.token(site.admin, permissions=(permission,), repos=(site.repo,))
        else:
            token = world.token(site.admin, permissions=(permission,), org=site.org)
        with httpx.Client(base_url=live.url, headers=auth(token)) as http:
            answer = http.get(path)
            assert answer.status_code == status, (permission, path, answer.text)
            if status == 403:
                wanted = "repository_hooks" if "/repos/" in path else "organization_hooks"
                assert answer.headers["X-Accepted-GitHub-Permissions"] == f"{wanted}=read"


def test_events_of_a_run_deleted_before_they_were_sent_are_failed_not_stuck(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """A run deleted while its `workflow_run` events wait: those fail ("Payload no longer
    available") and the hook's later deliveries still go."""
    url, own = fresh_database(database_url, tmp_path)
    held = start_server(url, tmp_path, webhook_delivery="false", **FAST)
    site = Site(held, World(own))
    try:
        made = site.hook(receiver.url, content_type="json", events=["workflow_run"])
        run_id = site.push(WORKFLOW)
        assert site.http.post(f"/repos/{site.repo}/actions/runs/{run_id}/cancel").status_code == 202
        assert site.http.delete(f"/repos/{site.repo}/actions/runs/{run_id}").status_code == 204
        held.stop()
        again = start_server(url, tmp_path, **FAST)
        try:
            base = f"{again.url}/repos/{site.repo}/hooks/{made['id']}"
            assert site.http.post(f"{base}/pings").status_code == 204
            checked(receiver.wait(2, "ping")[1], secret=None)  # after the run's, in order
            listed = site.http.get(f"{base}/deliveries").json()
        finally:
            again.stop()
    finally:
        site.http.close()
        own.dispose()
    assert receiver.events("workflow_run") == []
    gone = [d for d in listed if d["event"] == "workflow_run"]
    assert [d["action"] for d in gone] == ["completed", "requested"]  # newest first
    assert {d["status"] for d in gone} == {"Payload no longer available"}


def test_a_failing_delivery_holds_back_its_hooks_later_ones_in_order(site: Site) -> None:
    receiver = Receiver(fail_first=2).start()
    try:
        made = site.hook(receiver.url, content_type="json")
        for _ in range(4):
            site.http.post(f"/repos/{site.repo}/hooks/{made['id']}/pings")
        receiver.wait(6, "ping", timeout=30)  # two refused attempts, then five delivered
        received = receiver.wait(7, "ping", timeout=30)
    finally:
        receiver.stop()
    listed = site.http.get(f"/repos/{site.repo}/hooks/{made['id']}/deliveries").json()
    in_order = [d["guid"] for d in reversed(listed)]
    arrived = [r.headers["X-GitHub-Delivery"] for r in received]
    assert arrived[:3] == [in_order[0]] * 3  # the first, until it went through
    assert arrived[2:] == in_order


def _deliveries(server: ServerProcess) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text_ = httpx.get(server.url + "/metrics", timeout=30).text
    return {
        sample.labels["state"]: sample.value
        for family in text_string_to_metric_families(text_)
        if family.name == "runnerhub_webhook_deliveries"
        for sample in family.samples
    }


def test_metrics_count_deliveries_by_outcome(
    live: ServerProcess, site: Site, receiver: Receiver
) -> None:
    before = _deliveries(live)
    site.hook(receiver.url)  # its ping is delivered
    site.hook(f"http://127.0.0.1:{free_port()}/nobody")  # its ping is retried, pending
    receiver.wait(1, "ping")

    def counted() -> bool:
        now = _deliveries(live)
        return (now["delivered"] >= before["delivered"] + 1
                and now["pending"] >= before["pending"] + 1)  # fmt: skip

    wait_for(counted, 10, "the deliveries counted")
    assert set(_deliveries(live)) == {"pending", "delivered", "failed"}
