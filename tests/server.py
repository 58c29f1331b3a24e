"""Start the real `runnerhub serve` process on a free loopback port: the pytest plugin's
own helper (runnerhub.testing), which the project's tests use too."""

from __future__ import annotations

from runnerhub.testing import POOL_SIZE, ServerProcess, free_port, start_server

__all__ = ["POOL_SIZE", "ServerProcess", "free_port", "start_server"]
