"""Runner groups of organizations and enterprises: the groups themselves, who may use them
(repositories of an organization, organizations of an enterprise) and the runners in them.

Every scope has group 1, `Default`: it cannot be deleted or renamed, and runners leave other
groups for it. An enterprise's groups shared with one of its organizations appear in that
organization's list, `inherited` and read-only there. Which jobs a group's runners may take
is decided by `domain/group_access.py`; a change that may let a group's idle runners take
queued jobs they could not take before wakes their agents, whose next poll is offered the
queue again (domain/jobs.offer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runnerhub.domain import profiles
from runnerhub.domain.events import RunnerChanged
from runnerhub.domain.group_access import serves
from runnerhub.domain.models import Runner
from runnerhub.domain.runners import Clock, present
from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.domain.text import check_text
from runnerhub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from runnerhub.storage import accounts, limits
from runnerhub.storage import runner_groups as rows
from runnerhub.storage import runners as runner_rows
from runnerhub.storage.runner_groups import DEFAULT_NUMBER, GroupRow
from runnerhub.storage.unit_of_work import UnitOfWork

MAX_RUNNERS = 10_000  # GitHub's limit of runners in one group
HOSTED_NUMBER = 2  # GitHub's own group of GitHub-hosted runners: no self-hosted runner joins it
NAME_LENGTH = 255
VISIBILITIES = {
    ScopeKind.ORGANIZATION: ("selected", "all", "private"),
    ScopeKind.ENTERPRISE: ("selected", "all"),
}
# "ref, tag, or long SHA is required": OWNER/REPO/.github/workflows/FILE@REF
WORKFLOW_REF = re.compile(r"^[^/@\s]+/[^/@\s]+/\.github/workflows/[^@]+@\S+$")

CANNOT_DELETE_DEFAULT = "Bad request - The default runner group cannot be deleted."
CANNOT_RENAME_DEFAULT = "Bad request - The default runner group cannot be renamed."
INHERITED_READ_ONLY = (
    "This runner group is shared by the enterprise and cannot be changed by the organization."
)
HOSTED_GROUP = "Runner group 2 holds GitHub-hosted runners: self-hosted runners cannot join it."
NOT_SELECTED = (
    "Bad request - The runner group's visibility must be 'selected' to change its {what}."
)
TOO_MANY = f"Bad request - A runner group can have at most {MAX_RUNNERS} runners."


@dataclass(frozen=True, slots=True)
class RunnerGroup:
    id: int  # the group's number
    name: str
    visibility: str
    default: bool
    allows_public_repositories: bool
    restricted_to_workflows: bool
    selected_workflows: list[str]
    owner_kind: ScopeKind  # where the group is administered
    owner_name: str  # that organization's login or enterprise's slug
    inherited: bool = False  # an enterprise's group, as its organization sees it


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A new group, as create-self-hosted-runner-group reads it."""

    name: str
    visibility: str = "all"
    selected_ids: tuple[int, ...] = ()  # repositories (organization) or organizations
    runners: tuple[int, ...] = ()
    allows_public_repositories: bool = False
    restricted_to_workflows: bool = False
    selected_workflows: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupChange:
    """What a PATCH changes; None leaves a field as it is."""

    name: str | None = None
    visibility: str | None = None
    allows_public_repositories: bool | None = None
    restricted_to_workflows: bool | None = None
    selected_workflows: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class GroupPage:
    total_count: int
    groups: list[RunnerGroup]


@dataclass(frozen=True, slots=True)
class MemberPage:
    total_count: int
    repositories: list[profiles.Repository]
    organizations: list[profiles.Account]


@dataclass(frozen=True, slots=True)
class GroupRunners:
    total_count: int
    runners: list[Runner]


# -- groups


def list_groups(
    uow: UnitOfWork, scope: Scope, *, visible_to: str | None, per_page: int, page: int
) -> GroupPage:
    """The scope's groups by number (an organization's own, then those its enterprise shares
    with it); `visible_to` keeps those a repository (organization) or an organization
    (enterprise) of that name may use."""
    found = _own(uow, scope) + _inherited(uow, scope)
    if visible_to is not None:
        found = _usable_by(uow, scope, found, visible_to)
    start = (page - 1) * per_page
    return GroupPage(len(found), found[start : start + per_page])


def get_group(uow: UnitOfWork, scope: Scope, number: int) -> RunnerGroup:
    for group in _inherited(uow, scope):
        if group.id == number:
            return group
    return _group(scope, _row(uow, scope, number))


