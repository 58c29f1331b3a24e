"""The official runner's on-disk configuration formats, shared by the server (which writes
them into JIT configs) and the agent (which reads and writes them). Nothing else here.

- `.runner`: settings (AgentId, AgentName, ServerUrl, GitHubUrl, WorkFolder, Ephemeral, ...);
- `.credentials`: {"Scheme": "OAuth", "Data": {"clientId", "authorizationUrl", ...}};
- `.credentials_rsaparams`: the private key as .NET RSAParameters (big-endian integers,
  base64);
- a JIT config: base64 of a JSON object mapping each file name to the base64 of its content.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

RUNNER_FILE = ".runner"
CREDENTIALS_FILE = ".credentials"
RSA_PARAMS_FILE = ".credentials_rsaparams"
FILES = (RUNNER_FILE, CREDENTIALS_FILE, RSA_PARAMS_FILE)


def rsa_parameters(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.private_numbers()
    public = numbers.public_numbers
    return {
        "d": _b64(numbers.d),
        "dp": _b64(numbers.dmp1),
        "dq": _b64(numbers.dmq1),
        "exponent": _b64(public.e),
        "inverseQ": _b64(numbers.iqmp),
        "modulus": _b64(public.n),
        "p": _b64(numbers.p),
        "q": _b64(numbers.q),
    }


def private_key(params: dict[str, str]) -> rsa.RSAPrivateKey:
    def number(name: str) -> int:
        return int.from_bytes(base64.b64decode(params[name]), "big")

    public = rsa.RSAPublicNumbers(number("exponent"), number("modulus"))
    private = rsa.RSAPrivateNumbers(
        number("p"), number("q"), number("d"), number("dp"), number("dq"), number("inverseQ"),
        public,
    )  # fmt: skip
    return private.private_key()


def encode_jit_config(files: dict[str, dict[str, Any]]) -> str:
    inner = {
        name: base64.b64encode(json.dumps(body).encode()).decode() for name, body in files.items()
    }
    return base64.b64encode(json.dumps(inner).encode()).decode()


def decode_jit_config(blob: str) -> dict[str, dict[str, Any]]:
    """Raises ValueError when the blob is not a JIT config."""
    try:
        inner = json.loads(base64.b64decode(blob.strip(), validate=True))
        files = {name: json.loads(base64.b64decode(value)) for name, value in inner.items()}
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError("not a JIT config: expected base64 of the runner's files") from error
    missing = [name for name in FILES if name not in files]
    if missing:
        raise ValueError(f"the JIT config lacks {', '.join(missing)}")
    return files


def _b64(value: int) -> str:
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode()
