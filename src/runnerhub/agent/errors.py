"""What can go wrong for the agent, each with the exit code it ends with.

    AgentError               1  anything unexpected
    ├── TokenRejected        3  registration/remove token unknown, expired or for another scope
    ├── NameTaken            4  a runner with this name exists (use --replace)
    ├── Unreachable          5  no server at the URL
    ├── NotConfigured        6  no local configuration, or the server removed this runner
    ├── WrongUrl             7  no organization, repository or enterprise at the URL
    └── AlreadyConfigured    8  `config` where a runner is configured (remove it, or --replace)
(2 is a usage error, from argparse. SIGINT and SIGTERM end `run` with 0, and `config` or
`remove` with 1: see runnerhub.agent.stop.)
"""

from __future__ import annotations


class AgentError(Exception):
    exit_code = 1


class TokenRejected(AgentError):
    exit_code = 3


class NameTaken(AgentError):
    exit_code = 4


class Unreachable(AgentError):
    exit_code = 5


class NotConfigured(AgentError):
    exit_code = 6


class WrongUrl(AgentError):
    exit_code = 7


class AlreadyConfigured(AgentError):
    exit_code = 8


class SessionTaken(AgentError):
    """Another agent holds this runner's session (retried while running)."""


class SessionGone(AgentError):
    """The server no longer knows the session (it restarted or closed it): open a new one."""


class AccessExpired(AgentError):
    """The access token expired: fetch a new one."""


class JobGone(AgentError):
    """The server does not know the job as this runner's (404): it was taken away."""
