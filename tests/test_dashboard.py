"""The runners dashboard on the real server process: sign-in and sessions, CSRF, the API's
permissions on every page, the runners, add-runner and jobs pages, and GET / for browsers.
(tests/test_dashboard_browser.py drives the same pages in headless Chromium.)"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from runnerhub.domain import accounts, overview
from runnerhub.domain.runners import Clock
from runnerhub.storage import sql
from runnerhub.storage.database import Database
from runnerhub.storage.tables import runner_tokens, web_sessions
from runnerhub.testing import start
from runnerhub.web.pages import SIGN_IN
from runnerhub.web.routes import prefers_html
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


class Browser:
    """A client that keeps cookies and fills in forms' CSRF fields, as a browser would."""

    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.csrf = ""

    def get(self, path: str) -> httpx.Response:
        answer = self.http.get(path, headers={"Accept": BROWSER_ACCEPT})
        self._remember(answer)
        return answer

    def post(self, path: str, **fields: str) -> httpx.Response:
        answer = self.http.post(path, data={"csrf": self.csrf, **fields})
        self._remember(answer)
        return answer

    def _remember(self, answer: httpx.Response) -> None:
        found = CSRF.search(answer.text)
        if found:
            self.csrf = found.group(1)

    def sign_in(self, token: str, next_page: str = "/dashboard") -> httpx.Response:
        self.get(SIGN_IN)
        return self.post(SIGN_IN, token=token, next=next_page)


@pytest.fixture
def browser(server: ServerProcess) -> Iterator[Browser]:
    made = Browser(server)
    yield made
    made.http.close()


@pytest.fixture
def org_site(world: World) -> dict[str, str]:
    admin = world.user()
    org = world.org(admin)
    repo = world.repo(org, private=True)
    return {
        "admin": admin, "org": org, "repo": repo,
        "token": world.token(admin, scopes=("repo", "admin:org")),
    }  # fmt: skip


# -- GET /


