"""Runner group rows, the repositories and organizations they serve, and their runners.

Groups are filed under a scope like runners are; every query on one group takes its
`scope_id`, so a number from another scope names nothing. Runners change group with one
UPDATE each time: concurrent moves of one runner leave it in exactly one group.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from runnerhub.storage import sql
from runnerhub.storage.dialect import insert_ignoring_conflicts
from runnerhub.storage.tables import (
    accounts,
    repositories,
    runner_group_numbers,
    runner_group_organizations,
    runner_group_repositories,
    runner_groups,
    runners,
)

DEFAULT_NUMBER = 1
NUMBER_OFFSET = 2  # number = runner_group_numbers.id + 2: past Default (1) and hosted (2)


class GroupRow(NamedTuple):
    id: int  # runner_groups.id: what runners point at
    scope_id: int
    number: int  # the API's id
    name: str
    is_default: bool
    visibility: str
    allows_public_repositories: bool
    restricted_to_workflows: bool
    selected_workflows: tuple[str, ...]


_COLUMNS = (
    runner_groups.c.id, runner_groups.c.scope_id, runner_groups.c.number, runner_groups.c.name,
    runner_groups.c.is_default, runner_groups.c.visibility,
    runner_groups.c.allows_public_repositories, runner_groups.c.restricted_to_workflows,
    runner_groups.c.selected_workflows,
)  # fmt: skip


def _row(values: Any) -> GroupRow:
    id_, scope_id, number, name, default, visibility, public, restricted, workflows = values
    return GroupRow(
        int(id_), int(scope_id), int(number), name, bool(default), visibility, bool(public),
        bool(restricted), tuple(json.loads(workflows)),
    )  # fmt: skip


def of_scope(conn: Connection, scope_id: int) -> list[GroupRow]:
    query = select(*_COLUMNS).where(runner_groups.c.scope_id == scope_id)
    return [_row(v) for v in conn.execute(query.order_by(runner_groups.c.number))]


def shared_with(conn: Connection, enterprise_scope_id: int, org_id: int) -> list[GroupRow]:
    """The enterprise's groups an organization of it may use: visibility `all`, or
    `selected` naming it. The enterprise's Default is not among them (it would share id 1
    with the organization's own Default)."""
    chosen = exists().where(
        runner_group_organizations.c.group_id == runner_groups.c.id,
        runner_group_organizations.c.org_id == org_id,
    )
    query = select(*_COLUMNS).where(
        runner_groups.c.scope_id == enterprise_scope_id,
        runner_groups.c.number != DEFAULT_NUMBER,
        or_(runner_groups.c.visibility == "all",
            and_(runner_groups.c.visibility == "selected", chosen)),
    )  # fmt: skip
    return [_row(v) for v in conn.execute(query.order_by(runner_groups.c.number))]


