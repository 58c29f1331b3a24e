"""The agent's local state: `.runner`, `.credentials`, `.credentials_rsaparams` in the
directory it runs from, readable by its owner only (formats in runnerhub.runner_config)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runnerhub.agent.errors import NotConfigured
from runnerhub.runner_config import (
    CREDENTIALS_FILE,
    FILES,
    RSA_PARAMS_FILE,
    RUNNER_FILE,
    Documents,
    RunnerFiles,
    parse_files,
)


def configured(directory: Path) -> bool:
    """As the official runner decides it: `.runner` exists."""
    return (directory / RUNNER_FILE).exists()


def write(directory: Path, documents: Documents) -> None:
    # `.runner` last: it is what makes the directory configured, so an interrupted write
    # leaves a directory that can be configured again.
    for name in (RSA_PARAMS_FILE, CREDENTIALS_FILE, RUNNER_FILE):
        path = directory / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(documents[name], out, indent=2)
        path.chmod(0o600)  # also when the file existed with wider permissions


def read(directory: Path) -> RunnerFiles:
    try:
        # utf-8-sig: the official runner writes its files with a byte order mark.
        documents = {
            name: json.loads((directory / name).read_text(encoding="utf-8-sig")) for name in FILES
        }
        return parse_files(documents)
    except FileNotFoundError:
        raise NotConfigured(
            f"not configured: no {RUNNER_FILE} in {directory}; run `runnerhub-agent config`"
        ) from None
    except ValueError as error:
        raise NotConfigured(f"the local configuration in {directory} is damaged: {error}") from None


def remove(directory: Path) -> bool:
    removed = False
    for name in FILES:
        path = directory / name
        if path.exists():
            path.unlink()
            removed = True
    return removed