def test_root_redirects_browsers_and_answers_api_clients(client: httpx.Client) -> None:
    browsers = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert browsers.status_code == 302
    assert browsers.headers["location"] == "/dashboard"
    for accept in ("application/vnd.github+json", "*/*", "application/json", None):
        headers = {"Accept": accept} if accept else {}
        api = client.get("/", headers=headers)
        assert api.status_code == 200, accept
        assert "current_user_url" in api.json()
    assert client.get("/api/v3/", headers={"Accept": BROWSER_ACCEPT}).status_code == 200


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0, */*", False),
        ("application/vnd.github.v3+json", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_prefers_html(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


# -- signing in and out


def test_sign_in_makes_a_hashed_http_only_session(
    browser: Browser, org_site: dict[str, str], db: Database
) -> None:
    form = browser.get(SIGN_IN)
    assert form.status_code == 200
    assert '<label for="token">' in form.text
    cookie = form.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=lax", "Path=/dashboard"):
        assert attribute in cookie

    signed_in = browser.post(SIGN_IN, token=org_site["token"], next="/dashboard")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/dashboard"
    session_cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith("runnerhub_session=")
    )
    for attribute in ("HttpOnly", "SameSite=lax"):
        assert attribute in session_cookie
    assert "Secure" not in session_cookie  # plain http here; test_tls-style https sets it
    session_id = browser.http.cookies["runnerhub_session"]
    assert len(session_id) >= 40

    def stored(conn: Any) -> list[str]:
        return [row[0] for row in conn.execute(select(web_sessions.c.session_hash))]

    hashes = db.read(stored)
    assert hashlib.sha256(session_id.encode()).hexdigest() in hashes
    assert session_id not in hashes

    home = browser.get("/dashboard")
    assert home.status_code == 200
    assert org_site["admin"] in home.text
    assert f'href="/dashboard/orgs/{org_site["org"]}/runners"' in home.text

    out = browser.post("/dashboard/sign-out")
    assert out.status_code == 303
    assert hashlib.sha256(session_id.encode()).hexdigest() not in db.read(stored)
    browser.http.cookies.set("runnerhub_session", session_id, path="/dashboard")
    after = browser.get("/dashboard")  # the old cookie replayed: no longer a session
    assert after.status_code == 303
    assert after.headers["location"].startswith(SIGN_IN)


def test_wrong_token_shows_the_form_again(browser: Browser) -> None:
    refused = browser.sign_in("ghp_" + "x" * 36)
    assert refused.status_code == 401
    assert "Bad credentials" in refused.text
    assert "runnerhub_session" not in browser.http.cookies


def test_sign_in_needs_its_csrf_value(browser: Browser, org_site: dict[str, str]) -> None:
    browser.get(SIGN_IN)
    browser.csrf = "forged"
    assert browser.post(SIGN_IN, token=org_site["token"]).status_code == 403
    fresh = Browser.__new__(Browser)
    fresh.http, fresh.csrf = httpx.Client(base_url=str(browser.http.base_url)), "x"
    assert fresh.post(SIGN_IN, token=org_site["token"]).status_code == 403  # no cookie at all
    fresh.http.close()


def test_an_expired_token_ends_its_session(
    browser: Browser, world: World, org_site: dict[str, str]
) -> None:
    token = world.token(org_site["admin"], scopes=("admin:org",), expires_in=timedelta(hours=1))
    assert browser.sign_in(token).status_code == 303
    assert browser.get("/dashboard").status_code == 200
    world._expire(token, datetime.now(UTC) - timedelta(seconds=1))
    assert browser.get("/dashboard").status_code == 303


def test_revoking_the_token_ends_its_sessions(
    browser: Browser, world: World, org_site: dict[str, str], db: Database
) -> None:
    token = world.token(org_site["admin"], scopes=("admin:org",))
    assert browser.sign_in(token).status_code == 303
    assert browser.get("/dashboard").status_code == 200
    (info,) = [
        t for t in db.transact(lambda uow: accounts.list_tokens(uow, org_site["admin"]))
        if t.grants == "admin:org"
    ]  # fmt: skip
    db.transact(lambda uow: accounts.revoke_token(uow, info.id))
    assert browser.get("/dashboard").status_code == 303


def test_next_only_goes_to_the_dashboard(browser: Browser, org_site: dict[str, str]) -> None:
    answer = browser.sign_in(org_site["token"], next_page="https://evil.example/")
    assert answer.headers["location"] == "/dashboard"


def test_pages_redirect_to_sign_in_without_a_session(browser: Browser) -> None:
    answer = browser.get("/dashboard/orgs/anything/runners")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{SIGN_IN}?next=/dashboard/orgs/anything/runners"


# -- CSRF and POST


def test_forms_need_the_sessions_csrf_token(
    browser: Browser, org_site: dict[str, str], client: httpx.Client
) -> None:
    browser.sign_in(org_site["token"])
    page = f"/dashboard/orgs/{org_site['org']}/runners"
    browser.get(page)
    good = browser.csrf
    browser.csrf = "0" * 64
    assert browser.post(page + "/new").status_code == 403
    browser.csrf = good
    other_site = browser.http.post(
        page + "/new", data={"csrf": good}, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    assert browser.http.get(page + "/new").status_code == 404  # state changes are POSTs only
    assert browser.post(page + "/new").status_code == 200


def test_pages_send_security_headers(browser: Browser, org_site: dict[str, str]) -> None:
    browser.sign_in(org_site["token"])
    page = browser.get(f"/dashboard/orgs/{org_site['org']}/runners")
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


# -- the same permissions as the API


def _scope_pages(scope_base: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"{scope_base}/runners"),
        ("POST", f"{scope_base}/runners/new"),
        ("POST", f"{scope_base}/runners/1/delete"),
        ("GET", f"{scope_base}/jobs"),
        ("GET", f"{scope_base}/jobs/1"),
    ]


def _api_status(client: httpx.Client, api_base: str, token: str, method: str) -> int:
    if method == "GET":
        return client.get(f"{api_base}/actions/runners", headers=auth(token)).status_code
    path = f"{api_base}/actions/runners/registration-token"
    return client.post(path, headers=auth(token)).status_code


@pytest.mark.parametrize("kind", ["org", "repo", "enterprise"])
def test_pages_answer_as_the_api_does(
    kind: str, world: World, server: ServerProcess, client: httpx.Client
) -> None:
    """Admin, member, outsider, and an admin's token without the grant: every page of the
    scope answers what the API's runner endpoints answer the same token (404 for a scope
    the token may not see, 403 for one it may see but not administer)."""
    admin, member, outsider = world.user(), world.user(), world.user()
    if kind == "org":
        name = world.org(admin, members=[member])
        base, api = f"/dashboard/orgs/{name}", f"/orgs/{name}"
    elif kind == "repo":
        org = world.org(admin, members=[member])
        name = world.repo(org, private=True, collaborators=[(member, "read")])
        base, api = f"/dashboard/repos/{name}", f"/repos/{name}"
    else:
        name = world.enterprise(admin)
        world.org(admin, enterprise=name, members=[member])
        base, api = f"/dashboard/enterprises/{name}", f"/enterprises/{name}"
    tokens = {
        "admin": world.token(admin, scopes=("repo", "admin:org", "manage_runners:enterprise")),
        "member": world.token(member, scopes=("repo", "admin:org", "manage_runners:enterprise")),
        "outsider": world.token(outsider, scopes=("repo", "admin:org")),
        "no grant": world.token(admin, scopes=("read:org",)),
    }
    for who, token in tokens.items():
        browser = Browser(server)
        assert browser.sign_in(token).status_code == 303
        browser.get("/dashboard")
        for method, path in _scope_pages(base):
            answer = browser.get(path) if method == "GET" else browser.post(path)
            expected = _api_status(client, api, token, method)
            if expected in (200, 201) and path.endswith(("/1/delete", "/jobs/1")):
                expected = 404  # admitted; there is no runner or job 1 in this scope
            got = 200 if answer.status_code in (200, 201) else answer.status_code
            assert got == (200 if expected == 201 else expected), (who, path, answer.text[:300])
        browser.http.close()


# -- the pages


def test_runners_page_shows_each_runner(
    browser: Browser, world: World, org_site: dict[str, str]
) -> None:
    scope = world.scope("org", org_site["org"])
    _, busy = world.runners(scope, 2, labels=("self-hosted", "Linux", "gpu"))
    world.start_job(scope, busy)
    browser.sign_in(org_site["token"])
    page = browser.get(f"/dashboard/orgs/{org_site['org']}/runners")
    assert page.status_code == 200
    assert "<h2 class=\"subhead-heading\">Self-hosted runners</h2>" in page.text
    assert page.text.count('<tr id="runner-') == 2
    assert '<th scope="col">Status</th>' in page.text
    for label in ("self-hosted", "Linux", "gpu"):
        assert f'<li class="label">{label}</li>' in page.text
    assert "<td>Default</td>" in page.text
    assert "Offline" in page.text  # never polled
    assert "Holding a job" in page.text  # the busy one


def test_runners_page_pages_by_a_hundred(
    browser: Browser, world: World, org_site: dict[str, str]
) -> None:
    world.runners(world.scope("org", org_site["org"]), 101)
    browser.sign_in(org_site["token"])
    base = f"/dashboard/orgs/{org_site['org']}/runners"
    first = browser.get(base)
    assert first.text.count('<tr id="runner-') == 100
    assert "Page 1 of 2" in first.text
    assert 'href="?page=2" rel="next"' in first.text
    second = browser.get(base + "?page=2")
    assert second.text.count('<tr id="runner-') == 1
    assert browser.get(base + "?page=9").text.count('<tr id="runner-') == 1  # the last page


def test_runner_page_costs_the_same_queries_for_any_number_of_runners(
    world: World, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = world.user()
    small, large = (world.scope("org", world.org(admin)) for _ in range(2))
    world.runners(small, 2)
    world.runners(large, 40)
    calls: list[str] = []
    real = sql.fetch_all

    def counted(conn: Any, query: str, **params: Any) -> Any:
        calls.append(query)
        return real(conn, query, **params)

    monkeypatch.setattr(sql, "fetch_all", counted)
    clock = Clock(datetime.now(UTC), timedelta(seconds=60))
    counts = []
    for scope in (small, large):
        calls.clear()
        page = db.transact(lambda uow, s=scope: overview.runner_page(uow, s, clock, 1))
        assert all(runner.labels for runner in page.runners)
        counts.append(len(calls))
    assert counts[0] == counts[1] <= 4


def test_new_runner_issues_a_registration_token_and_shows_the_commands(
    browser: Browser, org_site: dict[str, str], db: Database, server: ServerProcess
) -> None:
    browser.sign_in(org_site["token"])
    browser.get(f"/dashboard/orgs/{org_site['org']}/runners")
    page = browser.post(f"/dashboard/orgs/{org_site['org']}/runners/new")
    assert page.status_code == 200
    token = re.search(r"--token ([A-Z2-7]{29})", page.text)
    assert token is not None
    assert f"runnerhub-agent config --url {server.url}/{org_site['org']} --token" in page.text
    assert "runnerhub-agent run" in page.text
    assert "--ca-file" not in page.text  # plain http
    digest = hashlib.sha256(token.group(1).encode()).hexdigest()
    found = db.read(
        lambda c: c.execute(
            select(runner_tokens.c.purpose).where(runner_tokens.c.token_hash == digest)
        ).scalar()
    )
    assert found == "registration"


def test_remove_an_idle_runner_but_not_a_busy_one(
    browser: Browser, world: World, org_site: dict[str, str], client: httpx.Client
) -> None:
    scope = world.scope("org", org_site["org"])
    idle, busy = world.runners(scope, 2)
    world.start_job(scope, busy)
    base = f"/dashboard/orgs/{org_site['org']}/runners"
    browser.sign_in(org_site["token"])
    browser.get(base)
    api = f"/orgs/{org_site['org']}/actions/runners"
    idle_name = client.get(f"{api}/{idle}", headers=auth(org_site["token"])).json()["name"]
    removed = browser.post(f"{base}/{idle}/delete")
    assert removed.status_code == 303
    assert removed.headers["location"] == f"{base}?removed={idle_name}"
    assert client.get(f"{api}/{idle}", headers=auth(org_site["token"])).status_code == 404
    assert f"Runner <strong>{idle_name}</strong> was removed." in browser.get(
        removed.headers["location"]
    ).text
    refused = browser.post(f"{base}/{busy}/delete")
    assert refused.status_code == 422
    assert "is still running a job" in refused.text
    assert 'role="alert"' in refused.text
    assert client.get(f"{api}/{busy}", headers=auth(org_site["token"])).status_code == 200
    assert browser.post(f"{base}/{idle}/delete").status_code == 404  # gone already


def test_jobs_page_and_a_jobs_log(
    browser: Browser, world: World, org_site: dict[str, str]
) -> None:
    scope = world.scope("org", org_site["org"])
    repo_scope = world.scope("repo", org_site["repo"])
    (runner,) = world.runners(scope, 1)
    # A job of the repository, held by the organization's runner.
    world.start_job(repo_scope, runner, org_scope_id=scope.id, name="build (linux)")
    browser.sign_in(org_site["token"])
    jobs = browser.get(f"/dashboard/orgs/{org_site['org']}/jobs")
    assert jobs.status_code == 200
    assert '<meta http-equiv="refresh" content="5">' in jobs.text
    assert org_site["repo"] in jobs.text
    assert "In progress" in jobs.text
    assert "build (linux)" in jobs.text
    job_link = re.search(r'href="(/dashboard/orgs/[^"]+/jobs/(\d+))"', jobs.text)
    assert job_link is not None
    log = browser.get(job_link.group(1))
    assert log.status_code == 200
    assert "No output yet." in log.text
    # The job's repository's own pages show it too; another organization's do not.
    job_id = job_link.group(2)
    assert browser.get(f"/dashboard/repos/{org_site['repo']}/jobs/{job_id}").status_code == 200
    other = world.org(org_site["admin"])
    assert browser.get(f"/dashboard/orgs/{other}/jobs/{job_id}").status_code == 404


def test_a_jobs_log_needs_the_actions_permission_on_its_repository(
    server: ServerProcess, world: World, org_site: dict[str, str], client: httpx.Client
) -> None:
    """An organization admin's token without `repo` administers the runners but may not read
    a private repository's logs: the API answers 404 for the job's logs, and so does its page."""
    scope = world.scope("org", org_site["org"])
    (runner,) = world.runners(scope, 1)
    world.start_job(world.scope("repo", org_site["repo"]), runner, org_scope_id=scope.id)
    token = world.token(org_site["admin"], scopes=("admin:org",))
    browser = Browser(server)
    browser.sign_in(token)
    jobs = browser.get(f"/dashboard/orgs/{org_site['org']}/jobs")
    job_link = re.search(r'href="(/dashboard/orgs/[^"]+/jobs/(\d+))"', jobs.text)
    assert job_link is not None
    api = f"/repos/{org_site['repo']}/actions/jobs/{job_link.group(2)}/logs"
    assert client.get(api, headers=auth(token)).status_code == 404
    assert browser.get(job_link.group(1)).status_code == 404
    browser.http.close()


def test_over_https_the_cookie_is_secure_and_the_agent_gets_the_ca_file(tmp_path: Path) -> None:
    hub = start(tmp_path, tls=True)
    try:
        site = hub.seed()
        with hub.client() as http:
            form = http.get(SIGN_IN)
            csrf = CSRF.search(form.text)
            assert csrf is not None
            signed_in = http.post(SIGN_IN, data={"csrf": csrf.group(1), "token": site.token})
            assert signed_in.status_code == 303
            cookie = next(
                c for c in signed_in.headers.get_list("set-cookie")
                if c.startswith("runnerhub_session=")
            )  # fmt: skip
            assert "Secure" in cookie
            runners = http.get(f"/dashboard/orgs/{site.org}/runners")
            csrf = CSRF.search(runners.text)
            assert csrf is not None
            new = f"/dashboard/orgs/{site.org}/runners/new"
            page = http.post(new, data={"csrf": csrf.group(1)})
        assert page.status_code == 200
        assert f"--url {hub.url}/{site.org} --token " in page.text
        assert "--ca-file ca.pem" in page.text
        assert hub.url.startswith("https://")
    finally:
        hub.stop()
