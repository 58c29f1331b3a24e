"""Webhooks and their deliveries (the outbox): rows filed under the hook's scope.

Every query of `hooks` names the scope, so a hook id of another repository or organization
is simply not found. Deliveries are claimed with a lease (a guarded UPDATE): whichever
instance sets it sends the delivery, and a crashed instance's lease runs out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection

from runnerhub.storage import accounts, sql, tables
from runnerhub.storage.dialect import utc
from runnerhub.storage.scopes import Scope
from runnerhub.storage.tables import hook_deliveries, hooks
from runnerhub.storage.types import UTCDateTime

PENDING = text(tables.PENDING)  # literally: a bound 'pending' would miss the partial index
AnyRow = Any  # rows of these tables: read by column name


# -- hooks


def insert_hook(conn: Connection, **values: Any) -> int:
    inserted = conn.execute(insert(hooks).values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def hook(conn: Connection, scope_id: int, hook_id: int) -> AnyRow | None:
    query = select(hooks).where(hooks.c.scope_id == scope_id, hooks.c.id == hook_id)
    return conn.execute(query).first()


def hook_by_id(conn: Connection, hook_id: int) -> AnyRow | None:
    return conn.execute(select(hooks).where(hooks.c.id == hook_id)).first()


def hooks_of(conn: Connection, scope_id: int, limit: int, offset: int) -> list[AnyRow]:
    query = select(hooks).where(hooks.c.scope_id == scope_id).order_by(hooks.c.id)
    return list(conn.execute(query.limit(limit).offset(offset)))


def count_hooks(conn: Connection, scope_id: int) -> int:
    query = select(func.count()).select_from(hooks).where(hooks.c.scope_id == scope_id)
    return int(conn.execute(query).scalar_one())


def update_hook(conn: Connection, hook_id: int, **values: Any) -> None:
    conn.execute(update(hooks).where(hooks.c.id == hook_id).values(**values))


def delete_hook(conn: Connection, scope_id: int, hook_id: int) -> bool:
    query = delete(hooks).where(hooks.c.scope_id == scope_id, hooks.c.id == hook_id)
    return bool(conn.execute(query).rowcount)


_ACTIVE = (
    "SELECT id, events FROM hooks WHERE active = :active AND scope_id IN_LIST(:scopes) "
    "ORDER BY id"
)


def active_hooks(conn: Connection, scope_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(id, events JSON) of the active hooks of these scopes: read for every state change
    that may raise an event, so in hand-written SQL (storage/sql.py)."""
    rows = sql.fetch_all(conn, _ACTIVE, active=True, scopes=list(scope_ids))
    return [(int(r[0]), str(r[1])) for r in rows]


def any_active(conn: Connection) -> bool:
    return sql.fetch_one(conn, "SELECT 1 FROM hooks WHERE active = :active LIMIT 1",
                         active=True) is not None  # fmt: skip


# -- deliveries


def insert_deliveries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(hook_deliveries), list(rows))


