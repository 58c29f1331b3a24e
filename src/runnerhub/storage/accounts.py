"""Users, organizations, enterprises, repositories, and who may do what in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.scopes import Scope, ScopeKind
from runnerhub.storage.tables import (
    accounts,
    enterprise_owners,
    enterprises,
    org_memberships,
    repo_collaborators,
    repositories,
    runner_groups,
    scopes,
)


def new_scope(conn: Connection, kind: ScopeKind) -> int:
    scope_id = conn.execute(scopes.insert().values(kind=kind.value)).inserted_primary_key
    assert scope_id is not None
    conn.execute(
        runner_groups.insert().values(
            scope_id=scope_id[0],
            number=1,
            name="Default",
            name_lower="default",
            is_default=True,
            visibility="all",
            # GitHub's organization Default allows public repositories; its enterprise one not.
            allows_public_repositories=kind is not ScopeKind.ENTERPRISE,
        )
    )
    return int(scope_id[0])


def account_by_login(conn: Connection, login: str) -> Row[tuple[object, ...]] | None:
    return conn.execute(select(accounts).where(accounts.c.login_lower == login.lower())).first()


def account_by_id(conn: Connection, account_id: int) -> Row[tuple[object, ...]] | None:
    return conn.execute(select(accounts).where(accounts.c.id == account_id)).first()


def insert_account(
    conn: Connection,
    *,
    login: str,
    type_: str,
    now: datetime,
    site_admin: bool = False,
    enterprise_id: int | None = None,
    scope_id: int | None = None,
) -> int:
    result = conn.execute(
        accounts.insert().values(
            login=login,
            login_lower=login.lower(),
            type=type_,
            site_admin=site_admin,
            enterprise_id=enterprise_id,
            scope_id=scope_id,
            created_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def _as_id(key: str) -> int | None:
    """An enterprise named by number: an id only when it is one (ASCII digits, 64-bit)."""
    if not (key.isascii() and key.isdigit() and len(key) <= 19):
        return None
    number = int(key)
    return number if 0 < number < 2**63 else None


def enterprise_by_slug_or_id(conn: Connection, key: str) -> Row[tuple[object, ...]] | None:
    where = enterprises.c.slug_lower == key.lower()
    if _as_id(key) is not None:
        where = where | (enterprises.c.id == _as_id(key))
    return conn.execute(select(enterprises).where(where).order_by(enterprises.c.id)).first()


def enterprise_by_id(conn: Connection, enterprise_id: int) -> Row[tuple[object, ...]] | None:
    return conn.execute(select(enterprises).where(enterprises.c.id == enterprise_id)).first()


def enterprise_of_org(conn: Connection, org_id: int) -> int | None:
    found = sql.fetch_one(conn, "SELECT enterprise_id FROM accounts WHERE id = :id", id=org_id)
    return None if found is None or found[0] is None else int(found[0])


def repository(conn: Connection, owner: str, name: str) -> Row[tuple[object, ...]] | None:
    query = (
        select(
            repositories,
            accounts.c.login.label("owner_login"),
            accounts.c.type.label("owner_type"),
            accounts.c.enterprise_id.label("owner_enterprise_id"),
        )
        .join(accounts, accounts.c.id == repositories.c.owner_id)
        .where(accounts.c.login_lower == owner.lower(), repositories.c.name_lower == name.lower())
    )
    return conn.execute(query).first()


def insert_enterprise(
    conn: Connection, *, slug: str, owner_id: int, scope_id: int, now: datetime
) -> int:
    result = conn.execute(
        enterprises.insert().values(
            slug=slug, slug_lower=slug.lower(), name=slug, scope_id=scope_id, created_at=now
        )
    )
    assert result.inserted_primary_key is not None
    enterprise_id = int(result.inserted_primary_key[0])
    conn.execute(enterprise_owners.insert().values(enterprise_id=enterprise_id, user_id=owner_id))
    return enterprise_id


def set_org_role(conn: Connection, org_id: int, user_id: int, role: str) -> None:
    """Make the user a member of the organization with this role, replacing any other."""
    conn.execute(
        org_memberships.delete().where(
            org_memberships.c.org_id == org_id, org_memberships.c.user_id == user_id
        )
    )
    conn.execute(org_memberships.insert().values(org_id=org_id, user_id=user_id, role=role))


def insert_repository(
    conn: Connection, *, owner_id: int, name: str, private: bool, scope_id: int, now: datetime
) -> int:
    result = conn.execute(
        repositories.insert().values(
            owner_id=owner_id,
            name=name,
            name_lower=name.lower(),
            private=private,
            scope_id=scope_id,
            created_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def insert_collaborator(conn: Connection, repo_id: int, user_id: int, permission: str) -> None:
    conn.execute(
        repo_collaborators.insert().values(repo_id=repo_id, user_id=user_id, permission=permission)
    )


# -- scope resolution and roles, read on every request: hand-written SQL (storage/sql.py)

_ENTERPRISE = "SELECT id, slug, scope_id FROM enterprises WHERE slug_lower = :key"
_ENTERPRISE_BY_ID = "SELECT id, slug, scope_id FROM enterprises WHERE id = :id"
_ORGANIZATION = """
    SELECT id, login, scope_id, enterprise_id FROM accounts
    WHERE login_lower = :login AND type = 'Organization'
"""
_REPOSITORY_COLUMNS = """
    SELECT r.id, r.name, r.private, r.scope_id, a.id, a.login, a.type, a.enterprise_id
    FROM repositories r JOIN accounts a ON a.id = r.owner_id
