"""Several `runnerhub serve` processes on one PostgreSQL behind a real load balancer (HAProxy,
round robin on loopback; runnerhub.balancer): what a change through one instance does to an
agent held by another, jobs and webhooks exactly once across instances, an instance killed
with agents connected, and one rate limit for all of them.

PostgreSQL only (SQLite is one process's database), and only where haproxy is installed.
Each group of tests has a database of its own on the test cluster, so no other module's
server takes part.

RUNNERHUB_INSTANCES_JOBS sets how many jobs go through the many-jobs test (the issue's
10 000; 2 000 by default, to keep the suite's time in bounds).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from runnerhub.balancer import haproxy, start_instances
from runnerhub.settings import normalize_database_url

URL = os.environ.get("RUNNERHUB_TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.skipif(not URL.startswith("postgres"), reason="several instances need PostgreSQL"),
    pytest.mark.skipif(haproxy() is None, reason="haproxy is not installed"),
]


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the test cluster (its URL); dropped afterwards."""
    base = make_url(normalize_database_url(URL))
    name = f"instances_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def long_polls(url: str) -> int:
    """How many long polls one instance holds (its /metrics)."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(r"^runnerhub_long_polls (\S+)$", metrics, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


# -- starting several at once


def test_instances_started_at_once_on_an_empty_database_migrate_it_once(
    tmp_path: Path,
) -> None:
    """Three `serve` processes at the same moment on a database with no schema: each applies
    the pending migrations under one advisory lock, so none fails on another's tables."""
    with fresh_database() as url:
        instances = start_instances(url, tmp_path, 3)
        try:
            for server in instances.servers:
                assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
            logs = [server.log.read_text() for server in instances.servers]
            migrated = [log for log in logs if "schema migrated from empty" in log]
            assert len(migrated) == 1, logs
            answers = Counter(
                httpx.get(f"{instances.url}/healthz", timeout=10).status_code for _ in range(9)
            )
            assert answers == {200: 9}
        finally:
            instances.stop()
