"""Fixtures: one real database and one real server process per test session.

RUNNERHUB_TEST_DATABASE_URL picks the database (CI sets a throwaway PostgreSQL); by default
a fresh SQLite file. The schema is built by the migrations, as in production.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from runnerhub.settings import normalize_database_url
from runnerhub.storage import migrate
from runnerhub.storage.database import Database
from tests import node_check
from tests.factories import World
from tests.server import ServerProcess, start_server


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runnerhub")


@pytest.fixture(scope="session")
def database_url(workdir: Path) -> str:
    url = os.environ.get("RUNNERHUB_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{workdir / 'test.db'}"
    db = Database(normalize_database_url(url))
    with db.engine.begin() as conn:  # a clean slate for this session
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()
    return url


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    database = Database(normalize_database_url(database_url))
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def server(db: Database, database_url: str, workdir: Path) -> Iterator[ServerProcess]:
    process = start_server(database_url, workdir, rate_limit_per_hour="100000")
    yield process
    process.stop()


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: schemathesis over GitHub's OpenAPI descriptions")


@pytest.fixture(scope="session")
def octokit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the @octokit/webhooks check installed (tests/node_check.py)."""
    return node_check.install(tmp_path_factory.mktemp("octokit"))
