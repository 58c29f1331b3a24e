"""Users, organizations and repositories as the API shows them to a caller: what clients
fetch on their way to the runner endpoints (PyGithub reads an organization first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runnerhub.auth.permissions import repository_permissions, visible_role
from runnerhub.auth.principals import Principal
from runnerhub.domain import scopes
from runnerhub.errors import NotFound
from runnerhub.storage import accounts
from runnerhub.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    login: str
    type: str  # User | Organization
    name: str | None
    site_admin: bool
    created_at: datetime
    public_repos: int


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    name: str
    private: bool
    created_at: datetime
    owner: Account
    permissions: dict[str, bool] | None  # for an authenticated caller, as GitHub adds it


def user(uow: UnitOfWork, login: str) -> Account:
    return _account(uow, accounts.account_by_login(uow.conn, login))


def user_by_id(uow: UnitOfWork, user_id: int) -> Account:
    return _account(uow, accounts.account_by_id(uow.conn, user_id))


def organization(uow: UnitOfWork, login: str) -> Account:
    found = user(uow, login)
    if found.type != "Organization":
        raise NotFound()
    return found


def repository(uow: UnitOfWork, principal: Principal | None, owner: str, name: str) -> Repository:
    scope = scopes.repository(uow, owner, name)
    if scope is None:
        raise NotFound()
    role = visible_role(uow.conn, principal, scope)
    row = accounts.repository(uow.conn, owner, name)
    assert row is not None
    assert scope.owner_id is not None
    permissions = None if principal is None else repository_permissions(role, scope)
    return Repository(
        id=row.id,
        name=row.name,
        private=bool(row.private),
        created_at=row.created_at,
        owner=user_by_id(uow, scope.owner_id),
        permissions=permissions,
    )


def _account(uow: UnitOfWork, row: Any) -> Account:
    if row is None:
        raise NotFound()
    return Account(
        id=row.id,
        login=row.login,
        type=row.type,
        name=row.name,
        site_admin=bool(row.site_admin),
        created_at=row.created_at,
        public_repos=accounts.public_repo_count(uow.conn, row.id),
    )
