"""The schema, as SQLAlchemy Core tables. Migrations in `migrations/` create it; nothing else does.

Every runner-side row hangs off a *scope*: one enterprise, organization or repository. Runners,
labels, runner groups and runner tokens carry `scope_id`, so a query filtered on it cannot leak
across scopes (see `storage/runners.py`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from runnerhub.storage import limits
from runnerhub.storage.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# SQLite's rowid alias needs INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity. Tables
# with ids are AUTOINCREMENT on SQLite (migration 0006): an id is never handed out twice.
Id = BigInteger().with_variant(Integer(), "sqlite")

scopes = Table(
    "scopes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("kind", String(16), nullable=False),  # enterprise | organization | repository
    # Kept exact by triggers (migration 0003): list requests read it instead of counting.
    Column("runner_count", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)

enterprises = Table(
    "enterprises",
    metadata,
    Column("id", Id, primary_key=True),
    Column("slug", String(100), nullable=False),
    Column("slug_lower", String(100), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

# Users and organizations share one login namespace, as on GitHub.
accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("login", String(100), nullable=False),
    Column("login_lower", String(100), nullable=False, unique=True),
    Column("type", String(16), nullable=False),  # User | Organization
    Column("name", String(255)),
    Column("site_admin", Boolean, nullable=False, default=False),
    Column("enterprise_id", Id, ForeignKey("enterprises.id")),
    Column("scope_id", Id, ForeignKey("scopes.id"), unique=True),  # organizations only
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

enterprise_owners = Table(
    "enterprise_owners",
    metadata,
    Column("enterprise_id", Id, ForeignKey("enterprises.id"), primary_key=True),
    Column("user_id", Id, ForeignKey("accounts.id"), primary_key=True),
)

org_memberships = Table(
    "org_memberships",
    metadata,
    Column("org_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("user_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("role", String(16), nullable=False),  # admin | member
    Index(None, "user_id"),
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Id, primary_key=True),
    Column("owner_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("name_lower", String(100), nullable=False),
    Column("private", Boolean, nullable=False, default=False),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("owner_id", "name_lower"),
    sqlite_autoincrement=True,
)

repo_collaborators = Table(
    "repo_collaborators",
    metadata,
    Column("repo_id", Id, ForeignKey("repositories.id"), primary_key=True),
    Column("user_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("permission", String(16), nullable=False),  # admin | write | read
    Index(None, "user_id"),
)

# Personal access tokens. Only the SHA-256 of a token is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # classic | fine_grained
    Column("scopes", Text, nullable=False, default=""),  # classic: comma-separated
    Column("permissions", Text, nullable=False, default=""),  # fine-grained: name=level,...
    Column("resource_owner_id", Id, ForeignKey("accounts.id")),  # fine-grained
    Column("repository_selection", String(16)),  # fine-grained: all | selected
    Column("expires_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    # What `admin list-tokens` shows: the kind's prefix and 4 characters (ghp_Ab12), enough to
    # recognise a token and far too little to use it; and the operator's note. NULL on tokens
    # made before migration 0005.
    Column("token_prefix", String(16)),
    Column("note", Text),
    sqlite_autoincrement=True,
)

api_token_repositories = Table(
    "api_token_repositories",
    metadata,
    Column("token_id", Id, ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id"), primary_key=True),
)

# Group `number` is what the API calls runner_group_id; 1 is every scope's Default group.
runner_groups = Table(
    "runner_groups",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("name", String(255), nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("visibility", String(16), nullable=False, default="all"),
    UniqueConstraint("scope_id", "number"),
    sqlite_autoincrement=True,
)

runners = Table(
    "runners",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False),
    Column("group_id", Id, ForeignKey("runner_groups.id"), nullable=False),
    Column("name", String(limits.RUNNER_NAME), nullable=False),
    Column("name_lower", String(limits.RUNNER_NAME), nullable=False),
    Column("os", String(limits.RUNNER_OS), nullable=False),
    Column("version", String(limits.RUNNER_VERSION)),
    Column("ephemeral", Boolean, nullable=False, default=False),
    Column("work_folder", String(limits.WORK_FOLDER), nullable=False, default="_work"),
    Column("public_key", Text),  # PEM; the agent proves possession of the private half
    Column("client_id", String(36), unique=True),  # OAuth client id in the runner's credentials
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime()),
    # The agent's one live session; online = a session that polled within the window.
    Column("session_id", String(36), unique=True),
    Column("session_started_at", UTCDateTime()),
    UniqueConstraint("scope_id", "name_lower"),
    Index(None, "scope_id", "id"),
    sqlite_autoincrement=True,
)

labels = Table(
    "labels",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False),
    Column("name", String(limits.LABEL_NAME), nullable=False),
    Column("name_lower", String(limits.LABEL_NAME), nullable=False),
    UniqueConstraint("scope_id", "name_lower"),
    sqlite_autoincrement=True,
)

# A label's type belongs to its use on one runner: `self-hosted` set by the runner's
# configuration is read-only there, the same label added through the API is custom.
runner_labels = Table(
    "runner_labels",
    metadata,
    Column("runner_id", Id, ForeignKey("runners.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", Id, ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True),
    Column("type", String(16), nullable=False),  # read-only | custom
    Index(None, "label_id"),  # ON DELETE CASCADE from labels scans without it
)

runner_tokens = Table(
    "runner_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False),
    Column("purpose", String(16), nullable=False),  # registration | remove
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

# Jobs assigned to runners. A runner is busy while it holds a job that is not completed;
# routing queued jobs to runners by label builds on this table.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False),
    Column("runner_id", Id, ForeignKey("runners.id", ondelete="SET NULL")),
    Column("status", String(16), nullable=False),  # queued | in_progress | completed
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    Index(None, "runner_id", "status"),
    sqlite_autoincrement=True,
)

# Short-lived bearer tokens the agent gets by proving it holds its registered key.
runner_access_tokens = Table(
    "runner_access_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("runner_id", Id, ForeignKey("runners.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index(None, "runner_id"),
)
