"""The @octokit/webhooks check: a Node consumer verifying and validating deliveries
(tests/node/octokit_check.mjs), installed from npm at test time."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.receiver import Received

PACKAGES = ("@octokit/webhooks@14", "@octokit/webhooks-schemas", "ajv@8", "ajv-formats@3")


def install(directory: Path) -> Path:
    """@octokit/webhooks, its schemas and ajv installed in `directory`, with the checker
    script; skips the test without Node or when npm cannot install them."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node and npm are needed for the @octokit/webhooks check")
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
        cwd=directory, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if installed.returncode != 0:
        pytest.skip(f"npm could not install @octokit/webhooks: {installed.stderr[-500:]}")
    shutil.copy(Path(__file__).with_name("node") / "octokit_check.mjs", directory)
    return directory


def check(directory: Path, received: Sequence[Received], secret: str) -> list[dict[str, Any]]:
    """One result ({ok, error}) per delivery, in order."""
    lines = [_line(r, secret) for r in received]
    done = subprocess.run(
        ["node", "octokit_check.mjs"], cwd=directory, input="\n".join(lines),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _line(received: Received, secret: str) -> str:
    signature = received.headers["X-Hub-Signature-256"]
    return json.dumps({"event": received.event, "secret": secret,
                       "body": received.body.decode(), "signature": signature})  # fmt: skip
