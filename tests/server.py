"""Start the real `runnerhub serve` process on a free loopback port: the pytest plugin's
own helper (runnerhub.testing), which the project's tests use too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runnerhub import testing
from runnerhub.testing import POOL_SIZE, ServerProcess, free_port

__all__ = ["POOL_SIZE", "ServerProcess", "free_port", "start_server"]


def start_server(database_url: str, workdir: Path, **settings: Any) -> ServerProcess:
    """runnerhub.testing.start_server, with room for the anonymous calls the tests make from
    127.0.0.1 all along: on PostgreSQL every server on the session's database counts them
    together (rate limits are shared across instances), past GitHub's 60 an hour."""
    settings.setdefault("rate_limit_unauthenticated_per_hour", "100000")
    return testing.start_server(database_url, workdir, **settings)
