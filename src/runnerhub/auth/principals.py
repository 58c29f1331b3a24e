"""The caller: a user acting through one personal access token."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TokenKind(StrEnum):
    CLASSIC = "classic"
    FINE_GRAINED = "fine_grained"


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token allows, independent of the user's own roles."""

    kind: TokenKind
    scopes: frozenset[str] = frozenset()
    permissions: dict[str, str] = field(default_factory=dict)  # name -> read | write
    resource_owner_id: int | None = None
    repository_selection: str | None = None  # all | selected
    repository_ids: frozenset[int] = frozenset()

    def permission_level(self, name: str) -> int:
        return {"read": 1, "write": 2}.get(self.permissions.get(name, ""), 0)

    def covers_repository(self, owner_id: int | None, repo_id: int) -> bool:
        if self.resource_owner_id != owner_id:
            return False
        return self.repository_selection == "all" or repo_id in self.repository_ids


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    login: str
    site_admin: bool
    token_id: int
    grant: Grant


def parse_scopes(text: str) -> frozenset[str]:
    return frozenset(s.strip() for s in text.split(",") if s.strip())


def parse_permissions(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {name.strip(): level.strip() for name, level in pairs}
