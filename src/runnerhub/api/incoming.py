"""What the gate reads of a request, taken before the transaction starts, and the checks
every request's path and query get in one place.

URLs the server hands out (Link headers, JIT configs, registration replies) start from the
configured public URL, never from the request's Host header, which any client may set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.convertors import Convertor
from starlette.requests import Request

from runnerhub.api.responses import DEFAULT_API_VERSION
from runnerhub.errors import NotFound, PayloadTooLarge, ValidationFailed
from runnerhub.storage.limits import MAX_ID

# Ids in paths: digits only. Longer numbers than any id parse to one past the largest id, so
# that the gate answers "no such thing" (Python refuses to parse over 4 300 digits at all).
TOO_LARGE = MAX_ID + 1


class IdConvertor(Convertor[int]):
    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value) if len(value) <= len(str(MAX_ID)) else TOO_LARGE

    def to_string(self, value: int) -> str:
        return str(value)


@dataclass(slots=True)
class Incoming:
    authorization: str | None
    api_version: str
    client: str
    path: dict[str, Any]
    query: dict[str, str]
    body: bytes
    url: str  # this request's URL without the query, under the public URL
    api_url: str  # the API root it came through: the public URL, or it + "/api/v3"
    web_url: str  # the public URL
    headers: dict[str, str] = field(default_factory=dict)  # response headers gathered
    budget_key: str | None = None
    budget_limit: int = 0


async def read(request: Request, public_url: str, max_body: int) -> Incoming:
    body = b""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        body = await _read_body(request, max_body)
    headers = request.headers
    # The scope's path, not request.url: building a URL object costs more than the rest.
    web_url = public_url or f"{request.url.scheme}://{request.url.netloc}"
    return Incoming(
        authorization=headers.get("authorization"),
        api_version=headers.get("x-github-api-version", DEFAULT_API_VERSION),
        client=request.client.host if request.client else "unknown",
        path=dict(request.path_params),
        query=_query(request),
        body=body,
        url=web_url + request.scope["path"],
        api_url=web_url + request.scope.get("root_path", ""),
        web_url=web_url,
    )


def check_path(path: dict[str, Any]) -> None:
    """A path naming what cannot exist answers 404, whoever asks: ids beyond 64 bits, names
    with NUL (which PostgreSQL cannot even compare) or that are not valid Unicode text."""
    for value in path.values():
        if isinstance(value, int) and value > MAX_ID:
            raise NotFound()
        if isinstance(value, str) and not storable(value):
            raise NotFound()


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate, from %ED%A0%80 and the like
        return False
    return True


def _query(request: Request) -> dict[str, str]:
    """One value per parameter. A parameter given twice with different values is refused
    rather than silently read as one of them (`per_page=x&per_page=` must not pass as
    `per_page=`)."""
    query: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if not storable(value) or not storable(name):
            raise ValidationFailed(
                f"Invalid request.\n\nInvalid value for query parameter {name!r}."
            )
        if query.setdefault(name, value) != value:
            raise ValidationFailed(
                f"Invalid request.\n\nQuery parameter {name!r} is given more than once."
            )
    return query


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
