"""Rules a tool can check: every route declares a permission, operation ids and paths are
GitHub's, the domain knows no HTTP, and the migrations have one head."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from runnerhub.app import GHES_PREFIX, all_operations, create_app
from runnerhub.auth.permissions import RUNNERS_READ, RUNNERS_WRITE, Level, Permission
from runnerhub.settings import Settings
from runnerhub.storage.database import Database
from runnerhub.storage.migrate import alembic_config
from tests.contract import spec, spec_for, template_of

SRC = Path(__file__).resolve().parents[1] / "src" / "runnerhub"


def test_every_route_declares_a_permission() -> None:
    operations = all_operations()
    assert len([op for op in operations if op.scope_kind is not None]) == 36
    for op in operations:
        assert isinstance(op.permission, Permission), op.operation_id
        if op.scope_kind is not None:
            expected = RUNNERS_READ if op.method == "GET" else RUNNERS_WRITE
            assert op.permission is expected, op.operation_id
            # Read or write is the permission's own: a GET never needs write.
            level = Level.READ if op.method == "GET" else Level.WRITE
            assert op.permission.level is level, op.operation_id
            assert op.resolve is not None, op.operation_id


def test_every_route_is_mounted_at_both_prefixes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings, Database(f"sqlite:///{tmp_path / 'x.db'}"))
    paths = {getattr(route, "path", "") for route in app.routes}
    assert GHES_PREFIX in paths
    for op in all_operations():
        assert op.path in paths, op.path


REST = [op for op in all_operations() if not op.permission.agent]


@pytest.mark.parametrize("op", REST, ids=lambda op: op.operation_id)
def test_operation_matches_githubs_description(op: object) -> None:
    path = op.path.replace(":id", "").replace(":path", "")  # type: ignore[attr-defined]
    name = spec_for(path)
    template = template_of(name, path)
    described = spec(name)["paths"][template][op.method.lower()]  # type: ignore[attr-defined]
    assert described["operationId"] == op.operation_id  # type: ignore[attr-defined]


def test_the_layers_hold() -> None:
    """The import contracts in pyproject.toml ([tool.importlinter]): layers, no HTTP below
    api/, no SQL in the domain, api/ through the domain, the agent on its own."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=SRC.parents[1], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_domain_and_storage_know_no_http() -> None:
    for package in ("domain", "storage", "auth"):
        for module in (SRC / package).rglob("*.py"):
            tree = ast.parse(module.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert not name.startswith(("starlette", "fastapi", "runnerhub.api")), (
                        f"{module} imports {name}"
                    )


def test_migrations_have_a_single_head(tmp_path: Path) -> None:
    config = alembic_config(Database(f"sqlite:///{tmp_path / 'x.db'}"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_migrations_build_exactly_the_tables(db: Database) -> None:
    """The schema the migrations made (on this session's SQLite or PostgreSQL) is the one
    storage/tables.py describes."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from runnerhub.storage.tables import metadata

    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
