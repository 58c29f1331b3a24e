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
    made = Labels()
    for runner_id, label_id, type_ in links:
        found[runner_id].append(made.label(label_id, names[label_id], type_))
    return found


# The labels of the runner aliased `r`, as one column of the query that reads the runner:
# a JSON array of [id, name, type], in id order (NULL for none on PostgreSQL). A page of
# runners then takes one query instead of three: on SQLite each row handed to Python costs
# about 0.8 µs, and the page's 120 label links were most of the request's time.
OF_RUNNER_COLUMN = {
    "sqlite": """(
        SELECT json_group_array(json_array(l.id, l.name, rl.type))
        FROM runner_labels rl JOIN labels l ON l.id = rl.label_id WHERE rl.runner_id = r.id
    )""",
    "postgresql": """(
        SELECT CAST(json_agg(json_build_array(l.id, l.name, rl.type) ORDER BY l.id) AS text)
        FROM runner_labels rl JOIN labels l ON l.id = rl.label_id WHERE rl.runner_id = r.id
    )""",
}


class Labels:
    """The labels of one page. A page's runners share a handful of labels, and most share
    the same set: each (label, type) is made once, and each set once, the same list handed
    to every runner that has it (not to be changed: the API renders it once per page too,
    see api/wire.py)."""

    __slots__ = ("_made", "_sets")

    def __init__(self) -> None:
        self._made: dict[tuple[int, str], Label] = {}
        self._sets: dict[str, list[Label]] = {}

    def label(self, label_id: int, name: str, type_: str) -> Label:
        made = self._made.get((label_id, type_))
        if made is None:
            made = self._made[label_id, type_] = Label(label_id, name, _TYPES[type_])
        return made

    def of_column(self, column: str | None) -> list[Label]:
        """The labels in an OF_RUNNER_COLUMN value, in id order."""
        if not column:
            return []
        found = self._sets.get(column)
        if found is None:
            # SQLite's json_group_array takes rows in the order the join visits them, the
            # primary key's (runner_id, label_id), but does not promise it: sorted to be sure
            # (a runner's label ids are unique).
            found = sorted(self.label(*link) for link in orjson.loads(column))
            self._sets[column] = found
        return found


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
