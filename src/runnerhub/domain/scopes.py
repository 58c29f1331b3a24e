"""The three places runners live: an enterprise, an organization or a repository.

The values are storage's (it resolves them from paths); the domain finds scopes by path.
"""

from __future__ import annotations

from runnerhub.storage import accounts
from runnerhub.storage.scopes import Scope, ScopeKind
from runnerhub.storage.unit_of_work import UnitOfWork

__all__ = ["Scope", "ScopeKind", "enterprise", "organization", "repository"]


def enterprise(uow: UnitOfWork, slug_or_id: str) -> Scope | None:
    return accounts.enterprise_scope(uow.conn, slug_or_id)


def organization(uow: UnitOfWork, login: str) -> Scope | None:
    return accounts.organization_scope(uow.conn, login)


def repository(uow: UnitOfWork, owner: str, name: str) -> Scope | None:
    return accounts.repository_scope(uow.conn, owner, name)
