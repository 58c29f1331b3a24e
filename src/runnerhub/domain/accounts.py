"""Administration of users, organizations, enterprises, repositories and access tokens.

The command line drives these; every mistake an operator can make is a UserError with a
one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from runnerhub.auth import secrets
from runnerhub.auth.principals import TokenKind
from runnerhub.domain.scopes import ScopeKind
from runnerhub.errors import UserError
from runnerhub.storage import accounts, tokens
from runnerhub.storage.tables import (
    enterprise_owners,
    enterprises,
    org_memberships,
    repo_collaborators,
    repositories,
)

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
    }
)
FINE_GRAINED_PERMISSIONS = frozenset({"administration", "organization_self_hosted_runners"})


@dataclass(frozen=True, slots=True)
class TokenRequest:
    login: str
    scopes: tuple[str, ...] = ()
    permissions: tuple[tuple[str, str], ...] = ()
    org: str | None = None
    repos: tuple[str, ...] = ()
    expires_at: datetime | None = None


def create_user(conn: Connection, login: str, now: datetime, *, site_admin: bool = False) -> int:
    _check_login(conn, login)
    return accounts.insert_account(conn, login=login, type_="User", now=now, site_admin=site_admin)


def create_enterprise(conn: Connection, slug: str, owner: str, now: datetime) -> int:
    if not _LOGIN.match(slug):
        raise UserError(f"invalid enterprise slug {slug!r}")
    if accounts.enterprise_by_slug_or_id(conn, slug) is not None:
        raise UserError(f"enterprise {slug!r} already exists")
    owner_id = _user_id(conn, owner)
    scope_id = accounts.new_scope(conn, ScopeKind.ENTERPRISE)
    inserted = conn.execute(
        enterprises.insert().values(
            slug=slug, slug_lower=slug.lower(), name=slug, scope_id=scope_id, created_at=now
        )
    ).inserted_primary_key
    assert inserted is not None
    conn.execute(enterprise_owners.insert().values(enterprise_id=inserted[0], user_id=owner_id))
    return int(inserted[0])


def create_org(
    conn: Connection, login: str, admin: str, now: datetime, *, enterprise: str | None = None
) -> int:
    _check_login(conn, login)
    admin_id = _user_id(conn, admin)
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
    conn.execute(org_memberships.insert().values(org_id=org_id, user_id=admin_id, role="admin"))
    return org_id


def add_org_member(conn: Connection, org: str, login: str, role: str) -> None:
    if role not in ("admin", "member"):
        raise UserError(f"role must be admin or member, not {role!r}")
    org_row = accounts.account_by_login(conn, org)
    if org_row is None or org_row.type != "Organization":
        raise UserError(f"no organization {org!r}")
    user_id = _user_id(conn, login)
    conn.execute(
        org_memberships.delete().where(
            org_memberships.c.org_id == org_row.id, org_memberships.c.user_id == user_id
        )
    )
    conn.execute(org_memberships.insert().values(org_id=org_row.id, user_id=user_id, role=role))


def create_repo(
    conn: Connection,
    full_name: str,
    now: datetime,
    *,
    admin: str | None = None,
    private: bool = False,
    collaborators: tuple[tuple[str, str], ...] = (),
) -> int:
    owner, _, name = full_name.partition("/")
    if not owner or not _REPO_NAME.match(name):
        raise UserError(f"repository must be OWNER/NAME, not {full_name!r}")
    owner_row = accounts.account_by_login(conn, owner)
    if owner_row is None:
        raise UserError(f"no user or organization {owner!r}")
    if accounts.repository(conn, owner, name) is not None:
        raise UserError(f"repository {full_name!r} already exists")
    scope_id = accounts.new_scope(conn, ScopeKind.REPOSITORY)
    inserted = conn.execute(
        repositories.insert().values(
            owner_id=owner_row.id,
            name=name,
            name_lower=name.lower(),
            private=private,
            scope_id=scope_id,
            created_at=now,
        )
    ).inserted_primary_key
    assert inserted is not None
    grants = ((admin, "admin"), *collaborators) if admin else collaborators
    for login, permission in grants:
        add_collaborator(conn, int(inserted[0]), login, permission)
    return int(inserted[0])


def add_collaborator(conn: Connection, repo_id: int, login: str, permission: str) -> None:
    if permission not in ("admin", "write", "read"):
        raise UserError(f"permission must be admin, write or read, not {permission!r}")
    conn.execute(
        repo_collaborators.insert().values(
            repo_id=repo_id, user_id=_user_id(conn, login), permission=permission
        )
    )


def create_token(conn: Connection, request: TokenRequest, now: datetime) -> str:
    user_id = _user_id(conn, request.login)
    if request.expires_at is not None and request.expires_at <= now:
        raise UserError("the expiry must lie in the future")
    if request.permissions:
        return _fine_grained(conn, user_id, request, now)
    unknown = set(request.scopes) - CLASSIC_SCOPES
    if unknown:
        raise UserError(f"unknown scope(s): {', '.join(sorted(unknown))}")
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
    )
    return token


def _fine_grained(conn: Connection, user_id: int, request: TokenRequest, now: datetime) -> str:
    for name, level in request.permissions:
        if name not in FINE_GRAINED_PERMISSIONS or level not in ("read", "write"):
            raise UserError(f"unknown permission {name}={level}")
    owner_id, selection, repo_ids = _token_resources(conn, user_id, request)
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
    )
    return token


def _token_resources(
    conn: Connection, user_id: int, request: TokenRequest
) -> tuple[int, str, list[int]]:
    """A fine-grained token reaches one resource owner: all of an organization's
    repositories (--org) or chosen repositories of one owner (--repo)."""
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


def _user_id(conn: Connection, login: str) -> int:
    row = accounts.account_by_login(conn, login)
    if row is None or row.type != "User":
        raise UserError(f"no user {login!r}")
    return int(row.id)


def _check_login(conn: Connection, login: str) -> None:
    if not _LOGIN.match(login):
        raise UserError(f"invalid login {login!r}")
    if accounts.account_by_login(conn, login) is not None:
        raise UserError(f"login {login!r} is already taken")
