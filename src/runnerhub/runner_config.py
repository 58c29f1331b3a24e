"""The runner's files, in the official runner's formats: the one place that builds and reads
them, shared by the server (JIT configs) and the agent (`config`, `run`). It imports nothing
from either side.

`.runner` (settings), `.credentials` (how to get an access token) and `.credentials_rsaparams`
(the private key as .NET RSAParameters: big-endian integers, base64) come in two spellings:

- as `config.sh` writes them: Newtonsoft with a camelCase contract resolver, so
  `{"agentId": 3, "agentName": ..., "poolId": 1, ...}` with numbers, false and null settings
  left out (RunnerSettings' `EmitDefaultValue = false`), and `{"scheme": "OAuth", "data":
  {"clientId", "authorizationUrl", "requireFipsCryptography"}}` (dictionary keys kept as they
  are);
- as GitHub's generate-jitconfig hands them over: PascalCase, ids as strings
  (`{"AgentId": "3", ...}`, `{"Scheme": "OAuth", "Data": {...}}`). Clients such as GARM
  decode the blob, so it keeps this form.

A JIT config is base64 of a JSON object mapping each file name to the base64 of its content.
Reading accepts either spelling: keys in any case (as Newtonsoft does), ids as numbers or
numeric strings.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

RUNNER_FILE = ".runner"
CREDENTIALS_FILE = ".credentials"
RSA_PARAMS_FILE = ".credentials_rsaparams"
FILES = (RUNNER_FILE, CREDENTIALS_FILE, RSA_PARAMS_FILE)

Documents = dict[str, dict[str, Any]]
"""The three files' JSON contents, by file name."""


@dataclass(frozen=True, slots=True)
class RunnerFiles:
    agent_id: int
    agent_name: str
    pool_id: int
    pool_name: str | None
    server_url: str  # where sessions and messages live, with a trailing slash
    github_url: str  # the scope's URL: http://HOST/ORG, /OWNER/REPO or /enterprises/SLUG
    work_folder: str
    ephemeral: bool
    client_id: str
    authorization_url: str
    key: rsa.RSAPrivateKey


def config_files(runner: RunnerFiles) -> Documents:
    """The files as `config.sh` writes them."""
    settings = {
        name[0].lower() + name[1:]: value
        for name, value in _settings(runner).items()
        if value is not None and value is not False
    }
    return {
        RUNNER_FILE: settings,
        CREDENTIALS_FILE: {"scheme": "OAuth", "data": _credential_data(runner)},
        RSA_PARAMS_FILE: rsa_parameters(runner.key),
    }


def jit_files(runner: RunnerFiles) -> Documents:
    """The files as GitHub's generate-jitconfig hands them over."""
    ids = {"AgentId": str(runner.agent_id), "PoolId": str(runner.pool_id)}
    return {
        RUNNER_FILE: {**_settings(runner), **ids},
        CREDENTIALS_FILE: {"Scheme": "OAuth", "Data": _credential_data(runner)},
        RSA_PARAMS_FILE: rsa_parameters(runner.key),
    }


def parse_files(documents: Documents) -> RunnerFiles:
    """Either spelling. Raises ValueError when a setting is missing or malformed."""
    try:
        settings = _folded(documents[RUNNER_FILE])
        data = _folded(_folded(documents[CREDENTIALS_FILE])["data"])
        return RunnerFiles(
            agent_id=_number(settings["agentid"]),
            agent_name=str(settings["agentname"]),
            pool_id=_number(settings.get("poolid", 1)),
            pool_name=settings.get("poolname"),
            server_url=str(settings["serverurl"]),
            github_url=str(settings["githuburl"]),
            work_folder=str(settings.get("workfolder", "_work")),
            ephemeral=_flag(settings.get("ephemeral", False)),
            client_id=str(data["clientid"]),
            authorization_url=str(data["authorizationurl"]),
            key=private_key(documents[RSA_PARAMS_FILE]),
        )
    except KeyError as missing:
        raise ValueError(f"no {missing} setting") from None
    except (TypeError, AttributeError) as error:
        raise ValueError(str(error)) from None


def _settings(runner: RunnerFiles) -> dict[str, object]:
    return {
        "AgentId": runner.agent_id,
        "AgentName": runner.agent_name,
        "PoolId": runner.pool_id,
        "PoolName": runner.pool_name,
        "ServerUrl": runner.server_url,
        "GitHubUrl": runner.github_url,
        "WorkFolder": runner.work_folder,
        "Ephemeral": runner.ephemeral,
        "DisableUpdate": True,
        "UseV2Flow": True,
        "ServerUrlV2": runner.server_url,
    }


def _credential_data(runner: RunnerFiles) -> dict[str, str]:
    return {
        "clientId": runner.client_id,
        "authorizationUrl": runner.authorization_url,
        "requireFipsCryptography": "False",  # .NET's bool.ToString(), as the runner writes it
    }


def _folded(document: dict[str, Any]) -> dict[str, Any]:
    return {key.lower(): value for key, value in document.items()}


def _number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not an id")
    return int(value)


def _flag(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


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
    folded = _folded(params)

    def number(name: str) -> int:
        return int.from_bytes(base64.b64decode(folded[name.lower()]), "big")

    public = rsa.RSAPublicNumbers(number("exponent"), number("modulus"))
    private = rsa.RSAPrivateNumbers(
        number("p"), number("q"), number("d"), number("dp"), number("dq"), number("inverseQ"),
        public,
    )  # fmt: skip
    return private.private_key()


def encode_jit_config(files: Documents) -> str:
    inner = {
        name: base64.b64encode(json.dumps(body).encode()).decode() for name, body in files.items()
    }
    return base64.b64encode(json.dumps(inner).encode()).decode()


def decode_jit_config(blob: str) -> Documents:
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