"""
_REPOSITORY = _REPOSITORY_COLUMNS + " WHERE a.login_lower = :owner AND r.name_lower = :name"
_REPOSITORY_OF_SCOPE = _REPOSITORY_COLUMNS + " WHERE r.scope_id = :scope"
_ORG_ROLE = "SELECT role FROM org_memberships WHERE org_id = :org AND user_id = :user"
_ENTERPRISE_OWNER = """
    SELECT 1 FROM enterprise_owners WHERE enterprise_id = :enterprise AND user_id = :user
"""
_ENTERPRISE_MEMBER = """
    SELECT 1 FROM org_memberships m JOIN accounts a ON a.id = m.org_id
    WHERE m.user_id = :user AND a.enterprise_id = :enterprise LIMIT 1
"""
_COLLABORATOR = (
    "SELECT permission FROM repo_collaborators WHERE repo_id = :repo AND user_id = :user"
)


def enterprise_scope(conn: Connection, key: str) -> Scope | None:
    found = sql.fetch_one(conn, _ENTERPRISE, key=key.lower())
    enterprise_id = _as_id(key)
    if found is None and enterprise_id is not None:
        found = sql.fetch_one(conn, _ENTERPRISE_BY_ID, id=enterprise_id)
    if found is None:
        return None
    enterprise_id, slug, scope_id = found
    return Scope(
        kind=ScopeKind.ENTERPRISE,
        id=scope_id,
        subject_id=enterprise_id,
        name=slug,
        html_path=f"/enterprises/{slug}",
        enterprise_id=enterprise_id,
    )


def organization_scope(conn: Connection, login: str) -> Scope | None:
    found = sql.fetch_one(conn, _ORGANIZATION, login=login.lower())
    if found is None:
        return None
    org_id, display, scope_id, enterprise_id = found
    return Scope(
        kind=ScopeKind.ORGANIZATION,
        id=scope_id,
        subject_id=org_id,
        name=display,
        html_path=f"/{display}",
        enterprise_id=enterprise_id,
    )


def repository_scope(conn: Connection, owner: str, name: str) -> Scope | None:
    found = sql.fetch_one(conn, _REPOSITORY, owner=owner.lower(), name=name.lower())
    return None if found is None else _repository_scope(found)


def repository_scope_of(conn: Connection, scope_id: int) -> Scope | None:
    """The repository whose scope is `scope_id` (jobs keep the scope, not the names)."""
    found = sql.fetch_one(conn, _REPOSITORY_OF_SCOPE, scope=scope_id)
    return None if found is None else _repository_scope(found)


def _repository_scope(found: tuple[Any, ...]) -> Scope:
    repo_id, repo_name, private, scope_id, owner_id, owner_login, owner_type, enterprise_id = found
    full_name = f"{owner_login}/{repo_name}"
    return Scope(
        kind=ScopeKind.REPOSITORY,
        id=scope_id,
        subject_id=repo_id,
        name=full_name,
        html_path=f"/{full_name}",
        enterprise_id=enterprise_id,
        owner_id=owner_id,
        owner_is_org=owner_type == "Organization",
        private=bool(private),
    )


# -- roles: "admin", "write" (repositories: may push, run workflows), "read" (can see)
# or None (a stranger)


def org_role(conn: Connection, org_id: int, user_id: int) -> str | None:
    found = sql.fetch_one(conn, _ORG_ROLE, org=org_id, user=user_id)
    if found is None:
        return None
    return "admin" if found[0] == "admin" else "read"


def enterprise_role(conn: Connection, enterprise_id: int, user_id: int) -> str | None:
    if sql.fetch_one(conn, _ENTERPRISE_OWNER, enterprise=enterprise_id, user=user_id):
        return "admin"
    member = sql.fetch_one(conn, _ENTERPRISE_MEMBER, enterprise=enterprise_id, user=user_id)
    return "read" if member else None


def repository_role(conn: Connection, scope: Scope, user_id: int) -> str | None:
    if scope.owner_id == user_id:
        return "admin"
    found = sql.fetch_one(conn, _COLLABORATOR, repo=scope.subject_id, user=user_id)
    permission = None if found is None else found[0]
    if permission == "admin":
        return "admin"
    via_org = None
    if scope.owner_is_org and scope.owner_id is not None:
        via_org = org_role(conn, scope.owner_id, user_id)
    if via_org == "admin":  # organization owners administer every repository of theirs
        return "admin"
    if permission == "write":
        return "write"
    return "read" if (permission or via_org) else None


def role_in(conn: Connection, scope: Scope, user_id: int) -> str | None:
    if scope.kind is ScopeKind.REPOSITORY:
        return repository_role(conn, scope, user_id)
    if scope.kind is ScopeKind.ORGANIZATION:
        return org_role(conn, scope.subject_id, user_id)
    return enterprise_role(conn, scope.subject_id, user_id)


def public_repo_count(conn: Connection, owner_id: int) -> int:
    query = select(func.count()).where(
        repositories.c.owner_id == owner_id, repositories.c.private.is_(False)
    )
    return int(conn.execute(query).scalar_one())


def routing_scopes(conn: Connection, repo: Scope) -> tuple[int | None, int | None]:
    """The scopes whose runners may also take a repository's jobs: its owner organization's
    and that organization's enterprise's (None where there is none)."""
    org_scope = None
    if repo.owner_is_org and repo.owner_id is not None:
        org_scope = conn.execute(
            select(accounts.c.scope_id).where(accounts.c.id == repo.owner_id)
        ).scalar()
    enterprise_scope = None
    if repo.enterprise_id is not None:
        enterprise_scope = conn.execute(
            select(enterprises.c.scope_id).where(enterprises.c.id == repo.enterprise_id)
        ).scalar()
    return org_scope, enterprise_scope
