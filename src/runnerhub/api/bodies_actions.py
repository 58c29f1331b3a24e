"""Request bodies of the contents, dispatch and re-run endpoints, checked as GitHub checks
them before anything runs.

The contents API answers in its own (older) words: `Invalid request.\n\n"message" wasn't
supplied.` for a missing key, `For 'properties/sha', 5 is not a string.` for a wrong type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runnerhub.api.bodies import _shown, json_object
from runnerhub.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class FileWrite:
    message: str
    content: str | None  # base64; None for a delete
    sha: str | None
    branch: str | None


@dataclass(frozen=True, slots=True)
class Dispatch:
    ref: Any  # the domain names an unknown ref in its own message
    inputs: Any
    return_run_details: bool


def file_write(raw: bytes) -> FileWrite:
    body = json_object(raw)
    message = _string(body, "message", required=True)
    content = _string(body, "content", required=True)
    return FileWrite(message or "", content, _string(body, "sha"), _string(body, "branch"))


def file_delete(raw: bytes) -> FileWrite:
    body = json_object(raw)
    message = _string(body, "message", required=True)
    sha = _string(body, "sha", required=True)
    return FileWrite(message or "", None, sha, _string(body, "branch"))


def dispatch(raw: bytes) -> Dispatch:
    body = json_object(raw)
    if "ref" not in body:
        raise _missing("ref")
    details = body.get("return_run_details", False)
    if not isinstance(details, bool):
        raise _wrong_type("return_run_details", details, "boolean")
    return Dispatch(body["ref"], body.get("inputs"), details)


def rerun(raw: bytes) -> None:
    """`{enable_debug_logging}` or nothing: read only to refuse what is not JSON."""
    body = json_object(raw)
    debug = body.get("enable_debug_logging", False)
    if not isinstance(debug, bool):
        raise _wrong_type("enable_debug_logging", debug, "boolean")


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    if key not in body:
        if required:
            raise _missing(key)
        return None
    value = body[key]
    if not isinstance(value, str):
        raise _wrong_type(key, value, "string")
    return value


def _missing(key: str) -> ValidationFailed:
    return ValidationFailed(f'Invalid request.\n\n"{key}" wasn\'t supplied.')


def _wrong_type(key: str, value: Any, expected: str) -> ValidationFailed:
    article = "an" if expected[0] in "aeiou" else "a"
    return ValidationFailed(
        f"Invalid request.\n\nFor 'properties/{key}', {_shown(value)} is not {article} {expected}."
    )
