"""Every dashboard page, what it needs, and what it does.

A page handler, like an API handler, calls the domain and shapes the answer: a template
and its values, or a redirect. `PAGES` is the whole dashboard: each entry states its method,
path, permission and, for a scope's pages, the scope mount (the API's resolvers, api/scopes.py)
the permission is checked in. tests/test_dashboard.py walks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from runnerhub.api.gate import count_failed_login, refuse_if_locked_out
from runnerhub.api.operations import AppState
from runnerhub.api.scopes import SCOPE_MOUNTS, ScopeMount
from runnerhub.auth import sessions
from runnerhub.auth.permissions import (
    ACTIONS_READ,
    AUTHENTICATED,
    PUBLIC,
    RUNNERS_READ,
    RUNNERS_WRITE,
    Permission,
    authorize,
)
from runnerhub.auth.principals import Principal
from runnerhub.domain import overview, runner_tokens, runners, scopes
from runnerhub.domain.runners import Clock
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.errors import NotFound, Unauthorized, ValidationFailed
from runnerhub.storage.unit_of_work import UnitOfWork

BASE = "/dashboard"
SIGN_IN = f"{BASE}/sign-in"
SCOPE_PREFIX = {
    ScopeKind.ENTERPRISE: f"{BASE}/enterprises/",
    ScopeKind.ORGANIZATION: f"{BASE}/orgs/",
    ScopeKind.REPOSITORY: f"{BASE}/repos/",
}


def scope_base(scope: Scope) -> str:
    """Where a scope's pages live: /dashboard/orgs/acme, /dashboard/repos/acme/widgets."""
    return SCOPE_PREFIX[scope.kind] + scope.name


@dataclass(slots=True)
class View:
    """What a page handler gets: the open unit of work, who is asking, and the request."""

    uow: UnitOfWork
    state: AppState
    principal: Principal | None
    scope: Scope | None
    clock: Clock
    path: Mapping[str, Any]
    query: Mapping[str, str]
    form: Mapping[str, str]
    web_url: str
    client: str
    session_id: str | None

    @property
    def the_scope(self) -> Scope:
        assert self.scope is not None, "a scope's page has a scope"
        return self.scope


@dataclass(slots=True)
class Html:
    template: str
    values: dict[str, Any]
    status: int = 200


@dataclass(slots=True)
class Redirect:
    location: str
    session: str | None = None  # a session id to set in the cookie
    end_session: bool = False


@dataclass(slots=True)
class SignInFailed(Exception):
    """Wrong token: the form again with the message, once the transaction rolled back."""

    message: str
    values: dict[str, Any] = field(default_factory=dict)


Answer = Html | Redirect
PageHandler = Callable[[View], Answer]


@dataclass(frozen=True, slots=True)
class Page:
    method: str
    path: str
    handler: PageHandler
    permission: Permission
    mount: ScopeMount | None = None
    name: str = ""


# -- signing in and out


def safe_next(target: str | None) -> str:
    """Only the dashboard's own paths: never another site (`//evil`, `https://...`)."""
    if target and target.startswith(BASE) and not target.startswith("//"):
        return target
    return BASE


def sign_in_form(view: View) -> Answer:
    if view.principal is not None:
        return Redirect(safe_next(view.query.get("next")))
    return Html("sign_in.html", {"next": safe_next(view.query.get("next"))})


def sign_in(view: View) -> Answer:
    settings = view.state.settings
    now = view.clock.now
    refuse_if_locked_out(view.state.limiter, settings, view.client, now)
    ttl = timedelta(seconds=settings.dashboard_session_seconds)
    try:
        token = view.form.get("token", "").strip()
        session_id, _ = sessions.sign_in(view.uow.conn, token, now, ttl)
    except Unauthorized as error:
        count_failed_login(view.state.limiter, settings, view.client, now)
        raise SignInFailed(error.message, {"next": safe_next(view.form.get("next"))}) from None
    return Redirect(safe_next(view.form.get("next")), session=session_id)


def sign_out(view: View) -> Answer:
    sessions.sign_out(view.uow.conn, view.session_id)
    return Redirect(SIGN_IN, end_session=True)


# -- the pages