def create_group(uow: UnitOfWork, scope: Scope, spec: GroupSpec) -> RunnerGroup:
    _check_name(spec.name)
    _check_visibility(scope, spec.visibility)
    _check_workflows(spec.selected_workflows)
    selected = _members_of_scope(uow, scope, spec.selected_ids)
    chosen = _runners_of_scope(uow, scope, spec.runners)
    if len(chosen) > MAX_RUNNERS:
        raise ValidationFailed(TOO_MANY)
    row = rows.insert(
        uow.conn, scope.id, name=spec.name, visibility=spec.visibility,
        allows_public_repositories=spec.allows_public_repositories,
        restricted_to_workflows=spec.restricted_to_workflows,
        selected_workflows=spec.selected_workflows,
    )  # fmt: skip
    if row is None:
        raise _name_taken(spec.name)
    if spec.visibility == "selected":
        rows.set_selected(uow.conn, _member_kind(scope), row.id, selected)
    rows.move(uow.conn, scope.id, chosen, row.id)
    _wake(uow, row.id)
    return _group(scope, row)


def update_group(uow: UnitOfWork, scope: Scope, number: int, change: GroupChange) -> RunnerGroup:
    row = _writable(uow, scope, number)
    changes: dict[str, object] = {}
    if change.name is not None and change.name != row.name:
        _check_name(change.name)
        if row.is_default:
            raise ValidationFailed(CANNOT_RENAME_DEFAULT)
        if rows.name_taken(uow.conn, scope.id, change.name, other_than=row.id):
            raise _name_taken(change.name)
        changes["name"] = change.name
    if change.visibility is not None:
        _check_visibility(scope, change.visibility)
        changes["visibility"] = change.visibility
        if change.visibility != "selected":  # what it selected no longer applies
            rows.set_selected(uow.conn, _member_kind(scope), row.id, ())
    if change.selected_workflows is not None:
        _check_workflows(change.selected_workflows)
        changes["selected_workflows"] = change.selected_workflows
    for flag in ("allows_public_repositories", "restricted_to_workflows"):
        if getattr(change, flag) is not None:
            changes[flag] = getattr(change, flag)
    if not rows.update_group(uow.conn, row.id, **changes):
        raise _name_taken(str(change.name))
    _wake(uow, row.id)
    return _group(scope, _row(uow, scope, number))


def delete_group(uow: UnitOfWork, scope: Scope, number: int) -> None:
    """Delete the group; its runners return to the Default group."""
    row = _writable(uow, scope, number)
    if row.is_default:
        raise ValidationFailed(CANNOT_DELETE_DEFAULT)
    default = _default(uow, scope).id
    rows.delete_group(uow.conn, row, default)
    _wake(uow, default)


# -- who may use a group: repositories (organization groups), organizations (enterprise)


def list_access(
    uow: UnitOfWork, scope: Scope, number: int, *, per_page: int, page: int
) -> MemberPage:
    row = _row(uow, scope, number)
    total, ids = rows.selected_page(
        uow.conn, _member_kind(scope), row.id, per_page, (page - 1) * per_page
    )
    if scope.kind is ScopeKind.ENTERPRISE:
        return MemberPage(total, [], [profiles.user_by_id(uow, i) for i in ids])
    owner = profiles.user_by_id(uow, scope.subject_id)
    repos = [
        profiles.Repository(r.id, r.name, bool(r.private), r.created_at, owner, None)
        for r in rows.repository_rows(uow.conn, ids)
    ]
    return MemberPage(total, repos, [])


def set_access(uow: UnitOfWork, scope: Scope, number: int, ids: tuple[int, ...]) -> None:
    row = _selected_group(uow, scope, number)
    rows.set_selected(uow.conn, _member_kind(scope), row.id, _members_of_scope(uow, scope, ids))
    _wake(uow, row.id)


def add_access(uow: UnitOfWork, scope: Scope, number: int, member: int) -> None:
    row = _selected_group(uow, scope, number)
    _members_of_scope(uow, scope, (member,))
    rows.add_selected(uow.conn, _member_kind(scope), row.id, member)
    _wake(uow, row.id)


def remove_access(uow: UnitOfWork, scope: Scope, number: int, member: int) -> None:
    row = _selected_group(uow, scope, number)
    _members_of_scope(uow, scope, (member,))
    rows.remove_selected(uow.conn, _member_kind(scope), row.id, member)


# -- the runners in a group


def list_runners(
    uow: UnitOfWork, scope: Scope, clock: Clock, number: int, *, per_page: int, page: int
) -> GroupRunners:
    row = _row(uow, scope, number)
    total = rows.runner_count(uow.conn, row.id)
    offset = (page - 1) * per_page
    found = runner_rows.in_group(uow.conn, scope.id, row.id, per_page, offset, total)
    return GroupRunners(total, present(found, clock))


