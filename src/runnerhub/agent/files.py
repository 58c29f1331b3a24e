"""The agent's local state: `.runner`, `.credentials`, `.credentials_rsaparams` in the
directory it runs from, readable by its owner only."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from runnerhub.agent.errors import NotConfigured
from runnerhub.runner_config import (
    CREDENTIALS_FILE,
    FILES,
    RSA_PARAMS_FILE,
    RUNNER_FILE,
    private_key,
)


@dataclass(frozen=True, slots=True)
class LocalRunner:
    runner_id: int
    name: str
    server_url: str  # where sessions and messages live, with a trailing slash
    github_url: str  # the scope's URL: http://HOST/ORG, /OWNER/REPO or /enterprises/SLUG
    client_id: str
    authorization_url: str
    key: rsa.RSAPrivateKey
    ephemeral: bool


def write(directory: Path, files: dict[str, dict[str, Any]]) -> None:
    for name in FILES:
        path = directory / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(files[name], out, indent=2)
        path.chmod(0o600)  # also when the file existed with wider permissions


def read(directory: Path) -> LocalRunner:
    try:
        files = {name: json.loads((directory / name).read_text()) for name in FILES}
        settings, data = files[RUNNER_FILE], files[CREDENTIALS_FILE]["Data"]
        return LocalRunner(
            runner_id=int(settings["AgentId"]),
            name=settings["AgentName"],
            server_url=settings["ServerUrl"],
            github_url=settings["GitHubUrl"],
            client_id=data["clientId"],
            authorization_url=data["authorizationUrl"],
            key=private_key(files[RSA_PARAMS_FILE]),
            ephemeral=bool(settings.get("Ephemeral", False)),
        )
    except FileNotFoundError:
        raise NotConfigured(
            f"not configured: no {RUNNER_FILE} in {directory}; run `runnerhub-agent config`"
        ) from None
    except (KeyError, ValueError, TypeError) as error:
        raise NotConfigured(f"the local configuration in {directory} is damaged: {error}") from None


def remove(directory: Path) -> bool:
    removed = False
    for name in FILES:
        path = directory / name
        if path.exists():
            path.unlink()
            removed = True
    return removed
