"""Users, organizations, enterprises, repositories, and who may do what in them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, func, select
from sqlalchemy.engine import Connection

from runnerhub.domain.scopes import Scope, ScopeKind
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
            scope_id=scope_id[0], number=1, name="Default", is_default=True, visibility="all"
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


def enterprise_by_slug_or_id(conn: Connection, key: str) -> Row[tuple[object, ...]] | None:
    where = enterprises.c.slug_lower == key.lower()
    if key.isdigit():
        where = where | (enterprises.c.id == int(key))
    return conn.execute(select(enterprises).where(where).order_by(enterprises.c.id)).first()


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


# -- scope resolution: path parameters to a Scope, or None when there is no such thing


def enterprise_scope(conn: Connection, key: str) -> Scope | None:
    row = enterprise_by_slug_or_id(conn, key)
    if row is None:
        return None
    return Scope(
        kind=ScopeKind.ENTERPRISE,
        id=row.scope_id,
        subject_id=row.id,
        name=row.slug,
        html_path=f"/enterprises/{row.slug}",
        enterprise_id=row.id,
    )


def organization_scope(conn: Connection, login: str) -> Scope | None:
    row = account_by_login(conn, login)
    if row is None or row.type != "Organization":
        return None
    return Scope(
        kind=ScopeKind.ORGANIZATION,
        id=row.scope_id,
        subject_id=row.id,
        name=row.login,
        html_path=f"/{row.login}",
        enterprise_id=row.enterprise_id,
    )


def repository_scope(conn: Connection, owner: str, name: str) -> Scope | None:
    row = repository(conn, owner, name)
    if row is None:
        return None
    full_name = f"{row.owner_login}/{row.name}"
    return Scope(
        kind=ScopeKind.REPOSITORY,
        id=row.scope_id,
        subject_id=row.id,
        name=full_name,
        html_path=f"/{full_name}",
        enterprise_id=row.owner_enterprise_id,
        owner_id=row.owner_id,
        owner_is_org=row.owner_type == "Organization",
        private=row.private,
    )


# -- roles: "admin", "read" (can see, cannot administer) or None (a stranger)


def org_role(conn: Connection, org_id: int, user_id: int) -> str | None:
    role = conn.execute(
        select(org_memberships.c.role).where(
            org_memberships.c.org_id == org_id, org_memberships.c.user_id == user_id
        )
    ).scalar()
    if role is None:
        return None
    return "admin" if role == "admin" else "read"


def enterprise_role(conn: Connection, enterprise_id: int, user_id: int) -> str | None:
    owner = conn.execute(
        select(enterprise_owners.c.user_id).where(
            enterprise_owners.c.enterprise_id == enterprise_id,
            enterprise_owners.c.user_id == user_id,
        )
    ).first()
    if owner is not None:
        return "admin"
    member = conn.execute(
        select(func.count())
        .select_from(org_memberships.join(accounts, accounts.c.id == org_memberships.c.org_id))
        .where(org_memberships.c.user_id == user_id, accounts.c.enterprise_id == enterprise_id)
    ).scalar()
    return "read" if member else None


def repository_role(conn: Connection, scope: Scope, user_id: int) -> str | None:
    if scope.owner_id == user_id:
        return "admin"
    permission = conn.execute(
        select(repo_collaborators.c.permission).where(
            repo_collaborators.c.repo_id == scope.subject_id,
            repo_collaborators.c.user_id == user_id,
        )
    ).scalar()
    if permission == "admin":
        return "admin"
    via_org = None
    if scope.owner_is_org and scope.owner_id is not None:
        via_org = org_role(conn, scope.owner_id, user_id)
    if via_org == "admin":  # organization owners administer every repository of theirs
        return "admin"
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
