"""Labels are per-scope entities keyed by case-folded name; runners point at them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import NamedTuple

import orjson
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from runnerhub.storage import sql
from runnerhub.storage.dialect import insert_ignoring_conflicts, lock_scope_labels
from runnerhub.storage.tables import labels, runner_labels


class LabelType(StrEnum):
    READ_ONLY = "read-only"
    CUSTOM = "custom"


class Label(NamedTuple):
    """A tuple: a page of runners makes a hundred of them per request (measured: a frozen
    dataclass costs twice the time to build)."""

    id: int
    name: str
    type: LabelType


_TYPES = {t.value: t for t in LabelType}
# Two small queries beat one join: a page's runners share a handful of labels, so the
# links are read straight from the primary key and the few names looked up once (measured:
# 77 µs against 145 µs for 30 runners with 4 labels each on SQLite).
_LINKS = """
    SELECT runner_id, label_id, type FROM runner_labels
    WHERE runner_id IN_LIST(:ids) ORDER BY runner_id, label_id
"""
_NAMES = "SELECT id, name FROM labels WHERE id IN_LIST(:ids)"


def of_runners(conn: Connection, runner_ids: Sequence[int]) -> dict[int, list[Label]]:
    """Every label of every runner asked for."""
    found: dict[int, list[Label]] = defaultdict(list)
    if not runner_ids:
        return found
    links = sql.fetch_all(conn, _LINKS, ids=list(runner_ids))
    label_ids = list({label_id for _, label_id, _ in links})
    names = dict(sql.fetch_all(conn, _NAMES, ids=label_ids)) if label_ids else {}
    # A page's runners share a handful of labels: each (label, type) is made once and the
    # same value shared (the API renders it once per page too, see api/wire.py).
    made: dict[tuple[int, str], Label] = {}
    for runner_id, label_id, type_ in links:
        label = made.get((label_id, type_))
        if label is None:
            label = made[label_id, type_] = Label(label_id, names[label_id], _TYPES[type_])
        found[runner_id].append(label)
    return found


# The labels of the runner aliased `r`, as one column of the query that reads the runner,
# so that a page of runners takes two queries (this, then the names) instead of three: a JSON
# array of the label ids in id order, each negated for a custom label (NULL for none on
# PostgreSQL). On SQLite each row handed to Python costs about 0.8 µs, and the page's 120
# label links were the larger part of the request; within the column, each string SQLite
# builds per label costs too (ids alone: 4 % fewer instructions per request than
# [id, name, type] arrays).
OF_RUNNER_COLUMN = {
    "sqlite": """(
        SELECT json_group_array(CASE rl.type WHEN 'custom' THEN -rl.label_id ELSE rl.label_id END)
        FROM runner_labels rl WHERE rl.runner_id = r.id
    )""",
    "postgresql": """(
        SELECT CAST(json_agg(
            CASE rl.type WHEN 'custom' THEN -rl.label_id ELSE rl.label_id END ORDER BY rl.label_id
        ) AS text)
        FROM runner_labels rl WHERE rl.runner_id = r.id
    )""",
}


def of_columns(conn: Connection, columns: Sequence[str | None]) -> list[list[Label]]:
    """The labels in OF_RUNNER_COLUMN values, each in id order. A page's runners share a
    handful of labels and mostly the same set: each label is made once, and each set, the
    same list handed to every runner that has it (not to be changed: the API renders it once
    per page too, see api/wire.py)."""
    links = {column: orjson.loads(column) for column in set(columns) if column}
    label_ids = list({abs(link) for found in links.values() for link in found})
    names = dict(sql.fetch_all(conn, _NAMES, ids=label_ids)) if label_ids else {}
    made: dict[int, Label] = {}

    def label(link: int) -> Label:
        found = made.get(link)
        if found is None:
            type_ = LabelType.CUSTOM if link < 0 else LabelType.READ_ONLY
            found = made[link] = Label(abs(link), names[abs(link)], type_)
        return found

    # SQLite's json_group_array takes rows in the order it visits them, the primary key's
    # (runner_id, label_id), but does not promise it: sorted to be sure.
    sets = {column: sorted(map(label, found)) for column, found in links.items()}
    return [sets[column] if column else [] for column in columns]


def of_runner(conn: Connection, runner_id: int) -> list[Label]:
    return of_runners(conn, [runner_id]).get(runner_id, [])


def ensure(conn: Connection, scope_id: int, names: Iterable[str]) -> dict[str, int]:
    """Label ids by case-folded name, creating the labels the scope does not have yet.
    The first spelling a scope sees is the one it keeps, and new labels get ids in the order
    given (lists show labels in id order)."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name.lower(), name)
    if not wanted:
        return {}
    found = _ids(conn, scope_id, list(wanted))
    missing = [lower for lower in wanted if lower not in found]
    if missing:
        # Two transactions adding the same new names in opposite orders would lock the
        # unique index entries crosswise (a deadlock): creation takes one lock per scope first.
        lock_scope_labels(conn, scope_id)
        rows = [{"scope_id": scope_id, "name": wanted[n], "name_lower": n} for n in missing]
        conn.execute(insert_ignoring_conflicts(conn, labels), rows)
        found |= _ids(conn, scope_id, missing)
    return found


def _ids(conn: Connection, scope_id: int, lowers: list[str]) -> dict[str, int]:
    query = select(labels.c.name_lower, labels.c.id).where(
        labels.c.scope_id == scope_id, labels.c.name_lower.in_(lowers)
    )
    return {lower: int(label_id) for lower, label_id in conn.execute(query)}


def attach(conn: Connection, runner_id: int, label_ids: Iterable[int], type_: LabelType) -> None:
    rows = [
        {"runner_id": runner_id, "label_id": i, "type": type_.value} for i in sorted(label_ids)
    ]
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
