"""Durations as operators write them: 90s, 30m, 12h, 7d."""

from __future__ import annotations

import re
from datetime import timedelta

from runnerhub.errors import UserError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PATTERN = re.compile(r"^(\d+)([smhd])$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text.strip())
    if not match:
        raise UserError(f"invalid duration {text!r}: use a number and s, m, h or d, like 30d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
