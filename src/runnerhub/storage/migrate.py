"""Apply Alembic migrations: the only way the schema is created or changed."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from runnerhub.storage.database import Database


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", "runnerhub.storage:migrations")
    config.attributes["engine"] = db.engine
    return config


def upgrade(db: Database, revision: str = "head") -> list[tuple[str | None, str]]:
    """Apply what is pending; the (from, to) revisions this call applied, in order (none when
    another process applied them first: on PostgreSQL one process migrates at a time)."""
    config = alembic_config(db)
    command.upgrade(config, revision)
    return list(config.attributes.get("applied", []))


def is_current(db: Database) -> bool:
    return "alembic_version" in inspect(db.engine).get_table_names()


@cache
def head() -> str | None:
    """The newest revision this code has (read from the migration scripts once)."""
    config = Config()
    config.set_main_option("script_location", "runnerhub.storage:migrations")
    return ScriptDirectory.from_config(config).get_current_head()


def revision(conn: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()
