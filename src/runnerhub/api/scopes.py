"""Where each scope kind is mounted, and how its path names the scope.

A route family is written once (api/runners.py) and mounted for every entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runnerhub.api.gate import Resolver
from runnerhub.domain import scopes
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class ScopeMount:
    kind: ScopeKind
    prefix: str  # "/orgs/{org}"
    resolve: Resolver
    suffix: str  # GitHub's operationId suffix: org, repo or enterprise
    namespace: str  # GitHub's operationId namespace: actions or enterprise-admin

    def operation_id(self, stem: str) -> str:
        """`stem` with its {s} filled; prefixed by the scope's namespace unless it names one."""
        filled = stem.format(s=self.suffix)
        return filled if "/" in filled else f"{self.namespace}/{filled}"


def _enterprise(uow: UnitOfWork, path: Mapping[str, Any]) -> Scope | None:
    return scopes.enterprise(uow, path["enterprise"])


def _organization(uow: UnitOfWork, path: Mapping[str, Any]) -> Scope | None:
    return scopes.organization(uow, path["org"])


def repository(uow: UnitOfWork, path: Mapping[str, Any]) -> Scope | None:
    """`/repos/{owner}/{repo}`: also the resolver of the workflow and contents routes."""
    return scopes.repository(uow, path["owner"], path["repo"])


SCOPE_MOUNTS = (
    ScopeMount(
        ScopeKind.ENTERPRISE, "/enterprises/{enterprise}", _enterprise, "enterprise",
        "enterprise-admin",
    ),
    ScopeMount(ScopeKind.ORGANIZATION, "/orgs/{org}", _organization, "org", "actions"),
    ScopeMount(ScopeKind.REPOSITORY, "/repos/{owner}/{repo}", repository, "repo", "actions"),
)  # fmt: skip
