"""Runner labels. Read-only labels come from the runner's own configuration (`self-hosted`,
the OS, the architecture, and what `--labels` added when the runner was configured, as on
GitHub); custom labels are added through the API. Every operation answers the runner's
labels afterwards, and a change is announced to the runner's agent once it has committed."""

from __future__ import annotations

from collections.abc import Sequence

from runnerhub.domain.events import RunnerChanged
from runnerhub.domain.models import Label, LabelType
from runnerhub.domain.runners import locked_runner
from runnerhub.domain.scopes import Scope
from runnerhub.domain.text import check_text
from runnerhub.errors import NotFound, ValidationFailed
from runnerhub.storage import labels, limits
from runnerhub.storage.runners import RunnerRow
from runnerhub.storage.unit_of_work import UnitOfWork

# What config.sh applies by itself: self-hosted, the OS and the architecture.
DEFAULT_VOCABULARY = frozenset(
    {"self-hosted", "linux", "macos", "windows", "x64", "x86", "arm", "arm64"}
)


def check_names(names: Sequence[str]) -> None:
    for name in names:
        check_text(name, "A label name", limits.LABEL_NAME)
        if "," in name:
            raise ValidationFailed(f"Invalid request.\n\nLabel name {name!r} contains a comma.")


def list_labels(uow: UnitOfWork, scope: Scope, runner_id: int) -> list[Label]:
    locked_runner(uow, scope, runner_id)
    return labels.of_runner(uow.conn, runner_id)


def add_labels(uow: UnitOfWork, scope: Scope, runner_id: int, names: Sequence[str]) -> list[Label]:
    check_names(names)
    runner = locked_runner(uow, scope, runner_id)
    _attach_custom(uow, scope, runner_id, names)
    return _changed(uow, runner)


def set_labels(uow: UnitOfWork, scope: Scope, runner_id: int, names: Sequence[str]) -> list[Label]:
    check_names(names)
    runner = locked_runner(uow, scope, runner_id)
    labels.detach(uow.conn, runner_id, _custom_ids(uow, runner_id))
    _attach_custom(uow, scope, runner_id, names)
    return _changed(uow, runner)


def remove_all_labels(uow: UnitOfWork, scope: Scope, runner_id: int) -> list[Label]:
    runner = locked_runner(uow, scope, runner_id)
    labels.detach(uow.conn, runner_id, _custom_ids(uow, runner_id))
    return _changed(uow, runner)


def remove_label(uow: UnitOfWork, scope: Scope, runner_id: int, name: str) -> list[Label]:
    runner = locked_runner(uow, scope, runner_id)
    current = {label.name.lower(): label for label in labels.of_runner(uow.conn, runner_id)}
    label = current.get(name.lower())
    if label is None:
        raise NotFound()
    if label.type is LabelType.READ_ONLY:
        # Undocumented on GitHub; the endpoint only removes custom labels, so refuse (422).
        raise ValidationFailed(
            f"Invalid request.\n\nLabel {label.name!r} is read-only and cannot be removed."
        )
    labels.detach(uow.conn, runner_id, [label.id])
    return _changed(uow, runner)


def attach(
    uow: UnitOfWork, scope: Scope, runner_id: int, read_only: Sequence[str], custom: Sequence[str]
) -> None:
    """The labels a runner starts with. A name given as both is read-only."""
    ids = labels.ensure(uow.conn, scope.id, [*read_only, *custom])
    read_only_ids = {ids[n.lower()] for n in read_only}
    labels.attach(uow.conn, runner_id, read_only_ids, LabelType.READ_ONLY)
    custom_ids = {ids[n.lower()] for n in custom} - read_only_ids
    labels.attach(uow.conn, runner_id, custom_ids, LabelType.CUSTOM)


def attach_initial(uow: UnitOfWork, scope: Scope, runner_id: int, names: Sequence[str]) -> None:
    """Labels of a runner made through the API: names from the default vocabulary are
    read-only, the rest custom."""
    read_only = [n for n in names if n.lower() in DEFAULT_VOCABULARY]
    attach(uow, scope, runner_id, read_only, [n for n in names if n not in read_only])


def _changed(uow: UnitOfWork, runner: RunnerRow) -> list[Label]:
    uow.emit(RunnerChanged(runner.id, runner.session_id))
    return labels.of_runner(uow.conn, runner.id)


def _attach_custom(uow: UnitOfWork, scope: Scope, runner_id: int, names: Sequence[str]) -> None:
    ids = labels.ensure(uow.conn, scope.id, names)
    labels.attach(uow.conn, runner_id, ids.values(), LabelType.CUSTOM)


def _custom_ids(uow: UnitOfWork, runner_id: int) -> list[int]:
    labels_now = labels.of_runner(uow.conn, runner_id)
    return [lb.id for lb in labels_now if lb.type is LabelType.CUSTOM]
