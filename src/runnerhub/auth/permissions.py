"""The permission vocabulary routes declare, and the one policy that checks it.

A runner endpoint needs two things at once, as on GitHub:
- the token's grant: a classic scope (`repo`, `admin:org`, `manage_runners:enterprise`) or a
  fine-grained permission (`administration`, `organization_self_hosted_runners`) at the right
  level, on the right resource owner;
- the user's own role: admin of the repository, the organization (whose admins administer its
  repositories) or owner of the enterprise.

What the caller may not even see answers 404; what they can see but not administer answers 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from sqlalchemy.engine import Connection

from runnerhub.auth.authenticate import REQUIRES_AUTHENTICATION
from runnerhub.auth.principals import Principal, TokenKind
from runnerhub.errors import Forbidden, NotFound, Unauthorized
from runnerhub.storage import accounts
from runnerhub.storage.scopes import Scope, ScopeKind

MUST_BE_ADMIN = "Must have admin rights to Repository."
MUST_WRITE = "Must have write access to repository."
NOT_ACCESSIBLE = "Resource not accessible by personal access token"


class Access(StrEnum):
    """Who may call at all, and how they prove it."""

    PUBLIC = "public"  # anyone; a personal access token is optional
    USER = "user"  # any valid personal access token
    SCOPE = "scope"  # a role and a grant in the scope the path names (checked by `authorize`)
    # The runner protocol: the agent authenticates itself, not a user.
    RUNNER_TOKEN = "runner-token"  # noqa: S105 (RemoteAuth with a registration/remove token)
    RUNNER_CREDENTIALS = "runner-credentials"  # a JWT signed by the runner's key
    RUNNER_SESSION = "runner-session"  # a runner access token


AGENT_ACCESS = frozenset({Access.RUNNER_TOKEN, Access.RUNNER_CREDENTIALS, Access.RUNNER_SESSION})


class Level(IntEnum):
    READ = 1
    WRITE = 2


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one permission accepts at one scope kind, as GitHub's headers state it."""

    classic_scopes: tuple[str, ...]
    fine_grained: str | None  # the fine-grained permission name; None: not supported
    # The classic scope that also serves for a public repository (None: only those above).
    public_repository_scope: str | None = "public_repo"

    def accepted_scopes(self) -> str:
        return ", ".join(self.classic_scopes)

    def accepted_permissions(self, level: Level) -> str:
        if self.fine_grained is None:
            return ""
        return f"{self.fine_grained}={'write' if level is Level.WRITE else 'read'}"


@dataclass(frozen=True, slots=True, eq=False)
class Permission:
    """What a route needs. Everything the policy decides on is data here: a new permission
    (runner groups, workflows, webhooks) is a new value, never a new branch."""

    name: str
    access: Access
    level: Level = Level.READ
    requirements: Mapping[ScopeKind, Requirement] = field(default_factory=dict)
    role: str = "admin"  # the least role the scope must give the caller
    # Readable by anyone who can see the scope, token or not (a public repository's runs).
    public: bool = False
    anonymous_message: str = REQUIRES_AUTHENTICATION  # the 401 for a call without a token

    @property
    def agent(self) -> bool:
        return self.access in AGENT_ACCESS

    def requirement(self, kind: ScopeKind) -> Requirement:
        return self.requirements[kind]

    def __repr__(self) -> str:
        return f"Permission({self.name})"


ROLE_RANK = {"read": 1, "write": 2, "admin": 3}

# Administering self-hosted runners, as GitHub's runner endpoints document it.
RUNNER_ADMINISTRATION = {
    ScopeKind.REPOSITORY: Requirement(("repo",), "administration"),
    ScopeKind.ORGANIZATION: Requirement(("admin:org",), "organization_self_hosted_runners"),
    ScopeKind.ENTERPRISE: Requirement(("manage_runners:enterprise", "admin:enterprise"), None),
}