def home(view: View) -> Answer:
    assert view.principal is not None
    places = overview.places(view.uow, view.principal.user_id)
    links = [
        {"kind": place.kind, "name": place.name, "url": SCOPE_PREFIX[ScopeKind(place.kind)]
         + place.name + "/runners"}
        for place in places
    ]  # fmt: skip
    return Html("home.html", {"places": links})


def list_runners(view: View) -> Answer:
    return Html("runners.html", _runner_values(view))


def _runner_values(view: View, **extra: Any) -> dict[str, Any]:
    page_number = int(view.query.get("page", "1")) if view.query.get("page", "").isdigit() else 1
    page = overview.runner_page(view.uow, view.the_scope, view.clock, page_number)
    return {"page": page, "removed": view.query.get("removed"), "tab": "runners", **extra}


def new_runner(view: View) -> Answer:
    scope = view.the_scope
    ttl = timedelta(seconds=view.state.settings.runner_token_ttl_seconds)
    issued = runner_tokens.issue(
        view.uow, scope, runner_tokens.Purpose.REGISTRATION, view.clock.now, ttl
    )
    values = {
        "token": issued.token,
        "expires_at": issued.expires_at,
        "runner_url": view.web_url + scope.html_path,
        "https": view.web_url.startswith("https://"),
        "tab": "runners",
    }
    return Html("new_runner.html", values)


def delete_runner(view: View) -> Answer:
    scope, runner_id = view.the_scope, int(view.path["runner_id"])
    found = runners.get_runner(view.uow, scope, view.clock, runner_id)
    try:
        runners.delete_runner(view.uow, scope, runner_id)
    except ValidationFailed as refused:  # busy: GitHub's 422, shown over the list
        return Html("runners.html", _runner_values(view, error=refused.message), 422)
    return Redirect(f"{scope_base(scope)}/runners?removed={quote(found.name)}")


def list_jobs(view: View) -> Answer:
    jobs = overview.active_jobs(view.uow, view.the_scope)
    values = {"jobs": jobs, "labels_of": overview.job_labels, "tab": "jobs", "refresh": 5}
    return Html("jobs.html", values)


def show_job(view: View) -> Answer:
    """A job the scope's runners could take, whose logs the caller may read through the API
    too: the actions permission on the job's repository, checked as GET .../logs checks it."""
    job = overview.job_in_scope(view.uow, view.the_scope, int(view.path["job_id"]))
    owner, _, name = job.repository.partition("/")
    repository = scopes.repository(view.uow, owner, name)
    if repository is None:
        raise NotFound()
    authorize(view.uow.conn, view.principal, repository, ACTIONS_READ)
    log = overview.job_log(view.uow, job)
    values: dict[str, Any] = {
        "job": job, "log": log.text, "labels": overview.job_labels(job), "tab": "jobs",
    }  # fmt: skip
    if job.status != "completed":
        values["refresh"] = 3
    return Html("job.html", values)


def _scope_pages(mount: ScopeMount) -> list[Page]:
    base = BASE + mount.prefix
    return [
        Page("GET", f"{base}/runners", list_runners, RUNNERS_READ, mount, "runners"),
        Page("POST", f"{base}/runners/new", new_runner, RUNNERS_WRITE, mount, "new-runner"),
        Page("POST", f"{base}/runners/{{runner_id:id}}/delete", delete_runner, RUNNERS_WRITE,
             mount, "delete-runner"),
        Page("GET", f"{base}/jobs", list_jobs, RUNNERS_READ, mount, "jobs"),
        Page("GET", f"{base}/jobs/{{job_id:id}}", show_job, RUNNERS_READ, mount, "job"),
    ]  # fmt: skip


PAGES: tuple[Page, ...] = (
    Page("GET", SIGN_IN, sign_in_form, PUBLIC, name="sign-in-form"),
    Page("POST", SIGN_IN, sign_in, PUBLIC, name="sign-in"),
    Page("POST", f"{BASE}/sign-out", sign_out, PUBLIC, name="sign-out"),
    Page("GET", BASE, home, AUTHENTICATED, name="home"),
    *(page for mount in SCOPE_MOUNTS for page in _scope_pages(mount)),
)
