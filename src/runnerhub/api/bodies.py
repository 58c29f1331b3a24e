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
    """The body as a JSON object. Nested deeper than 1 024 levels it is bad JSON (orjson's
    limit); a string holding NUL, which nothing can store, is refused (422)."""
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("Problems parsing JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("Body should be a JSON object")
    if b"\\u0000" in raw and _holds_nul(value):
        raise ValidationFailed("Invalid request.\n\nStrings cannot contain NUL characters.")
    return value


def _holds_nul(value: Any) -> bool:
    pending = [value]
    while pending:  # iterative: a deeply nested body must not exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


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
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _invalid(f"{key}/{index}", item, "string")
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
    shown = _shown(value)
    return ValidationFailed(
        f"Invalid request.\n\nInvalid property /{key}: `{shown}` is not of type `{expected}`."
    )


def _shown(value: Any, limit: int = 100) -> str:
    """The offending value as JSON, cut short: it may be large, or nested too deep to
    serialise at all (orjson stops at 255 levels)."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