def set_runners(uow: UnitOfWork, scope: Scope, number: int, runner_ids: tuple[int, ...]) -> None:
    """The group holds exactly these runners; the others it held return to Default (for
    the Default group itself: they stay, there is nowhere else to go)."""
    row = _writable(uow, scope, number, lock=True)
    chosen = _runners_of_scope(uow, scope, runner_ids)
    if len(chosen) > MAX_RUNNERS:
        raise ValidationFailed(TOO_MANY)
    default = _default(uow, scope).id
    if not row.is_default:
        rows.move_all(uow.conn, row.id, default, keep=chosen)
    rows.move(uow.conn, scope.id, chosen, row.id)
    _wake(uow, row.id, default)


def add_runner(uow: UnitOfWork, scope: Scope, number: int, runner_id: int) -> None:
    row = _writable(uow, scope, number, lock=True)
    found = _runners_of_scope(uow, scope, (runner_id,))
    current = runner_rows.one(uow.conn, scope.id, runner_id)
    if current is not None and current.group_number == row.number:
        return
    if rows.runner_count(uow.conn, row.id) + 1 > MAX_RUNNERS:
        raise ValidationFailed(TOO_MANY)
    rows.move(uow.conn, scope.id, found, row.id)
    _wake(uow, row.id)


def remove_runner(uow: UnitOfWork, scope: Scope, number: int, runner_id: int) -> None:
    """The runner returns to the Default group (nothing happens when it is not in this
    group, or this is the Default group)."""
    row = _writable(uow, scope, number)
    _runners_of_scope(uow, scope, (runner_id,))
    default = _default(uow, scope).id
    rows.move_one(uow.conn, runner_id, row.id, default)
    _wake(uow, default)


# -- where new runners go (generate-jitconfig, registration)


def group_for_new_runner(uow: UnitOfWork, scope: Scope, number: int) -> int:
    """The group (runner_groups.id) numbered so in the runner's own scope: 403 for GitHub's
    hosted group, 404 for any other the scope does not have (another scope's, inherited)."""
    if number == HOSTED_NUMBER:
        raise Forbidden(HOSTED_GROUP)
    row = rows.one(uow.conn, scope.id, number) if limits.is_id(number) else None
    if row is None:
        raise NotFound()
    return with_room(uow, row.id)


def group_named(uow: UnitOfWork, scope: Scope, name: str) -> int | None:
    """The scope's own group of that name (case-insensitively), or None."""
    row = rows.by_name(uow.conn, scope.id, name)
    return None if row is None else row.id


def with_room(uow: UnitOfWork, group_id: int) -> int:
    """The group, if one more runner may join it (GitHub's 10 000); 422 otherwise."""
    if rows.holds_at_least(uow.conn, group_id, MAX_RUNNERS):
        raise ValidationFailed(TOO_MANY)
    return group_id


# -- helpers


def _wake(uow: UnitOfWork, *group_ids: int) -> None:
    """The groups' online, idle runners may take other jobs now: their agents ask again."""
    for runner_id, session_id in rows.idle_sessions(uow.conn, group_ids):
        uow.emit(RunnerChanged(runner_id, session_id))


def _own(uow: UnitOfWork, scope: Scope) -> list[RunnerGroup]:
    return [_group(scope, row) for row in rows.of_scope(uow.conn, scope.id)]


def _inherited(uow: UnitOfWork, scope: Scope) -> list[RunnerGroup]:
    if scope.kind is not ScopeKind.ORGANIZATION or scope.enterprise_id is None:
        return []
    enterprise = accounts.enterprise_scope(uow.conn, str(scope.enterprise_id))
    if enterprise is None or enterprise.subject_id != scope.enterprise_id:
        return []
    return [
        _group(enterprise, row, inherited=True)
        for row in rows.shared_with(uow.conn, enterprise.id, scope.subject_id)
    ]


def _usable_by(
    uow: UnitOfWork, scope: Scope, groups: list[RunnerGroup], name: str
) -> list[RunnerGroup]:
    """Those of `groups` that the repository (organization scope) or organization
    (enterprise scope) called `name` may use; none when there is no such one."""
    if scope.kind is ScopeKind.ENTERPRISE:
        org = accounts.organization_scope(uow.conn, name)
        if org is None or org.enterprise_id != scope.subject_id:
            return []
        selected = _selected_of(uow, scope, groups)
        return [g for g in groups if g.visibility == "all" or org.subject_id in selected[g.id]]
    repo = accounts.repository_scope(uow.conn, scope.name, name)
    if repo is None:
        return []
    selected = _selected_of(uow, scope, [g for g in groups if not g.inherited])
    return [
        g for g in groups
        if serves(g.visibility, g.allows_public_repositories, selected.get(g.id, set()),
                  repo_id=repo.subject_id, private=repo.private, inherited=g.inherited)
    ]  # fmt: skip


