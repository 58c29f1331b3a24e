"""`GET /openapi.json`: what this server serves, as OpenAPI 3.0; `GET /docs`: the same as a
page, grouped by tag.

Built from the declared operations (api/operations.py), so it cannot list what is not
served nor miss what is. Every operation is described from what the code declares (its
path, parameters, permission, and for GitHub's operations a link to GitHub's documentation
of it); given GitHub's own descriptions (`RUNNERHUB_GITHUB_OPENAPI`, api/openapi_subset.py),
GitHub's operations keep GitHub's parameters, request bodies, responses and schemas.
"""

from __future__ import annotations

import copy
import functools
import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import runnerhub
from runnerhub.api.openapi_subset import extract
from runnerhub.api.operations import AppState, Operation
from runnerhub.auth.permissions import Access

GHES_PREFIX = "/api/v3"
_CONVERTOR = re.compile(r"\{(\w+):(\w+)\}")

# The server's own routes that are not operations (no gate, no transaction).
PLAIN = (
    ("GET", "/healthz", "runnerhub/healthz", "The process answers (a liveness probe)."),
    ("GET", "/readyz", "runnerhub/readyz",
     "The database answers and its schema is this code's newest migration (200), or not (503)."),
    ("GET", "/openapi.json", "runnerhub/openapi", "This description."),
    ("GET", "/docs", "runnerhub/docs", "This description as a page."),
)  # fmt: skip

_SECURITY = {
    Access.PUBLIC: [{}, {"token": []}],
    Access.USER: [{"token": []}],
    Access.SCOPE: [{"token": []}],
    Access.RUNNER_TOKEN: [{"remoteAuth": []}],
    Access.RUNNER_CREDENTIALS: [{}],  # a JWT signed by the runner's key, in the body
    Access.RUNNER_SESSION: [{"runnerToken": []}],
}
# dict() for the bearer schemes: the runner files' key names are quoted in runner_config.py
# only (tests/test_agent.py).
SECURITY_SCHEMES = {
    "token": dict(
        type="http", scheme="bearer",
        description="A personal access token (classic or fine-grained), as on GitHub; "
                    "`Authorization: token ...` works too.",
    ),
    "remoteAuth": {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "`RemoteAuth <registration or remove token>`, as the runner sends it.",
    },
    "runnerToken": dict(
        type="http", scheme="bearer",
        description="A runner access token, from POST /_apis/oauth2/token/{client_id}.",
    ),
}  # fmt: skip


@functools.cache
def github_subset(files: tuple[Path, ...], operation_ids: frozenset[str]) -> dict[str, Any]:
    return extract(files, operation_ids)


def document(
    operations: Iterable[Operation], public_url: str, github: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """The description; `github`: GitHub's description files to take GitHub's operations
    from."""
    operations = list(operations)
    subset = github_subset(github, frozenset(op.operation_id for op in operations))
    paths: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    for op in operations:
        path = _CONVERTOR.sub(r"{\1}", op.path)
        entry = _described(op, path, subset["operations"].get(op.operation_id))
        entry["operationId"] = _unique(op.operation_id, path, seen_ids)
        item = paths.setdefault(path, {})
        item[op.method.lower()] = entry
        if not op.rest:  # served at this path only, never under /api/v3
            item["servers"] = [{"url": public_url}]
    for method, path, operation_id, summary in PLAIN:
        entry = _own(operation_id, summary, path, json_body=path != "/docs")
        entry["operationId"] = _unique(operation_id, path, seen_ids)
        paths.setdefault(path, {})[method.lower()] = entry
        paths[path]["servers"] = [{"url": public_url}]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "runnerhub",
            "version": runnerhub.__version__,
            "description": "GitHub's REST API for self-hosted runners, workflows, runs and "
            "jobs, as this runnerhub serves it, at the root (api.github.com style) and under "
            f"{GHES_PREFIX} (GitHub Enterprise Server style); the runner protocol its agents "
            f"speak; and the server's own routes. {_source(subset)}",
        },
        "servers": [{"url": public_url}, {"url": public_url + GHES_PREFIX}],
        "paths": dict(sorted(paths.items())),
        "components": {**subset["components"], "securitySchemes": SECURITY_SCHEMES},
    }


