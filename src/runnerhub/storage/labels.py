"""Labels are per-scope entities keyed by case-folded name; runners point at them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from runnerhub.domain.models import Label, LabelType
from runnerhub.storage import sql
from runnerhub.storage.dialect import insert_ignoring_conflicts
from runnerhub.storage.tables import labels, runner_labels

_TYPES = {t.value: t for t in LabelType}
_OF_RUNNERS = """
    SELECT rl.runner_id, l.id, l.name, rl.type
    FROM runner_labels rl JOIN labels l ON l.id = rl.label_id
    WHERE rl.runner_id IN_LIST(:ids)
    ORDER BY rl.runner_id, rl.label_id
"""


def of_runners(conn: Connection, runner_ids: Sequence[int]) -> dict[int, list[Label]]:
    """Every label of every runner asked for, in one query."""
    found: dict[int, list[Label]] = defaultdict(list)
    if not runner_ids:
        return found
    for runner_id, label_id, name, type_ in sql.fetch_all(conn, _OF_RUNNERS, ids=list(runner_ids)):
        found[runner_id].append(Label(label_id, name, _TYPES[type_]))
    return found


def of_runner(conn: Connection, runner_id: int) -> list[Label]:
    return of_runners(conn, [runner_id]).get(runner_id, [])


def ensure(conn: Connection, scope_id: int, names: Iterable[str]) -> dict[str, int]:
    """Label ids by case-folded name, creating the labels the scope does not have yet.
    The first spelling a scope sees is the one it keeps."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name.lower(), name)
    if not wanted:
        return {}
    rows = [
        {"scope_id": scope_id, "name": name, "name_lower": lower} for lower, name in wanted.items()
    ]
    conn.execute(insert_ignoring_conflicts(conn, labels), rows)
    query = select(labels.c.name_lower, labels.c.id).where(
        labels.c.scope_id == scope_id, labels.c.name_lower.in_(list(wanted))
    )
    return {lower: int(label_id) for lower, label_id in conn.execute(query)}


def attach(conn: Connection, runner_id: int, label_ids: Iterable[int], type_: LabelType) -> None:
    rows = [{"runner_id": runner_id, "label_id": i, "type": type_.value} for i in label_ids]
    if rows:
        conn.execute(insert_ignoring_conflicts(conn, runner_labels), rows)


def detach(conn: Connection, runner_id: int, label_ids: Iterable[int]) -> None:
    ids = list(label_ids)
    if ids:
        conn.execute(
            delete(runner_labels).where(
                runner_labels.c.runner_id == runner_id, runner_labels.c.label_id.in_(ids)
            )
        )
