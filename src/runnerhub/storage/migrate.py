"""Apply Alembic migrations: the only way the schema is created or changed."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from runnerhub.storage.database import Database


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", "runnerhub.storage:migrations")
    config.attributes["engine"] = db.engine
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    command.upgrade(alembic_config(db), revision)


def is_current(db: Database) -> bool:
    return "alembic_version" in inspect(db.engine).get_table_names()
