"""Response bodies for the runner endpoints, shaped and named as GitHub's schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runnerhub.domain.models import IssuedToken, Label, Runner, RunnerApplication


def runners(found: list[Runner]) -> list[dict[str, Any]]:
    """A page of runners. Their labels are shared values, and runners with the same labels
    share one list of them (storage/labels.py): each label and each list is rendered once and
    the same value reused, which orjson writes wherever it appears."""
    rendered: dict[int, Any] = {}
    return [runner(r, rendered) for r in found]


def runner(r: Runner, rendered: dict[int, Any] | None = None) -> dict[str, Any]:
    shown = {} if rendered is None else rendered  # by id() of the label or the list
    labels = shown.get(id(r.labels))
    if labels is None:
        labels = shown[id(r.labels)] = []
        for lb in r.labels:
            one = shown.get(id(lb))
            if one is None:
                one = shown[id(lb)] = label(lb)
            labels.append(one)
    body: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "os": r.os,
        "status": r.status,
        "busy": r.busy,
        "ephemeral": r.ephemeral,
        "runner_group_id": r.runner_group_id,
        "labels": labels,
    }
    if r.version is not None:
        body["version"] = r.version
    return body


def label(lb: Label) -> dict[str, Any]:
    return {"id": lb.id, "name": lb.name, "type": lb.type}  # a StrEnum: orjson writes the str


def labels(found: list[Label]) -> dict[str, Any]:
    return {"total_count": len(found), "labels": [label(lb) for lb in found]}


def issued_token(token: IssuedToken) -> dict[str, Any]:
    return {"token": token.token, "expires_at": timestamp_ms(token.expires_at)}


def application(app: RunnerApplication) -> dict[str, Any]:
    body = {
        "os": app.os,
        "architecture": app.architecture,
        "download_url": app.download_url,
        "filename": app.filename,
    }
    if app.sha256_checksum:
        body["sha256_checksum"] = app.sha256_checksum
    return body


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_ms(moment: datetime) -> str:
    """With milliseconds and an offset, like GitHub's token examples."""
    return moment.isoformat(timespec="milliseconds")
