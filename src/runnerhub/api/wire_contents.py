"""Workflow files and their commits in the contents API's shapes (content-file,
content-directory, file-commit), every URL under this server."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from runnerhub.api.wire import timestamp
from runnerhub.api.wire_accounts import node_id
from runnerhub.api.wire_actions import Site, noreply
from runnerhub.domain.models import Commit, ContentFile

BRANCH = "main"


def entry(f: ContentFile, site: Site) -> dict[str, Any]:
    """A file as a directory listing and a file-commit show it: no content."""
    path = quote(f.path)
    url = f"{site.repo_api}/contents/{path}?ref={BRANCH}"
    git_url = f"{site.repo_api}/git/blobs/{f.sha}"
    html_url = f"{site.repo_web}/blob/{BRANCH}/{path}"
    return {
        "type": "file",
        "name": f.name,
        "path": f.path,
        "sha": f.sha,
        "size": len(f.content),
        "url": url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": f"{site.repo_web}/raw/{BRANCH}/{path}",
        "_links": {"self": url, "git": git_url, "html": html_url},
    }


def content_file(f: ContentFile, site: Site) -> dict[str, Any]:
    return {**entry(f, site), "content": encoded(f.content), "encoding": "base64"}


def directory(found: list[ContentFile], site: Site) -> list[dict[str, Any]]:
    return [entry(f, site) for f in found]


def encoded(content: bytes) -> str:
    """Base64 as GitHub sends it: lines of 60 characters, each ending in a newline."""
    text = base64.b64encode(content).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def file_commit(f: ContentFile | None, commit: Commit, author: str, site: Site) -> dict[str, Any]:
    return {
        "content": None if f is None else entry(f, site),
        "commit": _commit(commit, author, site),
    }


def _commit(commit: Commit, author: str, site: Site) -> dict[str, Any]:
    person = {
        "name": author,
        "email": noreply(author, site),
        "date": timestamp(commit.created_at),
    }
    return {
        "sha": commit.sha,
        "node_id": node_id("Commit", int(commit.sha[:12], 16)),
        "url": f"{site.repo_api}/git/commits/{commit.sha}",
        "html_url": f"{site.repo_web}/commit/{commit.sha}",
        "author": person,
        "committer": person,
        "message": commit.message,
        "tree": {"url": f"{site.repo_api}/git/trees/{commit.sha}", "sha": commit.sha},
        "parents": [],  # runnerhub keeps each commit on its own: no history to point at
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }
