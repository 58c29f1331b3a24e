"""Runner labels: a case-insensitive set per runner, read-only ones from configuration and
custom ones from the API. Every operation answers the runner's labels afterwards."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from runnerhub.domain.models import Label, LabelType
from runnerhub.domain.runners import locked_runner
from runnerhub.domain.scopes import Scope
from runnerhub.errors import NotFound, ValidationFailed
from runnerhub.storage import labels

# What config.sh applies by itself: self-hosted, the OS and the architecture.
DEFAULT_VOCABULARY = frozenset(
    {"self-hosted", "linux", "macos", "windows", "x64", "x86", "arm", "arm64"}
)
MAX_NAME_LENGTH = 256  # the official runner's own limit (Validators.LabelsValidator)


def check_names(names: Sequence[str]) -> None:
    for name in names:
        if not name.strip():
            raise ValidationFailed("Invalid request.\n\nLabel names cannot be empty.")
        if "," in name:
            raise ValidationFailed(f"Invalid request.\n\nLabel name {name!r} contains a comma.")
        if len(name) > MAX_NAME_LENGTH:
            raise ValidationFailed(
                f"Invalid request.\n\nLabel names are at most {MAX_NAME_LENGTH} characters."
            )


def list_labels(conn: Connection, scope: Scope, runner_id: int) -> list[Label]:
    locked_runner(conn, scope, runner_id)
    return labels.of_runner(conn, runner_id)


def add_labels(conn: Connection, scope: Scope, runner_id: int, names: Sequence[str]) -> list[Label]:
    check_names(names)
    locked_runner(conn, scope, runner_id)
    _attach_custom(conn, scope, runner_id, names)
    return labels.of_runner(conn, runner_id)


def set_labels(conn: Connection, scope: Scope, runner_id: int, names: Sequence[str]) -> list[Label]:
    check_names(names)
    locked_runner(conn, scope, runner_id)
    labels.detach(conn, runner_id, _custom_ids(conn, runner_id))
    _attach_custom(conn, scope, runner_id, names)
    return labels.of_runner(conn, runner_id)


def remove_all_labels(conn: Connection, scope: Scope, runner_id: int) -> list[Label]:
    locked_runner(conn, scope, runner_id)
    labels.detach(conn, runner_id, _custom_ids(conn, runner_id))
    return labels.of_runner(conn, runner_id)


def remove_label(conn: Connection, scope: Scope, runner_id: int, name: str) -> list[Label]:
    locked_runner(conn, scope, runner_id)
    current = {label.name.lower(): label for label in labels.of_runner(conn, runner_id)}
    label = current.get(name.lower())
    if label is None:
        raise NotFound()
    if label.type is LabelType.READ_ONLY:
        # Undocumented on GitHub; the endpoint only removes custom labels, so refuse (422).
        raise ValidationFailed(
            f"Invalid request.\n\nLabel {label.name!r} is read-only and cannot be removed."
        )
    labels.detach(conn, runner_id, [label.id])
    return labels.of_runner(conn, runner_id)


def attach_initial(conn: Connection, scope: Scope, runner_id: int, names: Sequence[str]) -> None:
    """Labels a runner starts with: names from the default vocabulary are read-only."""
    ids = labels.ensure(conn, scope.id, names)
    read_only = [ids[n.lower()] for n in names if n.lower() in DEFAULT_VOCABULARY]
    custom = [ids[n.lower()] for n in names if n.lower() not in DEFAULT_VOCABULARY]
    labels.attach(conn, runner_id, read_only, LabelType.READ_ONLY)
    labels.attach(conn, runner_id, custom, LabelType.CUSTOM)


def _attach_custom(conn: Connection, scope: Scope, runner_id: int, names: Sequence[str]) -> None:
    ids = labels.ensure(conn, scope.id, names)
    labels.attach(conn, runner_id, ids.values(), LabelType.CUSTOM)


def _custom_ids(conn: Connection, runner_id: int) -> list[int]:
    return [lb.id for lb in labels.of_runner(conn, runner_id) if lb.type is LabelType.CUSTOM]