def one(conn: Connection, scope_id: int, number: int, *, lock: bool = False) -> GroupRow | None:
    """The group, or None. `lock` holds its row until commit (PostgreSQL), serializing
    changes to its membership."""
    query = select(*_COLUMNS).where(
        runner_groups.c.scope_id == scope_id, runner_groups.c.number == number
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = conn.execute(query).first()
    return None if found is None else _row(found)


def by_name(conn: Connection, scope_id: int, name: str) -> GroupRow | None:
    query = select(*_COLUMNS).where(
        runner_groups.c.scope_id == scope_id, runner_groups.c.name_lower == name.lower()
    )
    found = conn.execute(query).first()
    return None if found is None else _row(found)


def name_taken(conn: Connection, scope_id: int, name: str, *, other_than: int) -> bool:
    query = select(runner_groups.c.id).where(
        runner_groups.c.scope_id == scope_id,
        runner_groups.c.name_lower == name.lower(),
        runner_groups.c.id != other_than,
    )
    return conn.execute(query).first() is not None


def insert(
    conn: Connection,
    scope_id: int,
    *,
    name: str,
    visibility: str,
    allows_public_repositories: bool,
    restricted_to_workflows: bool,
    selected_workflows: Iterable[str],
) -> GroupRow | None:
    """A new group with the next number; None when the scope has a group of that name
    (ON CONFLICT: a lost race leaves the transaction usable on PostgreSQL)."""
    number_id = conn.execute(runner_group_numbers.insert()).inserted_primary_key
    assert number_id is not None
    values = dict(
        scope_id=scope_id,
        number=int(number_id[0]) + NUMBER_OFFSET,
        name=name,
        name_lower=name.lower(),
        is_default=False,
        visibility=visibility,
        allows_public_repositories=allows_public_repositories,
        restricted_to_workflows=restricted_to_workflows,
        selected_workflows=json.dumps(list(selected_workflows)),
    )
    statement = insert_ignoring_conflicts(conn, runner_groups, on=("scope_id", "name_lower"))
    found = conn.execute(statement.values(values).returning(*_COLUMNS)).first()
    return None if found is None else _row(found)


def update_group(conn: Connection, group_id: int, **changes: Any) -> bool:
    """Change a group's columns (`name` also sets `name_lower`; `selected_workflows` is a
    list). False when a concurrent transaction took the new name first: the caller refuses
    the change (on PostgreSQL the transaction can only be rolled back then)."""
    if "name" in changes:
        changes["name_lower"] = changes["name"].lower()
    if "selected_workflows" in changes:
        changes["selected_workflows"] = json.dumps(list(changes["selected_workflows"]))
    if not changes:
        return True
    try:
        conn.execute(runner_groups.update().where(runner_groups.c.id == group_id).values(changes))
    except IntegrityError:  # (scope_id, name_lower) is unique
        return False
    return True


def delete_group(conn: Connection, group: GroupRow, default_id: int) -> None:
    """Delete the group; its runners move to the Default group first."""
    move_all(conn, group.id, default_id)
    for child in (runner_group_repositories, runner_group_organizations):
        conn.execute(delete(child).where(child.c.group_id == group.id))
    conn.execute(delete(runner_groups).where(runner_groups.c.id == group.id))


# -- the repositories (organization groups) and organizations (enterprise groups) served

_MEMBERS = {
    "repositories": (runner_group_repositories, runner_group_repositories.c.repo_id),
    "organizations": (runner_group_organizations, runner_group_organizations.c.org_id),
}


def selected(conn: Connection, kind: str, group_ids: Collection[int]) -> dict[int, set[int]]:
    """The repository or organization ids each group selects."""
    table, column = _MEMBERS[kind]
    found: dict[int, set[int]] = {g: set() for g in group_ids}
    if group_ids:
        query = select(table.c.group_id, column).where(table.c.group_id.in_(list(group_ids)))
        for group_id, member in conn.execute(query):
            found[int(group_id)].add(int(member))
    return found


_IDLE_SESSIONS = """
    SELECT id, session_id FROM runners
    WHERE group_id IN_LIST(:groups) AND job_id IS NULL AND session_id IS NOT NULL
"""


def idle_sessions(conn: Connection, group_ids: Collection[int]) -> list[tuple[int, str]]:
    """(runner id, session id) of the groups' runners with an agent and no job."""
    found = sql.fetch_all(conn, _IDLE_SESSIONS, groups=list(group_ids))
    return [(int(runner_id), str(session_id)) for runner_id, session_id in found]


def selected_page(
    conn: Connection, kind: str, group_id: int, limit: int, offset: int
) -> tuple[int, list[int]]:
    table, column = _MEMBERS[kind]
    where = table.c.group_id == group_id
    total = int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())
    query = select(column).where(where).order_by(column).limit(limit).offset(offset)
    return total, [int(v) for v in conn.execute(query).scalars()]


def set_selected(conn: Connection, kind: str, group_id: int, ids: Iterable[int]) -> None:
    table, column = _MEMBERS[kind]
    conn.execute(delete(table).where(table.c.group_id == group_id))
    rows = [{"group_id": group_id, column.name: member} for member in sorted(set(ids))]
    if rows:
        conn.execute(table.insert(), rows)