def insert_delivery(conn: Connection, **values: Any) -> int:
    inserted = conn.execute(insert(hook_deliveries).values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def delivery(conn: Connection, hook_id: int, delivery_id: int) -> AnyRow | None:
    query = select(hook_deliveries).where(
        hook_deliveries.c.hook_id == hook_id, hook_deliveries.c.id == delivery_id
    )
    return conn.execute(query).first()


def delivery_by_id(conn: Connection, delivery_id: int) -> AnyRow | None:
    query = select(hook_deliveries).where(hook_deliveries.c.id == delivery_id)
    return conn.execute(query).first()


def deliveries(
    conn: Connection, hook_id: int, before: int | None, limit: int, ok: bool | None = None
) -> list[AnyRow]:
    """Newest first, as GitHub lists them; `before`: ids below this one (the cursor); `ok`:
    only those delivered (True) or not (False)."""
    query = select(hook_deliveries).where(hook_deliveries.c.hook_id == hook_id)
    if ok is not None:
        delivered = hook_deliveries.c.state == "delivered"
        query = query.where(delivered if ok else ~delivered)
    if before is not None:
        query = query.where(hook_deliveries.c.id < before)
    return list(conn.execute(query.order_by(hook_deliveries.c.id.desc()).limit(limit)))


def due(conn: Connection, now: datetime, limit: int) -> list[AnyRow]:
    """The first pending delivery of each hook (deliveries go in order per hook), if it is due
    and no instance holds it."""
    first = (
        select(hook_deliveries.c.hook_id, func.min(hook_deliveries.c.id).label("id"))
        .where(PENDING)
        .group_by(hook_deliveries.c.hook_id)
        .subquery()
    )
    query = (
        select(hook_deliveries)
        .join(first, first.c.id == hook_deliveries.c.id)
        .where(
            hook_deliveries.c.next_attempt_at <= now,
            or_(hook_deliveries.c.lease_until.is_(None), hook_deliveries.c.lease_until < now),
        )
        .order_by(hook_deliveries.c.id)
        .limit(limit)
    )
    return list(conn.execute(query))


def lease_many(
    conn: Connection, delivery_ids: Sequence[int], now: datetime, until: datetime
) -> set[int]:
    """Take those of the deliveries no instance holds for sending until `until`: the ids
    taken (one statement; with PostgreSQL, a delivery another transaction is leasing is
    waited for and then found held)."""
    if not delivery_ids:
        return set()
    query = (
        update(hook_deliveries)
        .where(
            hook_deliveries.c.id.in_(delivery_ids),
            hook_deliveries.c.state == "pending",
            or_(hook_deliveries.c.lease_until.is_(None), hook_deliveries.c.lease_until < now),
        )
        .values(lease_until=until)
        .returning(hook_deliveries.c.id)
    )
    return {int(row[0]) for row in conn.execute(query)}


def release_many(conn: Connection, delivery_ids: Sequence[int]) -> None:
    if delivery_ids:
        query = update(hook_deliveries).where(hook_deliveries.c.id.in_(delivery_ids))
        conn.execute(query.values(lease_until=None))


_columns = hook_deliveries.c
_RECORD = (
    update(hook_deliveries)
    .where(_columns.id == bindparam("b_id"))
    .values(
        attempts=bindparam("b_attempts"), state=bindparam("b_state"),
        next_attempt_at=func.coalesce(
            bindparam("b_next_attempt_at", type_=UTCDateTime()), _columns.next_attempt_at
        ),
        lease_until=None, delivered_at=bindparam("b_delivered_at"),
        duration=bindparam("b_duration"), status=bindparam("b_status"),
        status_code=bindparam("b_status_code"), request_headers=bindparam("b_request_headers"),
        response_headers=bindparam("b_response_headers"),
        response_body=bindparam("b_response_body"),
    )
)  # fmt: skip


_KEEP_PAYLOAD = (
    update(hook_deliveries)
    .where(_columns.id == bindparam("b_id"))
    .values(payload=bindparam("b_payload"))
)


def keep_payloads(conn: Connection, payloads: Sequence[tuple[int, str]]) -> None:
    """(delivery id, payload text) for each: one statement, run for every row."""
    if payloads:
        conn.execute(_KEEP_PAYLOAD, [{"b_id": id_, "b_payload": text} for id_, text in payloads])


def record_attempts(conn: Connection, outcomes: Sequence[dict[str, Any]]) -> None:
    """Each delivery's attempt, by id (keys: the columns set; `next_attempt_at` None to
    keep it): one statement, run for every row."""
    if outcomes:
        conn.execute(_RECORD, [{f"b_{key}": value for key, value in row.items()}
                               for row in outcomes])  # fmt: skip


def update_delivery(conn: Connection, delivery_id: int, **values: Any) -> None:
    query = update(hook_deliveries).where(hook_deliveries.c.id == delivery_id)
    conn.execute(query.values(**values))


def delete_finished(conn: Connection, before: datetime, limit: int) -> int:
    c = hook_deliveries.c
    oldest = (
        select(c.id)
        .where(c.state != "pending", c.created_at < before)
        .order_by(c.id)
        .limit(limit)
        .scalar_subquery()
    )
    return int(conn.execute(delete(hook_deliveries).where(c.id.in_(oldest))).rowcount)


def next_due(conn: Connection) -> datetime | None:
    """When the earliest pending delivery is due."""
    query = select(func.min(hook_deliveries.c.next_attempt_at)).where(
        and_(hook_deliveries.c.state == "pending")
    )
    return utc(conn.execute(query).scalar())


# -- what events are about

_RUN_FACTS = (
    "SELECT r.repo_id, p.scope_id, o.scope_id, COALESCE(r.triggering_actor_id, r.actor_id), "
    "r.status, r.conclusion, r.run_attempt, r.updated_at, r.run_started_at "
    "FROM workflow_runs r JOIN repositories p ON p.id = r.repo_id "
    "JOIN accounts o ON o.id = p.owner_id WHERE r.id = :run_id"
)


class RunFacts(NamedTuple):
    repo_id: int
    repo_scope_id: int
    org_scope_id: int | None
    sender_id: int | None
    status: str
    conclusion: str | None
    run_attempt: int
    updated_at: datetime
    run_started_at: datetime | None


def run_facts(conn: Connection, run_id: int) -> RunFacts | None:
    """A run's repository, the scopes whose hooks hear of it, its sender and its state."""
    row = sql.fetch_one(conn, _RUN_FACTS, run_id=run_id)
    if row is None:
        return None
    facts = RunFacts(*row)
    updated = utc(facts.updated_at)
    assert updated is not None
    return facts._replace(updated_at=updated, run_started_at=utc(facts.run_started_at))


def repository_names(conn: Connection, repo_id: int) -> tuple[str, str] | None:
    """(owner login, name) of a repository."""
    row = sql.fetch_one(
        conn,
        "SELECT a.login, r.name FROM repositories r JOIN accounts a ON a.id = r.owner_id "
        "WHERE r.id = :repo_id",
        repo_id=repo_id,
    )
    return None if row is None else (str(row[0]), str(row[1]))


def scope_by_id(conn: Connection, scope_id: int) -> Scope | None:
    """The organization or repository scope with this id (hooks are filed under one)."""
    org = sql.fetch_one(conn, "SELECT login FROM accounts WHERE scope_id = :id", id=scope_id)
    if org is not None:
        return accounts.organization_scope(conn, str(org[0]))
    repo = sql.fetch_one(
        conn,
        "SELECT a.login, r.name FROM repositories r JOIN accounts a ON a.id = r.owner_id "
        "WHERE r.scope_id = :id",
        id=scope_id,
    )
    return None if repo is None else accounts.repository_scope(conn, str(repo[0]), str(repo[1]))


def pending_of(conn: Connection, hook_id: int, limit: int) -> list[AnyRow]:
    """The hook's first pending deliveries, in order: what sending them needs."""
    c = hook_deliveries.c
    wanted = (c.id, c.guid, c.event, c.action, c.subject, c.payload, c.attempts,
              c.next_attempt_at, c.created_at)  # fmt: skip
    query = select(*wanted).where(c.hook_id == hook_id, PENDING).order_by(c.id).limit(limit)
    return list(conn.execute(query))
