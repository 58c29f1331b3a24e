"""The three places runners live: an enterprise, an organization or a repository.

A scope is what runners, labels, groups and tokens are filed under (`scopes.id`); storage
resolves one from a path and every layer above passes it along.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ScopeKind(StrEnum):
    ENTERPRISE = "enterprise"
    ORGANIZATION = "organization"
    REPOSITORY = "repository"


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    id: int  # scopes.id: what runners, labels and tokens are filed under
    subject_id: int  # the enterprise, organization account or repository id
    name: str  # slug, login, or owner/name, in display case
    html_path: str  # where the scope lives on the web: "/enterprises/x", "/org", "/o/r"
    enterprise_id: int | None = None  # the enterprise an organization belongs to
    owner_id: int | None = None  # a repository's owner account
    owner_is_org: bool = False
    private: bool = False
