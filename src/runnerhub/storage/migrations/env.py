from __future__ import annotations

from alembic import context
from sqlalchemy import text

from runnerhub.storage.tables import metadata

engine = context.config.attributes["engine"]
# Several `runnerhub serve` processes started at once on one PostgreSQL would each apply the
# pending migrations: the first takes this lock for its transaction, the others wait and then
# find nothing left to do (Alembic reads the version after the lock is held).
MIGRATION_LOCK = 0x72756E6E  # any constant the application uses for nothing else

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Rebuilding a table (batch mode) drops and re-creates it: with foreign keys on, the
        # drop would delete the rows that reference it. The pragma works only outside a
        # transaction, so it goes straight to the driver before the migration's BEGIN.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    applied = context.config.attributes.setdefault("applied", [])
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        # What this process applied (another may have done it all while we waited).
        on_version_apply=lambda step, **_: applied.append(
            ((step.down_revision_ids or (None,))[0], step.up_revision_id)
        ),
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()
    connection.commit()
    if sqlite:
        driver = connection.connection.driver_connection
        broken = driver.execute("PRAGMA foreign_key_check").fetchall()
        driver.execute("PRAGMA foreign_keys=ON")
        if broken:
            raise RuntimeError(f"migrations left rows pointing nowhere: {broken[:5]}")
