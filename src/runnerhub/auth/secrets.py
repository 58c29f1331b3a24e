"""Minting and hashing of every secret runnerhub hands out.

Tokens carry at least 145 bits from `secrets`, so a single fast SHA-256 is the right hash:
there is nothing to brute-force that a slow hash would protect. Only the hash is stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string

_BASE62 = string.ascii_letters + string.digits


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def classic_token() -> str:
    return "ghp_" + _base62(36)


def fine_grained_token() -> str:
    return f"github_pat_{_base62(22)}_{_base62(59)}"


def runner_token() -> str:
    """29 characters of A-Z and 2-7, the shape of every registration token GitHub shows."""
    return base64.b32encode(secrets.token_bytes(20)).decode()[:29]
