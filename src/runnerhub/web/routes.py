"""The dashboard's routes: read the request, admit the caller (web/guard.py), run the page in
one transaction, and render its template after the commit.

Pages are HTML for people: errors are pages too (404 as the API answers it, 403 with its
message), answers are never cached, and a Content-Security-Policy allows only this server's
own styles and scripts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from runnerhub import clock
from runnerhub.api.operations import AppState
from runnerhub.auth import sessions
from runnerhub.domain.runners import Clock
from runnerhub.errors import Forbidden, PayloadTooLarge, RunnerhubError
from runnerhub.storage.unit_of_work import UnitOfWork
from runnerhub.web import guard
from runnerhub.web.guard import SESSION_COOKIE, SIGN_IN_COOKIE, SignInRequired
from runnerhub.web.pages import (
    BASE,
    PAGES,
    SIGN_IN,
    Answer,
    Html,
    Page,
    Redirect,
    SignInFailed,
    View,
    scope_base,
)

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@cache
def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("runnerhub.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = ago
    env.filters["moment"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S UTC")
    env.filters["iso"] = lambda value: value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return env


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def page_endpoint(page: Page) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        state: AppState = request.app.state.runnerhub
        try:
            return await _serve(request, state, page)
        except SignInRequired:
            target = request.url.path if request.method == "GET" else BASE
            return _redirect(f"{SIGN_IN}?next={quote(target)}", request)
        except RunnerhubError as error:
            return _error_page(request, error)
        except Exception:
            log.exception("unhandled error in dashboard page %s", page.name)
            return _error_page(request, RunnerhubError("Server Error"))

    run.__name__ = f"dashboard_{page.name.replace('-', '_')}"
    return run


async def _serve(request: Request, state: AppState, page: Page) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    sign_in_value = request.cookies.get(SIGN_IN_COOKIE)
    form: dict[str, str] = {}
    if page.method == "POST":
        origins = {_origin(request), _public_origin(state)}
        if not guard.same_origin(request.headers.get("origin"), origins):
            raise Forbidden(guard.CSRF_REFUSED)
        form = await _form(request)
        signing_in = page.path == SIGN_IN
        expected = sign_in_value if signing_in else (
            sessions.csrf_token(session_id) if session_id else None
        )  # fmt: skip
        guard.check_csrf(expected, form.get("csrf"))
    now = clock.now()
    view_clock = Clock(now, _offline_after(state))
    web_url = state.settings.public_url or _origin(request)

    def work(uow: UnitOfWork) -> tuple[Answer, View]:
        admitted = guard.admit(uow, page.permission, page.mount, request.path_params,
                               session_id, now)  # fmt: skip
        view = View(
            uow, state, admitted.principal, admitted.scope, view_clock, request.path_params,
            dict(request.query_params), form, web_url,
            request.client.host if request.client else "unknown", session_id,
        )  # fmt: skip
        return page.handler(view), view

    try:
        answer, view = await state.db.run(work, write=page.method == "POST")
    except SignInFailed as failed:
        return _sign_in_page(request, {**failed.values, "error": failed.message}, 401)
    if isinstance(answer, Redirect):
        return _redirect_answer(request, state, answer)
    if page.path == SIGN_IN:
        return _sign_in_page(request, answer.values, answer.status)
    return _render(request, answer, view, session_id)


def _offline_after(state: AppState) -> timedelta:
    return timedelta(seconds=state.settings.offline_after_seconds)


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _public_origin(state: AppState) -> str:
    parts = urlsplit(state.settings.public_url)
    return f"{parts.scheme}://{parts.netloc}"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def _form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"The form is larger than {MAX_FORM_BYTES} bytes.")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        raise Forbidden(guard.CSRF_REFUSED) from None


def _values(view: View, session_id: str | None) -> dict[str, Any]:
    scope = view.scope
    return {
        "user": view.principal.login if view.principal else None,
        "csrf": sessions.csrf_token(session_id) if session_id else "",
        "scope": scope,
        "scope_base": scope_base(scope) if scope else None,
        "now": view.clock.now,
        "base": BASE,
    }


def _render(request: Request, answer: Html, view: View, session_id: str | None) -> Response:
    values = {**_values(view, session_id), "path": request.url.path, **answer.values}
    html = templates().get_template(answer.template).render(values)
    return HTMLResponse(html, answer.status, headers=HEADERS)


def _sign_in_page(request: Request, values: dict[str, Any], status: int) -> Response:
    """The sign-in form, with a fresh double-submit value in its cookie and its field."""
    value = secrets.token_urlsafe(24)
    html = templates().get_template("sign_in.html").render(
        {**values, "csrf": value, "user": None, "base": BASE, "scope": None}
    )
    response = HTMLResponse(html, status, headers=HEADERS)
    _cookie(response, request, SIGN_IN_COOKIE, value, max_age=3600)
    return response


def _redirect_answer(request: Request, state: AppState, answer: Redirect) -> Response:
    response = _redirect(answer.location, request)
    if answer.session is not None:
        max_age = state.settings.dashboard_session_seconds
        _cookie(response, request, SESSION_COOKIE, answer.session, max_age=max_age)
        response.delete_cookie(SIGN_IN_COOKIE, path=BASE)
    if answer.end_session:
        response.delete_cookie(SESSION_COOKIE, path=BASE, secure=_secure(request),
                               httponly=True, samesite="lax")  # fmt: skip
    return response


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=BASE, secure=_secure(request), httponly=True,
        samesite="lax",
    )  # fmt: skip


def _redirect(location: str, request: Request) -> Response:
    return RedirectResponse(location, 303, headers=HEADERS)


def _error_page(request: Request, error: RunnerhubError) -> Response:
    """The error's own status and message; a 404 says no more than the API's does."""
    status = error.status
    title = {404: "Not Found", 403: "Forbidden"}.get(status, "Something went wrong")
    message = error.message
    if status == 404:
        message = "This page does not exist, or you may not see it."
    html = templates().get_template("error.html").render(
        {"title": title, "message": message, "status": status, "user": None, "base": BASE,
         "scope": None}
    )  # fmt: skip
    return HTMLResponse(html, status, headers=HEADERS)


# -- GET /: GitHub's API index for API clients, the dashboard for browsers


def prefers_html(accept: str) -> bool:
    """`Accept` names text/html at least as strongly as any JSON type (browsers list
    text/html first and never JSON; API clients send JSON types or */*)."""
    html, json = 0.0, 0.0
    for part in accept.split(","):
        kind, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = kind.strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            html = max(html, quality)
        elif kind == "application/json" or kind.startswith("application/vnd.github"):
            json = max(json, quality)
    return html > 0 and html >= json


def root_for_browsers(
    api_root: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def root(request: Request) -> Response:
        if prefers_html(request.headers.get("accept", "")):
            return RedirectResponse(BASE, 302, headers={"Vary": "Accept"})
        return await api_root(request)

    return root


def dashboard_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route(page.path, page_endpoint(page), methods=[page.method]) for page in PAGES
    ]
    static = StaticFiles(packages=[("runnerhub.web", "static")])
    return [Mount(f"{BASE}/static", app=static, name="dashboard-static"), *routes]


__all__ = ["PAGES", "dashboard_routes", "prefers_html", "root_for_browsers"]
