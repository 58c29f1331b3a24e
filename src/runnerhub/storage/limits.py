"""Column sizes of text the API stores. The domain checks values against them before
anything is written, so SQLite (which would store longer text) and PostgreSQL (which would
refuse it) answer alike."""

from __future__ import annotations

RUNNER_NAME = 255
WORK_FOLDER = 255
LABEL_NAME = 256  # the official runner's own limit (Validators.LabelsValidator)
RUNNER_OS = 32
RUNNER_VERSION = 32

# Ids are 64-bit on both databases; a larger number names nothing.
MAX_ID = 2**63 - 1


def is_id(value: int) -> bool:
    return 0 < value <= MAX_ID
