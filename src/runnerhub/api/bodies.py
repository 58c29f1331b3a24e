"""Request bodies: JSON parsing and the schema checks GitHub applies before anything runs.

Messages follow GitHub's: `Problems parsing JSON` (400), `Body should be a JSON object` (400),
and `Invalid request.\n\nInvalid input: object is missing required key: labels.` (422).
"""

from __future__ import annotations

from typing import Any

import orjson

from runnerhub.domain.jit import JitRequest
from runnerhub.errors import BadRequest, ValidationFailed

MAX_LABELS = 100


def json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Problems parsing JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("Body should be a JSON object")
    return value


def label_names(body: dict[str, Any], *, min_items: int) -> list[str]:
    names = _required(body, "labels")
    return _string_list(names, "labels", min_items=min_items, max_items=MAX_LABELS)


def jit_request(body: dict[str, Any]) -> JitRequest:
    name = _required(body, "name")
    group = _required(body, "runner_group_id")
    names = _required(body, "labels")
    if not isinstance(name, str):
        raise _invalid("name", name, "string")
    if isinstance(group, bool) or not isinstance(group, int):
        raise _invalid("runner_group_id", group, "integer")
    work_folder = body.get("work_folder", "_work")
    if not isinstance(work_folder, str):
        raise _invalid("work_folder", work_folder, "string")
    if not name.strip():
        raise ValidationFailed("Invalid request.\n\nRunner name cannot be empty.")
    labels = _string_list(names, "labels", min_items=1, max_items=MAX_LABELS)
    return JitRequest(name, group, labels, work_folder or "_work")


def _required(body: dict[str, Any], key: str) -> Any:
    if key not in body:
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid input: object is missing required key: {key}."
        )
    return body[key]


def _string_list(value: Any, key: str, *, min_items: int, max_items: int) -> list[str]:
    if not isinstance(value, list):
        raise _invalid(key, value, "array")
    for item in value:
        if not isinstance(item, str):
            raise _invalid(f"{key}/{value.index(item)}", item, "string")
    if len(value) < min_items:
        plural = "item" if min_items == 1 else "items"
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid property /{key}: {min_items} {plural} required; "
            f"only {len(value)} were supplied."
        )
    if len(value) > max_items:
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid property /{key}: no more than {max_items} items "
            f"allowed; {len(value)} were supplied."
        )
    return value


def _invalid(key: str, value: Any, expected: str) -> ValidationFailed:
    shown = orjson.dumps(value).decode()
    return ValidationFailed(
        f"Invalid request.\n\nInvalid property /{key}: `{shown}` is not of type `{expected}`."
    )
