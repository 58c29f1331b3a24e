"""Every knob runnerhub has, read once at the edge and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from runnerhub.log_format import LogFormat


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUNNERHUB_", extra="ignore")

    # Default: a SQLite file in the data directory. postgresql://... for scale-out.
    database_url: str = ""
    data_dir: Path = Path(".")

    # Registration and remove tokens: GitHub's fixed one hour, configurable here.
    runner_token_ttl_seconds: int = 3600
    # Per-user REST budget per hour, as GitHub's 5,000; 60 for unauthenticated callers.
    rate_limit_per_hour: int = 5000
    rate_limit_unauthenticated_per_hour: int = 60
    # Wrong credentials (tokens, registration tokens, runner credentials) per client address
    # per hour; past it, credentials from that address are refused unread, as GitHub does.
    failed_logins_per_hour: int = 60

    # Runner applications served by GET .../runners/downloads.
    runner_version: str = "2.329.0"
    runner_download_base: str = "https://github.com/actions/runner/releases/download"
    # Optional JSON file with a full catalog (see docs/api-choices.md), e.g. for mirrors.
    runner_catalog_file: Path | None = None
    # GitHub's own OpenAPI descriptions (github/rest-api-description's JSON files, comma
    # separated, the first that has an operation wins): /openapi.json then carries GitHub's
    # parameters and schemas for GitHub's operations. runnerhub ships none of them.
    github_openapi: str = ""

    # A runner is online while its session polled within this window. The server holds a
    # long poll for at most half of it (and never more than 50 s, like GitHub's).
    offline_after_seconds: int = 60
    # Offline runners are removed after these, as on GitHub (14 days; ephemeral: 1 day).
    remove_offline_after_seconds: int = 14 * 24 * 3600
    remove_offline_ephemeral_after_seconds: int = 24 * 3600
    cleanup_interval_seconds: int = 600

    # GETs answer Cache-Control: private, max-age=N like GitHub's 60 s; ETags make
    # revalidation free of rate-limit cost.
    cache_max_age: int = 60

    max_body_bytes: int = 1024 * 1024

    # Slow clients (serving.py): a request's headers and its body must each arrive within
    # these, and an idle keep-alive connection is closed after the last.
    header_timeout_seconds: int = 10
    body_timeout_seconds: int = 30
    keep_alive_timeout_seconds: int = 5

    # The URL clients reach the server at, e.g. https://runners.example.com (no trailing
    # slash); `serve` fills it from --host/--port when empty.
    public_url: str = ""
    # Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For/-Proto are
    # believed. Empty: those headers are ignored, whoever sends them.
    trusted_proxies: str = ""

    # RSA keys made ahead of time in the background for JIT configs, so a burst of them does
    # not wait on key generation (~40 ms of CPU each). 0 turns the pool off.
    runner_key_pool_size: int = 256

    # Log lines on standard error: `text` for people, `json` (one object a line) for log
    # shippers; `serve --log-format` overrides it. access_log: one line per request.
    log_format: LogFormat = "text"
    access_log: bool = True

    # /metrics answers anyone by default (bind to loopback or firewall it); true: only a
    # request with a valid personal access token.
    metrics_require_token: bool = False

    # Dashboard sign-ins last this long (and never longer than the token they were made with).
    dashboard_session_seconds: int = 8 * 3600

    # Webhook deliveries: a failed one is retried with exponential backoff (1 s, doubling, at
    # most the cap) until this long after its event, then failed; 0: one attempt, as GitHub.
    webhook_retry_window_seconds: int = 24 * 3600
    webhook_max_backoff_seconds: int = 600
    webhook_timeout_seconds: float = 10.0
    # The deliverer is woken by each commit that queues a delivery; this scan also finds
    # what another instance, or one that crashed, left (and retries that came due).
    webhook_scan_seconds: float = 5.0
    # false: nothing is sent (the outbox fills; tests use it to stop a server before it sends).
    webhook_delivery: bool = True

    # Several instances on one PostgreSQL (README "Several instances"): how often each adds
    # its rate-limit counts to the shared ones and reads back the totals (the bound on how
    # far instances may disagree), and how often it looks for long polls whose wake-up
    # notification was lost.
    rate_limit_sync_seconds: float = 1.0
    wake_catch_up_seconds: float = 5.0

    # A server for tests (runnerhub.testing): POST /_runnerhub/testing/clock moves its clock.
    # Never in production: anyone with a token could expire every token.
    testing: bool = False

    @property
    def github_openapi_files(self) -> tuple[Path, ...]:
        return tuple(Path(part.strip()) for part in self.github_openapi.split(",") if part.strip())

    @property
    def long_poll_seconds(self) -> float:
        return min(50.0, self.offline_after_seconds / 2)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'runnerhub.db').resolve()}"


def normalize_database_url(url: str) -> str:
    """Accept the plain `postgresql://` form operators write and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
