"""Request bodies of the runner-group endpoints, checked as GitHub's schemas declare them
(422 with the messages of api/bodies.py) before anything is written."""

from __future__ import annotations

from typing import Any

from runnerhub.api.bodies import _invalid, _required, json_object
from runnerhub.domain.runner_groups import MAX_RUNNERS, GroupChange, GroupSpec
from runnerhub.errors import ValidationFailed

MAX_WORKFLOWS = 100


def group_spec(raw: bytes, *, selected_key: str) -> GroupSpec:
    """create-self-hosted-runner-group: `selected_key` is `selected_repository_ids`
    (organization) or `selected_organization_ids` (enterprise)."""
    body = json_object(raw)
    name = _required(body, "name")
    if not isinstance(name, str):
        raise _invalid("name", name, "string")
    visibility = _optional(body, "visibility", str, "string")
    return GroupSpec(
        name=name,
        visibility="all" if visibility is None else visibility,
        selected_ids=tuple(_ids(body, selected_key, required=False)),
        runners=tuple(_ids(body, "runners", required=False)),
        allows_public_repositories=_flag(body, "allows_public_repositories"),
        restricted_to_workflows=_flag(body, "restricted_to_workflows"),
        selected_workflows=tuple(_workflows(body) or ()),
    )  # fmt: skip


def group_change(raw: bytes, *, name_required: bool) -> GroupChange:
    """update-self-hosted-runner-group: the organization's requires `name`, the
    enterprise's body is optional."""
    body = json_object(raw)
    if name_required:
        _required(body, "name")
    name = _optional(body, "name", str, "string")
    workflows = _workflows(body)
    return GroupChange(
        name=name,
        visibility=_optional(body, "visibility", str, "string"),
        allows_public_repositories=_optional(body, "allows_public_repositories", bool, "boolean"),
        restricted_to_workflows=_optional(body, "restricted_to_workflows", bool, "boolean"),
        selected_workflows=None if workflows is None else tuple(workflows),
    )  # fmt: skip


def id_list(raw: bytes, key: str) -> tuple[int, ...]:
    """`{key: [ids]}`, required (set-repo-access, set-org-access, set-runners)."""
    return tuple(_ids(json_object(raw), key, required=True))


def _flag(body: dict[str, Any], key: str) -> bool:
    return bool(_optional(body, key, bool, "boolean"))


def _optional(body: dict[str, Any], key: str, kind: type, expected: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    # bool is an int in Python, and JSON's true is no string: exact types only.
    if type(value) is not kind:
        raise _invalid(key, value, expected)
    return value


def _ids(body: dict[str, Any], key: str, *, required: bool) -> list[int]:
    value = _required(body, key) if required else body.get(key, [])
    if not isinstance(value, list):
        raise _invalid(key, value, "array")
    for index, item in enumerate(value):
        if type(item) is not int:
            raise _invalid(f"{key}/{index}", item, "integer")
    if len(value) > MAX_RUNNERS and key == "runners":
        raise ValidationFailed(
            f"Bad request - A runner group can have at most {MAX_RUNNERS} runners."
        )
    return value


def _workflows(body: dict[str, Any]) -> list[str] | None:
    value = body.get("selected_workflows")
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid("selected_workflows", value, "array")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _invalid(f"selected_workflows/{index}", item, "string")
    if len(value) > MAX_WORKFLOWS:
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid property /selected_workflows: no more than "
            f"{MAX_WORKFLOWS} items allowed; {len(value)} were supplied."
        )
    return value