PUBLIC = Permission("public", Access.PUBLIC)
AUTHENTICATED = Permission("authenticated", Access.USER)
RUNNERS_READ = Permission("runners:read", Access.SCOPE, Level.READ, RUNNER_ADMINISTRATION)
RUNNERS_WRITE = Permission("runners:write", Access.SCOPE, Level.WRITE, RUNNER_ADMINISTRATION)
# Runner groups: organizations and enterprises only, with the runner endpoints' grants
# (GitHub documents `admin:org` / "Self-hosted runners" and `manage_runners:enterprise`).
RUNNER_GROUP_ADMINISTRATION = {
    kind: RUNNER_ADMINISTRATION[kind] for kind in (ScopeKind.ORGANIZATION, ScopeKind.ENTERPRISE)
}
RUNNER_GROUPS_READ = Permission(
    "runner-groups:read", Access.SCOPE, Level.READ, RUNNER_GROUP_ADMINISTRATION
)
RUNNER_GROUPS_WRITE = Permission(
    "runner-groups:write", Access.SCOPE, Level.WRITE, RUNNER_GROUP_ADMINISTRATION
)
# Workflows, runs and jobs; workflow files through the contents API.
ACTIONS = {ScopeKind.REPOSITORY: Requirement(("repo",), "actions")}
CONTENTS = {ScopeKind.REPOSITORY: Requirement(("repo",), "contents")}
ACTIONS_READ = Permission("actions:read", Access.SCOPE, Level.READ, ACTIONS, "read", public=True)
ACTIONS_WRITE = Permission("actions:write", Access.SCOPE, Level.WRITE, ACTIONS, "write")
CONTENTS_READ = Permission("contents:read", Access.SCOPE, Level.READ, CONTENTS, "read", public=True)
CONTENTS_WRITE = Permission("contents:write", Access.SCOPE, Level.WRITE, CONTENTS, "write")
# Environments: read as workflows are; created, changed and deleted by repository admins
# ("Administration" fine-grained). A deployment review needs read access and "Deployments";
# being a required reviewer is the domain's to check.
ENVIRONMENTS_WRITE = Permission(
    "environments:write", Access.SCOPE, Level.WRITE,
    {ScopeKind.REPOSITORY: Requirement(("repo",), "administration")},
)  # fmt: skip
DEPLOYMENT_REVIEWS = Permission(
    "deployments:write", Access.SCOPE, Level.WRITE,
    {ScopeKind.REPOSITORY: Requirement(("repo",), "deployments")}, "read",
)  # fmt: skip
# Webhooks (GitHub's documented grants: `read:repo_hook` / `write:repo_hook` /
# `admin:repo_hook` or `repo`, and `admin:org_hook`; fine-grained "Webhooks").
# `public_repo` is not among them: it grants no webhook access, even to a public repository.
HOOKS_READABLE = {
    ScopeKind.REPOSITORY: Requirement(
        ("read:repo_hook", "write:repo_hook", "admin:repo_hook", "repo"), "repository_hooks",
        public_repository_scope=None,
    ),
    ScopeKind.ORGANIZATION: Requirement(("admin:org_hook",), "organization_hooks"),
}
HOOKS_WRITABLE = {
    ScopeKind.REPOSITORY: Requirement(
        ("write:repo_hook", "admin:repo_hook", "repo"), "repository_hooks",
        public_repository_scope=None,
    ),
    ScopeKind.ORGANIZATION: Requirement(("admin:org_hook",), "organization_hooks"),
}
HOOKS_READ = Permission("hooks:read", Access.SCOPE, Level.READ, HOOKS_READABLE)
HOOKS_WRITE = Permission("hooks:write", Access.SCOPE, Level.WRITE, HOOKS_WRITABLE)
# GitHub's GraphQL API: any valid token; each field decides what the caller may see.
GRAPHQL = Permission(
    "graphql", Access.USER, anonymous_message="This endpoint requires you to be authenticated."
)
RUNNER_TOKEN = Permission("runner:token", Access.RUNNER_TOKEN)
RUNNER_CREDENTIALS = Permission("runner:credentials", Access.RUNNER_CREDENTIALS)
RUNNER_SESSION = Permission("runner:session", Access.RUNNER_SESSION)


