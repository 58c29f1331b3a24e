"""Checks on text before it is stored: one place, GitHub-shaped 422s."""

from __future__ import annotations

from runnerhub.errors import ValidationFailed


def check_text(value: str, what: str, max_length: int) -> None:
    """`what` ("Runner name") fits its column of `max_length` characters, lower-cased
    too (`İ` lower-cases to two characters, and the lower-cased name is stored beside it),
    and holds no NUL, which PostgreSQL cannot store."""
    if not value.strip():
        raise ValidationFailed(f"Invalid request.\n\n{what} cannot be empty.")
    if "\x00" in value:
        raise ValidationFailed(f"Invalid request.\n\n{what} cannot contain NUL characters.")
    if max(len(value), len(value.lower())) > max_length:
        raise ValidationFailed(f"Invalid request.\n\n{what} is at most {max_length} characters.")
