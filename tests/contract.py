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


# Workflow files, workflows, runs and jobs are described in the jobs-*.json descriptions.
# Webhooks too (and their payloads, `x-webhooks`).
_JOBS_PATH = re.compile(
    r"^/(repos/[^/]+/[^/]+/(contents|hooks|actions/(workflows|runs|jobs))|orgs/[^/]+/hooks)(/|$)"
)
# runnerhub's own routes (where log downloads redirect to): not in GitHub's description.
OWN_PREFIX = "/_runnerhub/"


def is_own(path: str) -> bool:
    return path.removeprefix("/api/v3").startswith(OWN_PREFIX)


def spec_for(path: str) -> str:
    """ghes.json under /api/v3, ghec.json for enterprise paths, dotcom.json otherwise; their
    jobs-*.json siblings for workflow files, workflows, runs and jobs."""
    bare = path.removeprefix("/api/v3")
    jobs = "jobs-" if _JOBS_PATH.match(bare) else ""
    if path.startswith("/api/v3"):
        return f"{jobs}ghes"
    if path.startswith("/enterprises/"):
        return "ghec"
    return f"{jobs}dotcom"


@functools.cache
def _templates(name: str) -> list[tuple[re.Pattern[str], str]]:
    found = []
    for template in spec(name)["paths"]:
        # {path} (the contents API's) spans segments; every other parameter is one segment.
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template.replace("{path}", ".+"))
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
    document = _for_validation(name)
    if "$ref" in declared:
        declared = document["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    content = declared.get("content", {})
    if not content:
        assert body in (None, b"", ""), f"{method} {path} {status} declares no body"
        return
    schema = content["application/json"]["schema"]
    if "discriminator" in schema and not isinstance(body, dict):
        # get-content maps a directory (a JSON array) by a `type` property an array cannot
        # have; the validator would refuse every listing, so the oneOf alone decides.
        schema = {key: value for key, value in schema.items() if key != "discriminator"}
    OAS30Validator({**schema, "components": document["components"]}).validate(body)


def validate_webhook(
    event: str, action: str | None, payload: Any, name: str = "jobs-dotcom"
) -> None:
    """Raise if `payload` is not what GitHub's `x-webhooks` declare for the event and action
    (`workflow-job-queued`, `ping`)."""
    document = _for_validation(name)
    key = event.replace("_", "-") + (f"-{action.replace('_', '-')}" if action else "")
    schema = document["x-webhooks"][key]["post"]["requestBody"]["content"]["application/json"]
    OAS30Validator({**schema["schema"], "components": document["components"]}).validate(payload)


@functools.cache
def _for_validation(name: str) -> dict[str, Any]:
    """The description with `null` added to every nullable enum. OpenAPI 3.0.3 reads
    `nullable: true` beside an `enum` without null as refusing null, but GitHub means null
    allowed: a queued job's `conclusion` is null (its 3.1 description lists null in the enum)."""
    document = json.loads(json.dumps(spec(name)))
    pending: list[Any] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if item.get("nullable") is True and None not in item.get("enum", [None]):
                item["enum"].append(None)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return dict(document)
