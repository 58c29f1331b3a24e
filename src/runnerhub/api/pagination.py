"""`per_page`/`page` as GitHub reads them, and the `Link` header it answers with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from runnerhub.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    per_page: int
    page: int

    def of(self, items: Sequence[T]) -> Sequence[T]:
        """This page of a list held whole (workflows, a run's jobs: short lists)."""
        return items[(self.page - 1) * self.per_page : self.page * self.per_page]


def parse(query: Mapping[str, str]) -> PageRequest:
    # Over 100 is silently reduced, as GitHub does. Zero, negative and non-numeric values are
    # refused with 422 rather than guessed at: a silently-defaulted page size is how clients
    # end up truncating (see docs/api-choices.md).
    per_page = _positive(query, "per_page", DEFAULT_PER_PAGE)
    page = _positive(query, "page", 1)
    return PageRequest(min(per_page, MAX_PER_PAGE), page)


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # ASCII digits only: int() would also take "+1", " 1", "1_0" and "٣".
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else 0
    if value < 1:
        raise ValidationFailed(
            f"Invalid request.\n\nInvalid property {name}: {raw!r} is not a positive integer."
        )
    return value


def link_header(url: str, query: Mapping[str, str], request: PageRequest, total: int) -> str | None:
    """`Link` with prev/next/last/first, or None when everything fits on one page."""
    last = max((total + request.per_page - 1) // request.per_page, 1)
    if last == 1 and request.page == 1:
        return None
    params = {k: v for k, v in query.items() if k not in ("page", "per_page")}
    params["per_page"] = str(request.per_page)

    def link(page: int, rel: str) -> str:
        return f'<{url}?{urlencode({**params, "page": page})}>; rel="{rel}"'

    links = []
    if request.page > 1:
        links.append(link(min(request.page - 1, last), "prev"))
    if request.page < last:
        links.append(link(request.page + 1, "next"))
        links.append(link(last, "last"))
    if request.page > 1:
        links.append(link(1, "first"))
    return ", ".join(links) or None