def add_selected(conn: Connection, kind: str, group_id: int, member: int) -> None:
    table, column = _MEMBERS[kind]
    statement = insert_ignoring_conflicts(conn, table)
    conn.execute(statement.values({"group_id": group_id, column.name: member}))


def remove_selected(conn: Connection, kind: str, group_id: int, member: int) -> None:
    table, column = _MEMBERS[kind]
    conn.execute(delete(table).where(table.c.group_id == group_id, column == member))


def repositories_of(conn: Connection, owner_id: int, ids: Collection[int]) -> set[int]:
    """Those of `ids` that are repositories of the owner account."""
    if not ids:
        return set()
    query = select(repositories.c.id).where(
        repositories.c.owner_id == owner_id, repositories.c.id.in_(list(ids))
    )
    return {int(v) for v in conn.execute(query).scalars()}


def organizations_of(conn: Connection, enterprise_id: int, ids: Collection[int]) -> set[int]:
    """Those of `ids` that are organizations of the enterprise."""
    if not ids:
        return set()
    query = select(accounts.c.id).where(
        accounts.c.enterprise_id == enterprise_id,
        accounts.c.type == "Organization",
        accounts.c.id.in_(list(ids)),
    )
    return {int(v) for v in conn.execute(query).scalars()}


# -- runners in groups


def holds_at_least(conn: Connection, group_id: int, count: int) -> bool:
    """Whether the group has `count` runners or more: reads at most that many index entries
    (index runners(group_id, id)), however large the group."""
    query = (
        select(runners.c.id).where(runners.c.group_id == group_id).limit(1).offset(count - 1)
    )
    return conn.execute(query).first() is not None


def runner_count(conn: Connection, group_id: int) -> int:
    query = select(func.count()).select_from(runners).where(runners.c.group_id == group_id)
    return int(conn.execute(query).scalar_one())


def runners_of(conn: Connection, scope_id: int, ids: Collection[int]) -> set[int]:
    """Those of `ids` that are runners of the scope."""
    if not ids:
        return set()
    query = select(runners.c.id).where(runners.c.scope_id == scope_id, runners.c.id.in_(list(ids)))
    return {int(v) for v in conn.execute(query).scalars()}


def move(conn: Connection, scope_id: int, runner_ids: Collection[int], group_id: int) -> None:
    """Put the scope's runners `runner_ids` in the group: one UPDATE."""
    if runner_ids:
        conn.execute(
            update(runners)
            .where(runners.c.scope_id == scope_id, runners.c.id.in_(list(runner_ids)))
            .values(group_id=group_id)
        )


def move_all(
    conn: Connection, from_group: int, to_group: int, *, keep: Collection[int] = ()
) -> None:
    """Move every runner of `from_group` (but those in `keep`) to `to_group`."""
    where = [runners.c.group_id == from_group]
    if keep:
        where.append(runners.c.id.not_in(list(keep)))
    conn.execute(update(runners).where(*where).values(group_id=to_group))


def move_one(conn: Connection, runner_id: int, from_group: int, to_group: int) -> bool:
    """Move the runner out of `from_group` if it is still there: False when it was not."""
    statement = (
        update(runners)
        .where(runners.c.id == runner_id, runners.c.group_id == from_group)
        .values(group_id=to_group)
    )
    return int(conn.execute(statement).rowcount) > 0


def repository_rows(conn: Connection, ids: Collection[int]) -> list[Any]:
    """id, name, private, created_at and owner_id of the repositories, in id order."""
    if not ids:
        return []
    query = select(
        repositories.c.id, repositories.c.name, repositories.c.private,
        repositories.c.created_at, repositories.c.owner_id,
    ).where(repositories.c.id.in_(list(ids)))  # fmt: skip
    return list(conn.execute(query.order_by(repositories.c.id)))
