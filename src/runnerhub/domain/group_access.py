"""Which runner groups may take a job: the rule job routing asks (domain/jobs.py).

A job of repository R (from workflow file W) may run on a runner only if the runner's group
serves R:
- a group of R itself: always;
- a group of R's organization: visibility `all`, `selected` naming R, or `private` with R
  private;
- a group of the organization's enterprise: visibility `all` or `selected` naming R's
  organization;
- and in the last two cases a public R only when the group `allows_public_repositories`;
- a group `restricted_to_workflows` serves only the workflows it lists
  (`OWNER/REPO/.github/workflows/FILE@REF`).

`usable_group_ids` answers for every group at once (a set to filter runners by);
`may_run` for one group; `Routing` remembers the answers for a routing pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from runnerhub.domain.scopes import Scope, ScopeKind
from runnerhub.storage import accounts, runs
from runnerhub.storage import runner_groups as rows
from runnerhub.storage.runner_groups import GroupRow
from runnerhub.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class Workflow:
    """The workflow file a job comes from: its path in the repository and the ref run."""

    path: str  # ".github/workflows/ci.yml"
    ref: str = "main"  # a branch, "refs/heads/...", a tag or a commit sha


def serves(
    visibility: str,
    allows_public: bool,
    selected: set[int],
    *,
    repo_id: int,
    private: bool,
    inherited: bool = False,
) -> bool:
    """Whether an organization group (`inherited`: an enterprise group the organization
    already has access to) serves the repository, workflows aside."""
    if not private and not allows_public:
        return False
    if inherited or visibility == "all":
        return True
    if visibility == "selected":
        return repo_id in selected
    return visibility == "private" and private


def usable_group_ids(
    uow: UnitOfWork, repo: Scope, workflow: Workflow | None = None
) -> frozenset[int]:
    """runner_groups.id of every group whose runners may take a job of `repo` (from
    `workflow`; None: workflow restrictions are not checked): the repository's own groups,
    its organization's and its enterprise's that serve it."""
    assert repo.kind is ScopeKind.REPOSITORY, "jobs belong to repositories"
    conn = uow.conn
    usable = {row.id for row in rows.of_scope(conn, repo.id)}
    org_scope, enterprise_scope = accounts.routing_scopes(conn, repo)
    if org_scope is not None:
        groups = rows.of_scope(conn, org_scope)
        selected = rows.selected(conn, "repositories", [g.id for g in groups])
        usable |= {
            g.id for g in groups
            if serves(g.visibility, g.allows_public_repositories, selected[g.id],
                      repo_id=repo.subject_id, private=repo.private)
            and _workflow_allowed(g, repo, workflow)
        }  # fmt: skip
    if enterprise_scope is not None:
        groups = rows.of_scope(conn, enterprise_scope)
        selected = rows.selected(conn, "organizations", [g.id for g in groups])
        org_id = repo.owner_id if repo.owner_is_org else None
        usable |= {
            g.id for g in groups
            if (g.visibility == "all" or org_id in selected[g.id])
            and (repo.private or g.allows_public_repositories)
            and _workflow_allowed(g, repo, workflow)
        }  # fmt: skip
    return frozenset(usable)


def may_run(uow: UnitOfWork, repo: Scope, group_id: int, workflow: Workflow | None = None) -> bool:
    """Whether a job of `repo` (from `workflow`) may run on runners of the group
    (runner_groups.id)."""
    return group_id in usable_group_ids(uow, repo, workflow)


class Routing:
    """Which groups serve the jobs of which run, each asked once in a routing pass
    (domain/jobs.py): a batch of a hundred jobs of one run reads the groups once."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._usable: dict[tuple[int, int | None], frozenset[int]] = {}

    def serves(self, repo_scope_id: int, run_id: int | None, group_id: int) -> bool:
        """Whether runners of the group (runner_groups.id) may take a job of the repository
        (its scope id) from the run."""
        key = (repo_scope_id, run_id)
        if key not in self._usable:
            self._usable[key] = self._ask(repo_scope_id, run_id)
        return group_id in self._usable[key]

    def _ask(self, repo_scope_id: int, run_id: int | None) -> frozenset[int]:
        conn = self._uow.conn
        repo = accounts.repository_scope_of(conn, repo_scope_id)
        if repo is None:
            return frozenset()
        ref = runs.workflow_ref(conn, run_id) if run_id is not None else None
        workflow = Workflow(*ref) if ref is not None else None
        return usable_group_ids(self._uow, repo, workflow)


def _workflow_allowed(group: GroupRow, repo: Scope, workflow: Workflow | None) -> bool:
    if not group.restricted_to_workflows or workflow is None:
        return True
    wanted = _normal(f"{repo.name}/{workflow.path}@{workflow.ref}")
    return any(_normal(listed) == wanted for listed in group.selected_workflows)


def _normal(ref: str) -> str:
    """OWNER/REPO/PATH@REF with the names lower-cased (they are case-insensitive) and a
    branch or tag named with or without refs/heads/ or refs/tags/."""
    where, _, at = ref.rpartition("@")
    for prefix in ("refs/heads/", "refs/tags/"):
        at = at.removeprefix(prefix)
    owner, _, rest = where.partition("/")
    name, _, path = rest.partition("/")
    return f"{owner.lower()}/{name.lower()}/{path}@{at}"
