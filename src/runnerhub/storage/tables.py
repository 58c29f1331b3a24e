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
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
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

# Group `number` is what the API calls runner_group_id; 1 is every scope's Default group,
# other groups number from `runner_group_numbers` (migration 0008), one sequence for all.
runner_groups = Table(
    "runner_groups",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("name", String(255), nullable=False),
    Column("name_lower", String(255), nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("visibility", String(16), nullable=False, default="all"),  # all | selected | private
    Column("allows_public_repositories", Boolean, nullable=False, server_default=false()),
    Column("restricted_to_workflows", Boolean, nullable=False, server_default=false()),
    Column("selected_workflows", Text, nullable=False, server_default="[]"),  # JSON
    UniqueConstraint("scope_id", "number"),
    UniqueConstraint("scope_id", "name_lower"),
    sqlite_autoincrement=True,
)

# One row per group number handed out: number = id + 2 (1 is Default, 2 GitHub's hosted group).
runner_group_numbers = Table(
    "runner_group_numbers",
    metadata,
    Column("id", Id, primary_key=True),
    sqlite_autoincrement=True,
)

# The repositories an organization group with visibility `selected` serves.
runner_group_repositories = Table(
    "runner_group_repositories",
    metadata,
    Column("group_id", Id, ForeignKey("runner_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "repo_id"),
)

# The organizations an enterprise group with visibility `selected` is shared with.
runner_group_organizations = Table(
    "runner_group_organizations",
    metadata,
    Column("group_id", Id, ForeignKey("runner_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("org_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "org_id"),
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
    # The job the runner holds (jobs.id; no foreign key: jobs point at runners already).
    Column("job_id", Id),
    UniqueConstraint("scope_id", "name_lower"),
    Index(None, "scope_id", "id"),
    Index(None, "group_id", "id"),
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
    # Runner lists read links and types from this index alone (migration 0011).
    Index(None, "runner_id", "label_id", "type"),
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

# -- workflows, runs and jobs (migration 0007)

# Each write of a workflow file through the contents API is a commit on the repository's
# default branch; runs carry its sha.
commits = Table(
    "commits",
    metadata,
    Column("id", Id, primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("sha", String(40), nullable=False),
    Column("branch", String(255), nullable=False),
    Column("message", Text, nullable=False),
    Column("author_id", Id, ForeignKey("accounts.id")),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("repo_id", "sha"),
    Index(None, "repo_id", "branch", "id"),
    sqlite_autoincrement=True,
)

# The files under .github/workflows as the default branch has them now.
workflow_files = Table(
    "workflow_files",
    metadata,
    Column("id", Id, primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(255), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("blob_sha", String(40), nullable=False),  # git's blob sha1: the contents API's sha
    Column("commit_sha", String(40), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("repo_id", "path"),
    sqlite_autoincrement=True,
)

# A workflow outlives its file (state `deleted`), as runs keep pointing at it.
workflows = Table(
    "workflows",
    metadata,
    Column("id", Id, primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("state", String(32), nullable=False),  # active | disabled_manually | deleted
    Column("run_count", BigInteger, nullable=False, server_default="0"),  # last run_number
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("repo_id", "path"),
    sqlite_autoincrement=True,
)

workflow_runs = Table(
    "workflow_runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("workflow_id", Id, ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False),
    Column("run_number", BigInteger, nullable=False),
    Column("run_attempt", Integer, nullable=False, server_default="1"),
    Column("name", String(255), nullable=False),
    Column("event", String(32), nullable=False),  # push | workflow_dispatch
    # queued | waiting (a job waits for its environment) | in_progress | completed
    Column("status", String(16), nullable=False),
    Column("conclusion", String(16)),
    Column("head_sha", String(40), nullable=False),
    Column("head_branch", String(255), nullable=False),
    Column("actor_id", Id, ForeignKey("accounts.id")),
    Column("triggering_actor_id", Id, ForeignKey("accounts.id")),
    Column("inputs", Text, nullable=False, server_default="{}"),  # JSON
    Column("content", LargeBinary, nullable=False),  # the workflow file as it was run
    Column("error", Text),  # why the run failed at once (an invalid workflow file)
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("run_started_at", UTCDateTime()),
    Index(None, "repo_id", "id"),
    Index(None, "workflow_id", "id"),
    sqlite_autoincrement=True,
)

# Jobs of runs, routed to runners by label. A runner holds at most one (runners.job_id, set
# and cleared with the job's own row in one transaction): that is what `busy` means.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id"), nullable=False),  # the repository's
    # Where else runners may take it from: the owner organization's and its enterprise's.
    Column("org_scope_id", Id),
    Column("enterprise_scope_id", Id),
    Column("run_id", Id, ForeignKey("workflow_runs.id", ondelete="CASCADE")),
    Column("run_attempt", Integer, nullable=False, server_default="1"),
    Column("job_key", String(100), nullable=False, server_default=""),
    Column("name", String(255), nullable=False, server_default=""),
    Column("matrix", Text),  # JSON of this job's matrix combination
    Column("labels", Text, nullable=False, server_default="[]"),  # JSON: runs-on, all needed
    Column("runner_group", String(255)),  # runs-on: {group: ...}
    Column("runner_id", Id, ForeignKey("runners.id", ondelete="SET NULL")),
    Column("runner_name", String(limits.RUNNER_NAME)),
    Column("runner_group_id", BigInteger),
    Column("runner_group_name", String(255)),
    # pending (waits for needs) | waiting (for its environment) | queued | in_progress |
    # completed
    Column("status", String(16), nullable=False),
    Column("conclusion", String(16)),
    Column("acknowledged", Boolean, nullable=False, server_default=false()),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("cancel_delivered", Boolean, nullable=False, server_default=false()),
    Column("steps", Text, nullable=False, server_default="[]"),  # JSON
    Column("outputs", Text, nullable=False, server_default="{}"),  # JSON
    Column("message", Text),  # JSON: what the agent is sent (docs/runner-protocol.md)
    Column("log_bytes", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    # A job of an environment with protection rules is `waiting` until they pass: its wait
    # timer runs from waiting_since to wait_until, and a required reviewer approves it.
    Column("environment_id", BigInteger),
    Column("waiting_since", UTCDateTime()),
    Column("wait_until", UTCDateTime()),
    Column("review_needed", Boolean, nullable=False, server_default=false()),
    Column("queued_at", UTCDateTime()),  # when it was queued after waiting (else created_at)
    Index(None, "runner_id", "status"),
    Index(None, "status", "id"),
    Index(None, "run_id"),
    sqlite_autoincrement=True,
)

# Deployment environments of repositories, and their protection rules (a wait timer,
# required reviewers). `name_key` is the name lower-cased: names are case-insensitive.
environments = Table(
    "environments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("name_key", String(255), nullable=False),
    Column("wait_timer", Integer, nullable=False, server_default="0"),  # minutes
    Column("prevent_self_review", Boolean, nullable=False, server_default=false()),
    Column("reviewers", Text, nullable=False, server_default="[]"),  # JSON [{type, id}]
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("repo_id", "name_key"),
    sqlite_autoincrement=True,
)

# A deployment per job whose environment's review was given (approved or rejected), as the
# review endpoint answers them.
deployments = Table(
    "deployments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("repo_id", Id, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("environment", String(255), nullable=False),
    Column("job_id", BigInteger, nullable=False),
    Column("sha", String(40), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("creator_id", BigInteger),
    Column("state", String(16), nullable=False),  # approved | rejected
    Column("comment", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "repo_id", "id"),
    sqlite_autoincrement=True,
)

job_log_lines = Table(
    "job_log_lines",
    metadata,
    Column("job_id", Id, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("step", Integer, nullable=False),
    Column("time", UTCDateTime(), nullable=False),
    Column("text", Text, nullable=False),
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

# Dashboard sign-ins: a browser's session cookie holds a random id, of which only the SHA-256
# is kept. A session acts through the token it was opened with, and ends with it.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("token_id", Id, ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index(None, "token_id"),
    Index(None, "expires_at"),
)

# Webhooks of repositories and organizations (the scope they are filed under).
hooks = Table(
    "hooks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope_id", Id, ForeignKey("scopes.id", ondelete="CASCADE"), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event names ("*": all)
    Column("url", Text, nullable=False),
    Column("content_type", String(8), nullable=False),  # json | form
    Column("secret", Text),  # never shown: the API answers "********"
    Column("insecure_ssl", String(1), nullable=False),  # "0" | "1"
    Column("last_code", Integer),
    Column("last_status", String(32), nullable=False, server_default="unused"),
    Column("last_message", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "scope_id"),
    sqlite_autoincrement=True,
)

# The outbox and the deliveries API's records at once: a row is written in the transaction of
# the change it tells of (state `pending`), sent by the deliverer in id order per hook, and
# keeps what was sent and answered. A redelivery is a new row with the same guid.
PENDING = "state = 'pending'"  # as written, so that both databases use the partial index
hook_deliveries = Table(
    "hook_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("hook_id", Id, ForeignKey("hooks.id", ondelete="CASCADE"), nullable=False),
    Column("guid", String(36), nullable=False),
    Column("event", String(64), nullable=False),
    Column("action", String(32)),
    Column("repository_id", BigInteger),
    Column("subject", Text, nullable=False),  # JSON: the state the event tells of
    Column("payload", Text),  # JSON as first sent (rendered from subject), resent as it was
    Column("redelivery", Boolean, nullable=False, server_default=false()),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime()),  # an instance is sending it until then
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("duration", Float),
    Column("status", String(255)),
    Column("status_code", Integer),
    Column("request_headers", Text),  # JSON
    Column("response_headers", Text),  # JSON
    Column("response_body", Text),
    Index(None, "hook_id", "id"),
    Index(None, "state", "next_attempt_at"),
    # What each hook has still to send, in order, without walking what it has sent.
    Index("ix_hook_deliveries_pending", "hook_id", "id",
          sqlite_where=text(PENDING), postgresql_where=text(PENDING)),
    sqlite_autoincrement=True,
)

# Hourly rate-limit budgets shared by the server instances on one PostgreSQL
# (coordination/shared_ratelimit.py): the count of the current window of each key.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(255), primary_key=True),  # user:ID, ip:ADDRESS, login:ADDRESS
    Column("resets_at", BigInteger, nullable=False),  # epoch seconds the window ends
    Column("used", Integer, nullable=False),
)