def _source(subset: dict[str, Any]) -> str:
    if subset["info"]:
        return f"GitHub's operations as GitHub describes them: {subset['info']}."
    return (
        "Each of GitHub's operations links to GitHub's documentation of it; set "
        "RUNNERHUB_GITHUB_OPENAPI to GitHub's description files for their schemas."
    )


def _described(op: Operation, path: str, github: dict[str, Any] | None) -> dict[str, Any]:
    if github is not None:
        entry = copy.deepcopy(github)
        entry["tags"] = [_tag(op.operation_id)]
    else:
        first_line = (op.handler.__doc__ or "").strip().split("\n\n")[0]
        summary = " ".join(first_line.split()) or op.operation_id
        entry = _own(op.operation_id, summary, path, json_body=True)
        entry.setdefault("externalDocs", {"url": op.docs_url})
    entry["security"] = _SECURITY[op.permission.access]
    return entry


def _own(operation_id: str, summary: str, path: str, *, json_body: bool) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]
    media = "application/json" if json_body else "text/html"
    entry: dict[str, Any] = {
        "summary": summary,
        "tags": [_tag(operation_id)],
        "responses": {"default": {"description": summary, "content": {media: {}}}},
    }
    if parameters:
        entry["parameters"] = parameters
    return entry


def _tag(operation_id: str) -> str:
    return operation_id.split("/", 1)[0]


def _unique(operation_id: str, path: str, seen: set[str]) -> str:
    """OpenAPI wants each id once; GraphQL is served at two paths under one id."""
    chosen = operation_id
    if chosen in seen:
        chosen = f"{operation_id}{path.replace('/', '-')}"
    seen.add(chosen)
    return chosen


async def openapi_json(request: Request) -> Response:
    return JSONResponse(_document(request))


async def docs(request: Request) -> Response:
    return HTMLResponse(page(_document(request)))


def _document(request: Request) -> dict[str, Any]:
    state: AppState = request.app.state.runnerhub
    cached: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if cached is None:
        served = request.app.state.operations
        url = state.settings.public_url or str(request.base_url).rstrip("/")
        cached = document(served, url, state.settings.github_openapi_files)
        request.app.state.openapi = cached
    return cached


def page(described: dict[str, Any]) -> str:
    """Operations grouped by tag, each with its method, path, summary and GitHub's docs."""
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in described["paths"].items():
        for method, op in item.items():
            if method != "servers":
                groups.setdefault(op["tags"][0], []).append((method.upper(), path, op))
    e = html.escape
    sections = []
    for tag in sorted(groups):
        rows = "".join(
            f"<tr><td><code>{e(method)}</code></td><td><code>{e(path)}</code></td>"
            f"<td>{_summary(op)}</td><td><code>{e(op['operationId'])}</code></td></tr>"
            for method, path, op in sorted(groups[tag], key=lambda row: (row[1], row[0]))
        )
        sections.append(
            f'<section><h2 id="{e(tag)}">{e(tag)}</h2><table><thead><tr><th>method</th>'
            f"<th>path</th><th>what</th><th>operation id</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>"
        )
    servers = ", ".join(f"<code>{e(s['url'])}</code>" for s in described["servers"])
    index = " · ".join(f'<a href="#{e(tag)}">{e(tag)}</a>' for tag in sorted(groups))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>runnerhub API</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>runnerhub API</h1><p>{e(described['info']['description'])}</p>"
        f"<p>Served at {servers}. The machine-readable description: "
        f'<a href="openapi.json">openapi.json</a>.</p><nav>{index}</nav>'
        f"{''.join(sections)}</main></body></html>"
    )


def _summary(op: dict[str, Any]) -> str:
    text = html.escape(op.get("summary", ""))
    url = op.get("externalDocs", {}).get("url")
    return f'<a href="{html.escape(url)}">{text}</a>' if url else text


_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1f2328}"
    "main{max-width:72rem;margin:auto;padding:1rem 2rem}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #d0d7de;"
    "vertical-align:top}code{font-size:13px}a{color:#0969da}"
)

ROUTES = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
