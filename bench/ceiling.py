"""The practical Python ceiling: Starlette + the stdlib sqlite3, answering the list endpoint
from the same database with the same queries and the same JSON, and nothing else."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DB = os.environ["CEILING_DB"]
_local = threading.local()


def connection() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        _local.conn = conn
    return conn


async def list_runners(request: Request) -> Response:
    token = request.headers.get("authorization", "").partition(" ")[2]
    per_page = min(int(request.query_params.get("per_page", 30)), 100)
    page = int(request.query_params.get("page", 1))
    conn = connection()
    digest = hashlib.sha256(token.encode()).hexdigest()
    if (
        conn.execute("SELECT user_id FROM api_tokens WHERE token_hash = ?", (digest,)).fetchone()
        is None
    ):
        return Response(b'{"message":"Bad credentials"}', 401, media_type="application/json")
    org = conn.execute(
        "SELECT scope_id FROM accounts WHERE login_lower = ?", (request.path_params["org"].lower(),)
    ).fetchone()
    scope = org[0]
    total = conn.execute("SELECT count(*) FROM runners WHERE scope_id = ?", (scope,)).fetchone()[0]
    rows = conn.execute(
        "SELECT r.id, r.name, r.os, r.ephemeral, g.number FROM runners r "
        "JOIN runner_groups g ON g.id = r.group_id WHERE r.scope_id = ? ORDER BY r.id "
        "LIMIT ? OFFSET ?",
        (scope, per_page, (page - 1) * per_page),
    ).fetchall()
    ids = [r[0] for r in rows]
    labels: dict[int, list[dict[str, object]]] = {i: [] for i in ids}
    if ids:
        marks = ",".join("?" * len(ids))
        for runner_id, label_id, name, type_ in conn.execute(
            "SELECT rl.runner_id, l.id, l.name, rl.type FROM runner_labels rl "
            f"JOIN labels l ON l.id = rl.label_id WHERE rl.runner_id IN ({marks}) "
            "ORDER BY rl.runner_id, l.id",
            ids,
        ):
            labels[runner_id].append({"id": label_id, "name": name, "type": type_})
    body = {
        "total_count": total,
        "runners": [
            {
                "id": r[0],
                "name": r[1],
                "os": r[2],
                "status": "offline",
                "busy": False,
                "ephemeral": bool(r[3]),
                "runner_group_id": r[4],
                "labels": labels[r[0]],
            }
            for r in rows
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")


app = Starlette(routes=[Route("/orgs/{org}/actions/runners", list_runners)])
