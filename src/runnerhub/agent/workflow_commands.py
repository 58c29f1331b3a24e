"""GitHub's workflow commands, as a step's process gives them: the files named by
GITHUB_OUTPUT, GITHUB_ENV and GITHUB_PATH, and the `::add-mask::VALUE` line on its output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

ADD_MASK = "::add-mask::"


class CommandFileError(ValueError):
    """A GITHUB_OUTPUT or GITHUB_ENV file that does not parse (a heredoc left open)."""


def read_assignments(path: Path) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` heredocs, as GITHUB_OUTPUT and GITHUB_ENV
    hold them; a name given twice keeps its last value."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    lines = iter(path.read_text(encoding="utf-8", errors="replace").splitlines())
    for line in lines:
        if not line.strip():
            continue
        equals, heredoc = line.find("="), line.find("<<")
        # GitHub's rule: whichever of the two comes first says what the line is.
        if heredoc > 0 and (equals < 0 or heredoc < equals):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            values[name] = _heredoc(name, delimiter, lines)
        elif equals > 0:
            values[line[:equals]] = line[equals + 1 :]
        else:
            raise CommandFileError(f"invalid line in {path.name}: {line!r}")
    return values


def _heredoc(name: str, delimiter: str, lines: Iterator[str]) -> str:
    body: list[str] = []
    for line in lines:  # the caller's iterator: the heredoc's lines are consumed
        if line == delimiter:
            return "\n".join(body)
        body.append(line)
    raise CommandFileError(f"no closing {delimiter!r} for {name!r}")


def read_path_entries(path: Path) -> list[str]:
    """GITHUB_PATH: one directory a line, in the order written."""
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]


def mask_value(line: str) -> str | None:
    """The value of an `::add-mask::VALUE` line, else None."""
    stripped = line.strip()
    return stripped[len(ADD_MASK) :].strip() if stripped.startswith(ADD_MASK) else None
