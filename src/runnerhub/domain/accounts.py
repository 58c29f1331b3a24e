"""Administration of users, organizations, enterprises, repositories and access tokens.

The command line drives these; every mistake an operator can make is a UserError with a
one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runnerhub.auth import secrets
from runnerhub.auth.principals import TokenKind
from runnerhub.domain.scopes import ScopeKind
from runnerhub.errors import UserError
from runnerhub.storage import accounts, tokens
from runnerhub.storage.unit_of_work import UnitOfWork

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
CLASSIC_SCOPES = frozenset(
    {
        "repo",
        "public_repo",
        "admin:org",
        "write:org",
        "read:org",
        "manage_runners:enterprise",
        "admin:enterprise",
        "read:user",
        "user",
        "admin:repo_hook",
        "write:repo_hook",
        "read:repo_hook",
        "admin:org_hook",
    }
)
FINE_GRAINED_PERMISSIONS = frozenset(
    {"administration", "organization_self_hosted_runners", "repository_hooks",
     "organization_hooks"}
)  # fmt: skip
_NOTE_MAX = 200


@dataclass(frozen=True, slots=True)
class TokenRequest:
    login: str
    scopes: tuple[str, ...] = ()
    permissions: tuple[tuple[str, str], ...] = ()
    org: str | None = None
    repos: tuple[str, ...] = ()
    expires_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token as an operator may see it: never the token, only its prefix."""

    id: int
    login: str
    kind: str
    prefix: str | None  # None for tokens made before prefixes were kept
    note: str | None
    grants: str  # classic: scopes; fine-grained: name=level permissions
    created_at: datetime
    expires_at: datetime | None


def create_user(uow: UnitOfWork, login: str, now: datetime, *, site_admin: bool = False) -> int:
    conn = uow.conn
    _check_login(uow, login)
    return accounts.insert_account(conn, login=login, type_="User", now=now, site_admin=site_admin)


def create_enterprise(uow: UnitOfWork, slug: str, owner: str, now: datetime) -> int:
    conn = uow.conn
    if not _LOGIN.match(slug):
        raise UserError(f"invalid enterprise slug {slug!r}")
    if accounts.enterprise_by_slug_or_id(conn, slug) is not None:
        raise UserError(f"enterprise {slug!r} already exists")
    owner_id = _user_id(uow, owner)
    scope_id = accounts.new_scope(conn, ScopeKind.ENTERPRISE)
    return accounts.insert_enterprise(
        conn, slug=slug, owner_id=owner_id, scope_id=scope_id, now=now
    )


def create_org(
    uow: UnitOfWork, login: str, admin: str, now: datetime, *, enterprise: str | None = None
) -> int:
    conn = uow.conn
    _check_login(uow, login)
    admin_id = _user_id(uow, admin)
    enterprise_id = None
    if enterprise is not None:
        row = accounts.enterprise_by_slug_or_id(conn, enterprise)
        if row is None:
            raise UserError(f"no enterprise {enterprise!r}")
        enterprise_id = row.id
    scope_id = accounts.new_scope(conn, ScopeKind.ORGANIZATION)
    org_id = accounts.insert_account(
        conn,
        login=login,
        type_="Organization",
        now=now,
        enterprise_id=enterprise_id,
        scope_id=scope_id,
    )
    accounts.set_org_role(conn, org_id, admin_id, "admin")
    return org_id


def add_org_member(uow: UnitOfWork, org: str, login: str, role: str) -> None:
    conn = uow.conn
    if role not in ("admin", "member"):
        raise UserError(f"role must be admin or member, not {role!r}")
    org_row = accounts.account_by_login(conn, org)
    if org_row is None or org_row.type != "Organization":
        raise UserError(f"no organization {org!r}")
    accounts.set_org_role(conn, org_row.id, _user_id(uow, login), role)


def create_repo(
    uow: UnitOfWork,
    full_name: str,
    now: datetime,
    *,
    admin: str | None = None,
    private: bool = False,
    collaborators: tuple[tuple[str, str], ...] = (),
) -> int:
    conn = uow.conn
    owner, _, name = full_name.partition("/")
    if not owner or not _REPO_NAME.match(name):
        raise UserError(f"repository must be OWNER/NAME, not {full_name!r}")
    owner_row = accounts.account_by_login(conn, owner)
    if owner_row is None:
        raise UserError(f"no user or organization {owner!r}")
    if accounts.repository(conn, owner, name) is not None:
        raise UserError(f"repository {full_name!r} already exists")
    scope_id = accounts.new_scope(conn, ScopeKind.REPOSITORY)
    repo_id = accounts.insert_repository(
        conn, owner_id=owner_row.id, name=name, private=private, scope_id=scope_id, now=now
    )
    grants = ((admin, "admin"), *collaborators) if admin else collaborators
    for login, permission in grants:
        add_collaborator(uow, repo_id, login, permission)
    return repo_id


def add_collaborator(uow: UnitOfWork, repo_id: int, login: str, permission: str) -> None:
    conn = uow.conn
    if permission not in ("admin", "write", "read"):
        raise UserError(f"permission must be admin, write or read, not {permission!r}")
    accounts.insert_collaborator(conn, repo_id, _user_id(uow, login), permission)


