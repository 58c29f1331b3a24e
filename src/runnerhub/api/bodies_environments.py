"""Request bodies of the environment and deployment-review endpoints, checked before
anything is written (422 with the messages of api/bodies.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from runnerhub.api.bodies import _invalid, _required, json_object
from runnerhub.domain.environments import EnvironmentChange
from runnerhub.errors import ValidationFailed

ENVIRONMENT_KEYS = frozenset({"wait_timer", "prevent_self_review", "reviewers",
                              "deployment_branch_policy"})  # fmt: skip
REVIEWER_TYPES = ("User", "Team")
STATES = ("approved", "rejected")


@dataclass(frozen=True, slots=True)
class Review:
    environment_ids: list[int]
    state: str
    comment: str


def environment(raw: bytes) -> EnvironmentChange:
    body = json_object(raw)
    for key in body:
        if key not in ENVIRONMENT_KEYS:
            raise ValidationFailed(f"Invalid request.\n\n{key!r} is not a permitted key.")
    wait_timer = body.get("wait_timer")
    if wait_timer is not None and not _integer(wait_timer):
        raise _invalid("wait_timer", wait_timer, "integer")
    prevent = body.get("prevent_self_review")
    if prevent is not None and not isinstance(prevent, bool):
        raise _invalid("prevent_self_review", prevent, "boolean")
    if body.get("deployment_branch_policy") is not None:
        raise ValidationFailed(
            "Invalid request.\n\nrunnerhub has no deployment branch policies: "
            "deployment_branch_policy must be null."
        )
    reviewers = body.get("reviewers")
    asked = None if reviewers is None else _reviewers(reviewers)
    return EnvironmentChange(wait_timer, prevent, asked)


def _reviewers(value: Any) -> list[tuple[str, int]]:
    if not isinstance(value, list):
        raise _invalid("reviewers", value, "array")
    kept = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid(f"reviewers/{index}", item, "object")
        kind, account_id = item.get("type"), item.get("id")
        if kind not in REVIEWER_TYPES:
            raise ValidationFailed(
                f"Invalid request.\n\nInvalid property /reviewers/{index}/type: "
                f"{kind!r} is not one of User, Team."
            )
        if not _integer(account_id):
            raise _invalid(f"reviewers/{index}/id", account_id, "integer")
        kept.append((str(kind), account_id))
    return kept


def review(raw: bytes) -> Review:
    body = json_object(raw)
    ids, state, comment = (_required(body, k) for k in ("environment_ids", "state", "comment"))
    if not isinstance(ids, list):
        raise _invalid("environment_ids", ids, "array")
    for index, item in enumerate(ids):
        if not _integer(item):
            raise _invalid(f"environment_ids/{index}", item, "integer")
    if not ids:
        raise ValidationFailed("Invalid request.\n\nenvironment_ids must name an environment.")
    if state not in STATES:
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid property /state: {state!r} is not one of approved, "
            "rejected."
        )
    if not isinstance(comment, str):
        raise _invalid("comment", comment, "string")
    return Review([int(i) for i in ids], state, comment)


def _integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
