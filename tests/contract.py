"""Validate response bodies against GitHub's official OpenAPI descriptions in shared/spec."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

# GitHub's OpenAPI descriptions live in the workspace's shared/ beside the checkout (where CI
# puts them too); RUNNERHUB_SPEC_DIR points elsewhere.
SPEC_DIR = Path(
    os.environ.get("RUNNERHUB_SPEC_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "spec" / "openapi"
)


@functools.cache
def spec(name: str) -> dict[str, Any]:
    path = SPEC_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"GitHub's OpenAPI description {path} is missing: the contract tests need "
            "shared/spec/openapi beside the checkout, or RUNNERHUB_SPEC_DIR"
        )
    return dict(json.loads(path.read_text()))


def spec_for(path: str) -> str:
    """ghes.json under /api/v3, ghec.json for enterprise paths, dotcom.json otherwise."""
    if path.startswith("/api/v3"):
        return "ghes"
    if path.startswith("/enterprises/"):
        return "ghec"
    return "dotcom"


@functools.cache
def _templates(name: str) -> list[tuple[re.Pattern[str], str]]:
    found = []
    for template in spec(name)["paths"]:
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        found.append((re.compile(f"^{pattern}$"), template))
    # Literal segments beat parameters: /runners/downloads before /runners/{runner_id}.
    found.sort(key=lambda item: item[1].count("{"))
    return found


def template_of(name: str, path: str) -> str:
    path = path.removeprefix("/api/v3")
    for pattern, template in _templates(name):
        if pattern.match(path):
            return template
    raise AssertionError(f"{path} is not a path of {name}.json")


def operation(name: str, path: str, method: str) -> dict[str, Any]:
    return dict(spec(name)["paths"][template_of(name, path)][method.lower()])


def validate(path: str, method: str, status: int, body: Any) -> None:
    """Raise if `body` is not what the spec declares for this path, method and status."""
    name = spec_for(path)
    responses = operation(name, path, method)["responses"]
    declared = responses.get(str(status))
    assert declared is not None, f"{method} {path} does not declare status {status}"
    document = spec(name)
    if "$ref" in declared:
        declared = document["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    content = declared.get("content", {})
    if not content:
        assert body in (None, b"", ""), f"{method} {path} {status} declares no body"
        return
    schema = content["application/json"]["schema"]
    OAS30Validator({**schema, "components": document["components"]}).validate(body)