def create_token(uow: UnitOfWork, request: TokenRequest, now: datetime) -> str:
    conn = uow.conn
    user_id = _user_id(uow, request.login)
    if request.expires_at is not None and request.expires_at <= now:
        raise UserError("the expiry must lie in the future")
    _check_note(request.note)
    if request.permissions:
        return _fine_grained(uow, user_id, request, now)
    unknown = set(request.scopes) - CLASSIC_SCOPES
    if unknown:
        raise UserError(
            f"unknown scope(s): {', '.join(sorted(unknown))}; valid scopes: {scope_names()}"
        )
    token = secrets.classic_token()
    tokens.insert_api_token(
        conn,
        user_id=user_id,
        token_hash=secrets.hash_token(token),
        kind=TokenKind.CLASSIC.value,
        scopes=",".join(request.scopes),
        permissions="",
        resource_owner_id=None,
        repository_selection=None,
        repository_ids=(),
        expires_at=request.expires_at,
        now=now,
        token_prefix=display_prefix(token),
        note=request.note,
    )
    return token


def _fine_grained(uow: UnitOfWork, user_id: int, request: TokenRequest, now: datetime) -> str:
    conn = uow.conn
    for name, level in request.permissions:
        if name not in FINE_GRAINED_PERMISSIONS:
            raise UserError(f"unknown permission {name!r}; valid permissions: {permission_names()}")
        if level not in ("read", "write"):
            raise UserError(f"permission {name} takes read or write, not {level!r}")
    owner_id, selection, repo_ids = _token_resources(uow, user_id, request)
    token = secrets.fine_grained_token()
    tokens.insert_api_token(
        conn,
        user_id=user_id,
        token_hash=secrets.hash_token(token),
        kind=TokenKind.FINE_GRAINED.value,
        scopes="",
        permissions=",".join(f"{n}={lv}" for n, lv in request.permissions),
        resource_owner_id=owner_id,
        repository_selection=selection,
        repository_ids=repo_ids,
        expires_at=request.expires_at,
        now=now,
        token_prefix=display_prefix(token),
        note=request.note,
    )
    return token


def list_tokens(uow: UnitOfWork, login: str) -> list[TokenInfo]:
    conn = uow.conn
    rows = tokens.api_tokens_of_user(conn, _user_id(uow, login))
    return [_token_info(row, login) for row in rows]


def revoke_token(uow: UnitOfWork, token_id: int) -> TokenInfo:
    """Delete the token: the next request that carries it gets 401 Bad credentials."""
    conn = uow.conn
    row = tokens.api_token_by_id(conn, token_id)
    if row is None:
        raise UserError(f"no token with id {token_id}")
    owner = accounts.account_by_id(conn, row.user_id)
    assert owner is not None
    tokens.delete_api_token(conn, token_id)
    return _token_info(row, owner.login)


def display_prefix(token: str) -> str:
    """The kind's prefix and 4 random characters (about 24 bits): enough to tell a user's
    tokens apart, far too little to guess the rest."""
    kind_prefix = "github_pat_" if token.startswith("github_pat_") else "ghp_"
    return token[: len(kind_prefix) + 4]


def scope_names() -> str:
    return ", ".join(sorted(CLASSIC_SCOPES))


def permission_names() -> str:
    return ", ".join(sorted(FINE_GRAINED_PERMISSIONS))


def _token_info(row: Any, login: str) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        login=login,
        kind=row.kind,
        prefix=row.token_prefix,
        note=row.note,
        grants=row.scopes if row.kind == TokenKind.CLASSIC.value else row.permissions,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _check_note(note: str | None) -> None:
    if note is not None and (len(note) > _NOTE_MAX or not note.isprintable()):
        raise UserError(f"a note is one line of at most {_NOTE_MAX} printable characters")


def _token_resources(
    uow: UnitOfWork, user_id: int, request: TokenRequest
) -> tuple[int, str, list[int]]:
    """A fine-grained token reaches one resource owner: all of an organization's
    repositories (--org) or chosen repositories of one owner (--repo)."""
    conn = uow.conn
    if request.org and request.repos:
        raise UserError("give --org or --repo, not both")
    if request.org:
        org = accounts.account_by_login(conn, request.org)
        if org is None or org.type != "Organization":
            raise UserError(f"no organization {request.org!r}")
        return org.id, "all", []
    if not request.repos:
        raise UserError("a fine-grained token needs --org ORG or --repo OWNER/NAME")
    rows = []
    for full_name in request.repos:
        owner, _, name = full_name.partition("/")
        row = accounts.repository(conn, owner, name)
        if row is None:
            raise UserError(f"no repository {full_name!r}")
        rows.append(row)
    owners = {row.owner_id for row in rows}
    if len(owners) != 1:
        raise UserError("the repositories of one token must share an owner")
    return owners.pop(), "selected", [row.id for row in rows]


def _user_id(uow: UnitOfWork, login: str) -> int:
    conn = uow.conn
    row = accounts.account_by_login(conn, login)
    if row is None or row.type != "User":
        raise UserError(f"no user {login!r}")
    return int(row.id)


def _check_login(uow: UnitOfWork, login: str) -> None:
    conn = uow.conn
    if not _LOGIN.match(login):
        raise UserError(f"invalid login {login!r}")
    if accounts.account_by_login(conn, login) is not None:
        raise UserError(f"login {login!r} is already taken")