def require_user(principal: Principal | None, message: str = REQUIRES_AUTHENTICATION) -> Principal:
    if principal is None:
        raise Unauthorized(message, failed_login=False)
    return principal


def authorize(
    conn: Connection, principal: Principal | None, scope: Scope, permission: Permission
) -> None:
    """The caller may use `permission` in `scope`: 404 when they may not even see it, 403
    when their token or their role falls short."""
    if permission.public and can_see(None, scope, None):
        return  # a public repository's runs and files: anyone may read them
    user = require_user(principal)
    role = accounts.role_in(conn, scope, user.user_id)
    if not can_see(user, scope, role):
        raise NotFound()
    requirement = permission.requirement(scope.kind)
    if user.grant.kind is TokenKind.CLASSIC:
        if not _classic_grant_allows(user, scope, requirement):
            raise _refused(permission, requirement)
    elif not _fine_grained_grant_allows(user, scope, requirement, permission.level):
        raise _refused(permission, requirement, NOT_ACCESSIBLE)
    if ROLE_RANK.get(role or "", 0) < ROLE_RANK[permission.role]:
        raise _refused(permission, requirement)


def _refused(
    permission: Permission, requirement: Requirement, message: str | None = None
) -> Forbidden:
    """The 403, made only when it is raised (every allowed call passes here)."""
    return Forbidden(
        message or (MUST_BE_ADMIN if permission.role == "admin" else MUST_WRITE),
        accepted_scopes=requirement.accepted_scopes(),
        accepted_permissions=requirement.accepted_permissions(permission.level),
    )


def can_see(user: Principal | None, scope: Scope, role: str | None) -> bool:
    """Organizations and public repositories are visible to all; private repositories and
    enterprises only to their people, and only through a token that reaches them."""
    if scope.kind is ScopeKind.ORGANIZATION:
        return True
    if scope.kind is ScopeKind.ENTERPRISE:
        return role is not None
    if not scope.private:
        return True
    if user is None or role is None:
        return False
    grant = user.grant
    if grant.kind is TokenKind.CLASSIC:
        return "repo" in grant.scopes
    return grant.covers_repository(scope.owner_id, scope.subject_id)


def _classic_grant_allows(user: Principal, scope: Scope, requirement: Requirement) -> bool:
    accepted = set(requirement.classic_scopes)
    public = requirement.public_repository_scope
    if scope.kind is ScopeKind.REPOSITORY and not scope.private and public:
        accepted.add(public)
    return bool(accepted & user.grant.scopes)


def _fine_grained_grant_allows(
    user: Principal, scope: Scope, requirement: Requirement, level: Level
) -> bool:
    grant = user.grant
    if requirement.fine_grained is None:
        return False
    if grant.permission_level(requirement.fine_grained) < level:
        return False
    if scope.kind is ScopeKind.REPOSITORY:
        return grant.covers_repository(scope.owner_id, scope.subject_id)
    return grant.resource_owner_id == scope.subject_id


def repository_permissions(role: str | None, scope: Scope) -> dict[str, bool]:
    """The `permissions` block GitHub adds to a repository for an authenticated caller."""
    admin = role == "admin"
    push = role in ("admin", "write")
    pull = role is not None or not scope.private
    return {"admin": admin, "maintain": admin, "push": push, "triage": push, "pull": pull}


def visible_role(conn: Connection, principal: Principal | None, scope: Scope) -> str | None:
    """The caller's role in a scope they may see; NotFound when they may not see it."""
    role = None if principal is None else accounts.role_in(conn, scope, principal.user_id)
    if not can_see(principal, scope, role):
        raise NotFound()
    return role