def _selected_of(uow: UnitOfWork, scope: Scope, groups: list[RunnerGroup]) -> dict[int, set[int]]:
    """What each group selects, by group number."""
    internal = {row.number: row.id for row in rows.of_scope(uow.conn, scope.id)}
    ids = [internal[g.id] for g in groups if g.id in internal]
    by_id = rows.selected(uow.conn, _member_kind(scope), ids)
    return {g.id: by_id.get(internal.get(g.id, -1), set()) for g in groups}


def _row(uow: UnitOfWork, scope: Scope, number: int, *, lock: bool = False) -> GroupRow:
    row = rows.one(uow.conn, scope.id, number, lock=lock) if limits.is_id(number) else None
    if row is None:
        raise NotFound()
    return row


def _writable(uow: UnitOfWork, scope: Scope, number: int, *, lock: bool = False) -> GroupRow:
    """The scope's own group: an inherited one is read-only (403), any other 404."""
    inherited = limits.is_id(number) and number != DEFAULT_NUMBER
    if inherited and any(group.id == number for group in _inherited(uow, scope)):
        raise Forbidden(INHERITED_READ_ONLY)
    return _row(uow, scope, number, lock=lock)


def _selected_group(uow: UnitOfWork, scope: Scope, number: int) -> GroupRow:
    row = _writable(uow, scope, number)
    if row.visibility != "selected":
        what = "repository" if scope.kind is ScopeKind.ORGANIZATION else "organization"
        raise ValidationFailed(NOT_SELECTED.format(what=f"{what} access"))
    return row


def _default(uow: UnitOfWork, scope: Scope) -> GroupRow:
    return _row(uow, scope, DEFAULT_NUMBER)


def _member_kind(scope: Scope) -> str:
    return "organizations" if scope.kind is ScopeKind.ENTERPRISE else "repositories"


def _members_of_scope(uow: UnitOfWork, scope: Scope, ids: tuple[int, ...]) -> set[int]:
    """`ids` when every one is a repository of the organization (an organization of the
    enterprise); 404 otherwise, like any id the caller cannot name."""
    wanted = {i for i in ids if limits.is_id(i)}
    if scope.kind is ScopeKind.ENTERPRISE:
        found = rows.organizations_of(uow.conn, scope.subject_id, wanted)
    else:
        found = rows.repositories_of(uow.conn, scope.subject_id, wanted)
    if len(found) != len(set(ids)):
        raise NotFound()
    return found


def _runners_of_scope(uow: UnitOfWork, scope: Scope, ids: tuple[int, ...]) -> set[int]:
    wanted = {i for i in ids if limits.is_id(i)}
    found = rows.runners_of(uow.conn, scope.id, wanted)
    if len(found) != len(set(ids)):
        raise NotFound()
    return found


def _check_name(name: str) -> None:
    check_text(name, "Runner group name", NAME_LENGTH)


def _check_visibility(scope: Scope, visibility: str) -> None:
    allowed = VISIBILITIES[scope.kind]
    if visibility not in allowed:
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid property /visibility: `{visibility}` is not a "
            f"possible value. Must be one of: {', '.join(allowed)}."
        )


def _check_workflows(workflows: tuple[str, ...]) -> None:
    for index, ref in enumerate(workflows):
        if not WORKFLOW_REF.match(ref) or "\x00" in ref:
            raise ValidationFailed(
                f"Invalid request.\n\nInvalid property /selected_workflows/{index}: a workflow "
                "is OWNER/REPO/.github/workflows/FILE@REF (a ref, tag, or long SHA is "
                "required)."
            )


def _name_taken(name: str) -> Conflict:
    return Conflict(f"Already exists - A runner group with the name {name} already exists.")


def _group(scope: Scope, row: GroupRow, *, inherited: bool = False) -> RunnerGroup:
    return RunnerGroup(
        id=row.number,
        name=row.name,
        visibility=row.visibility,
        default=row.is_default,
        allows_public_repositories=row.allows_public_repositories,
        restricted_to_workflows=row.restricted_to_workflows,
        selected_workflows=list(row.selected_workflows),
        owner_kind=scope.kind,
        owner_name=scope.name,
        inherited=inherited,
    )
