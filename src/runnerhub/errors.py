"""The domain's error tree. Each error carries the HTTP status GitHub answers with.

    RunnerhubError
    ├── BadRequest            400  (bad JSON, unsupported API version)
    ├── Unauthorized          401  (no or bad credentials)
    ├── Forbidden             403  (missing grant, rate limit exhausted)
    ├── NotFound              404  (absent, or not visible to the caller)
    ├── Conflict              409  (name already taken)
    └── ValidationFailed      422  (well-formed request the rules refuse)

Only `api/` knows how to render them; the domain raises them where a rule is broken.
"""

from __future__ import annotations


class RunnerhubError(Exception):
    status = 500

    def __init__(self, message: str, *, errors: list[object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class BadRequest(RunnerhubError):
    status = 400


class Unauthorized(RunnerhubError):
    """`failed_login`: credentials were presented and are wrong (counted against the caller's
    address, see api/operations.py); False for a missing credential or an expired runner
    access token, which agents refresh routinely."""

    status = 401

    def __init__(self, message: str, *, failed_login: bool = True) -> None:
        super().__init__(message)
        self.failed_login = failed_login


class Forbidden(RunnerhubError):
    status = 403

    def __init__(
        self,
        message: str,
        *,
        accepted_scopes: str | None = None,
        accepted_permissions: str | None = None,
    ) -> None:
        super().__init__(message)
        self.accepted_scopes = accepted_scopes
        self.accepted_permissions = accepted_permissions


class RateLimited(Forbidden):
    pass


class NotFound(RunnerhubError):
    status = 404

    def __init__(self, message: str = "Not Found") -> None:
        super().__init__(message)


class Conflict(RunnerhubError):
    status = 409


class ValidationFailed(RunnerhubError):
    status = 422


class UserError(Exception):
    """A mistake by a command-line user: printed as one line, exit code 1."""


class PayloadTooLarge(RunnerhubError):
    status = 413
