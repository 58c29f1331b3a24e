"""Fuzz the real server with schemathesis over GitHub's OpenAPI descriptions.

    python -m tests.fuzz [--max-examples N] [--max-time SECONDS] [--database-url URL]

Seeds an enterprise, an organization in it, a public and a private repository, runners with
labels and an admin token; starts `runnerhub serve` on a free loopback port; runs schemathesis
over the operations runnerhub implements in dotcom.json (organization and repository paths),
ghec.json (enterprise paths) and ghes.json (everything, under /api/v3). Path parameters are the
seeded names (the public repository at the root, the private one under /api/v3); `runner_id`
and label `name` are seeded values half of the time, generated otherwise. Exits non-zero on any
failed check or exception in the server log. `tests/test_fuzz.py` runs a small version of
`fuzz()` against the test session's server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runnerhub.domain.accounts import CLASSIC_SCOPES
from runnerhub.settings import normalize_database_url
from runnerhub.storage import migrate
from runnerhub.storage.database import Database
from tests.contract import spec
from tests.factories import World
from tests.server import start_server

# The operations runnerhub serves; every other operation in the spec files answers 404.
RUNNER_FAMILY = re.compile(
    r"^/(?:enterprises/\{enterprise\}|orgs/\{org\}|repos/\{owner\}/\{repo\})/actions/runners"
    r"(?:/downloads|/generate-jitconfig|/registration-token|/remove-token"
    r"|/\{runner_id\}(?:/labels(?:/\{name\})?)?)?$"
)
ACCOUNT_GETS = {"/orgs/{org}", "/repos/{owner}/{repo}", "/users/{username}", "/user"}
ACCOUNT_GETS |= {"/rate_limit", "/meta"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# (spec file, mount prefix, which of its paths to fuzz, whether {repo} is the private one)
SPECS: tuple[tuple[str, str, Callable[[str], bool], bool], ...] = (
    ("dotcom", "", lambda path: True, False),
    ("ghec", "", lambda path: path.startswith("/enterprises/"), False),
    ("ghes", "/api/v3", lambda path: True, True),
)

# Schema conformance of every body, and no 5xx. status_code_conformance is left out (add it with
# `--check status_code_conformance`): GitHub's descriptions declare only the success status for
# most runner operations (no 400, 404 or 422), so nearly every refused negative case is reported.
CHECKS = ("not_a_server_error", "response_schema_conformance")


def implemented(method: str, path: str) -> bool:
    return bool(RUNNER_FAMILY.match(path)) or (method == "get" and path in ACCOUNT_GETS)


def filtered_spec(name: str, keep: Callable[[str], bool]) -> dict[str, Any]:
    """The spec with only the implemented operations of the paths `keep` accepts."""
    document = dict(spec(name))
    paths = {}
    for path, item in document["paths"].items():
        if not keep(path):
            continue
        ops = {k: v for k, v in item.items() if k not in HTTP_METHODS or implemented(k, path)}
        if HTTP_METHODS & ops.keys():
            paths[path] = ops
    document["paths"] = paths
    return document


@dataclass(frozen=True)
class Seeded:
    login: str
    token: str
    enterprise: str
    org: str
    public_repo: str  # names inside `org`
    private_repo: str
    runner_ids: tuple[int, ...]
    labels: tuple[str, ...]  # custom labels the seeded runners carry


def seed(world: World) -> Seeded:
    login = world.user("fuzz")
    enterprise = world.enterprise(login)
    org = world.org(login, enterprise=enterprise)
    repos = (world.repo(org, admin=login), world.repo(org, admin=login, private=True))
    custom = ("gpu", "big-disk")
    runner_ids: list[int] = []
    for kind, name in (("enterprise", enterprise), ("org", org), *(("repo", r) for r in repos)):
        labels = ("self-hosted", "Linux", "X64", *custom)
        runner_ids += world.runners(world.scope(kind, name), 3, labels=labels)
    token = world.token(login, scopes=sorted(CLASSIC_SCOPES))
    public, private = (r.partition("/")[2] for r in repos)
    return Seeded(login, token, enterprise, org, public, private, tuple(runner_ids), custom)


def toml_value(value: object) -> str:
    if isinstance(value, dict):
        pairs = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }"
    return json.dumps(value)  # strings, numbers and lists of them read the same in TOML


def config(
    seeded: Seeded,
    *,
    private: bool,
    max_examples: int,
    checks: Sequence[str],
    reports: Path,
    seed: int | None,
) -> str:
    """schemathesis.toml: the seeded names, the token, the checks, the bounds.

    Names are fixed values, which negative testing leaves alone; `runner_id` and label `name`
    are dictionary entries some of the time, which it may replace."""
    tables: dict[str, dict[str, object]] = {
        "": {
            "headers": {"Authorization": f"Bearer {seeded.token}"},
            # One worker: the server has one core of two, and schemathesis 4.32's first
            # requests race on a lazy import when there are several.
            "workers": 1,
            "request-timeout": 30,
            "continue-on-failure": True,
            "suppress-health-check": ["all"],
            **({"seed": seed} if seed is not None else {}),
        },
        "generation": {"max-examples": max_examples, "database": "none"},
        "cache": {"enabled": False},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
        "reports": {"directory": str(reports)},
        "reports.junit": {"enabled": True, "path": str(reports / "junit.xml")},
        "dictionaries.runner_ids": {"values": list(seeded.runner_ids)},
        "dictionaries.labels": {"values": list(seeded.labels)},
        "parameters": {
            "path.enterprise": seeded.enterprise,
            "path.org": seeded.org,
            "path.owner": seeded.org,
            "path.username": seeded.login,
            "path.repo": seeded.private_repo if private else seeded.public_repo,
            "path.runner_id": {"dictionary": "runner_ids", "probability": 0.5},
            "path.name": {"dictionary": "labels", "probability": 0.5},
        },
    }
    lines = []
    for table, values in tables.items():
        if table:
            lines.append(f"\n[{table}]")
        lines += [f"{json.dumps(key)} = {toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Outcome:
    name: str
    returncode: int
    seconds: float
    failures: list[str]  # "operation: first line of the failure"

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def junit_failures(path: Path) -> list[str]:
    """One line per failed check: operation, check, its detail and the reproducing curl."""
    if not path.exists():
        return [f"no report at {path}"]
    found = []
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 (our own report)
        for problem in [*case.iter("failure"), *case.iter("error")]:
            lines = [line.strip() for line in (problem.text or "").splitlines() if line.strip()]
            checks = [i for i, line in enumerate(lines) if line.startswith("- ")]
            curl = next((line for line in lines if line.startswith("curl ")), "")
            if not checks:  # schemathesis itself failed: its message
                found.append(f"{case.get('name')}: {': '.join(lines[:2])}")
            for i in checks:
                detail = lines[i + 1] if i < len(lines) - 1 else ""
                found.append(f"{case.get('name')}: {lines[i][2:]}: {detail}\n      {curl}")
    return found


def fuzz(
    base_url: str,
    seeded: Seeded,
    workdir: Path,
    *,
    max_examples: int,
    max_time: int | None,
    deadline: int = 900,
    phases: str = "examples,coverage,fuzzing",
    checks: Sequence[str] = CHECKS,
    seed: int | None = None,
    echo: bool = True,
) -> list[Outcome]:
    """Run schemathesis over each spec file in turn.

    With `max_time`, schemathesis repeats its fuzzing phase until that many seconds are spent;
    without, it stops after `max_examples`. Either way a run still going after `deadline`
    seconds is killed and counts as a failure.
    """
    outcomes = []
    for name, prefix, keep, private in SPECS:
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        schema = folder / f"{name}.json"
        schema.write_text(json.dumps(filtered_spec(name, keep)))
        settings = folder / "schemathesis.toml"
        options = config(
            seeded,
            private=private,
            max_examples=max_examples,
            checks=checks,
            reports=folder,
            seed=seed,
        )
        settings.write_text(options)
        command = [
            *(str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(settings)),
            *("run", str(schema), "--url", base_url + prefix, "--phases", phases, "--no-color"),
            *(("--max-time", str(max_time)) if max_time else ()),
        ]
        started = time.monotonic()
        try:
            run = subprocess.run(command, capture_output=not echo, timeout=deadline, check=False)
            returncode = run.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
        outcome = Outcome(name, returncode, time.monotonic() - started, [])
        if returncode == -1:
            outcome.failures = [f"killed after {deadline} s"]
        elif not outcome.ok:
            outcome.failures = junit_failures(folder / "junit.xml")
        outcomes.append(outcome)
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> str:
    lines = ["== fuzz summary"]
    for o in outcomes:
        verdict = "ok" if o.ok else f"FAILED (exit {o.returncode})"
        lines.append(f"{o.name}: {verdict}, {o.seconds:.0f} s")
        lines += [f"    {failure}" for failure in o.failures]
    return "\n".join(lines)


def server_errors(log: Path) -> list[str]:
    """Lines of the server log that say an exception escaped a request."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if re.match(r"^[\w.]*(Error|Exception)\b", line)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument(
        "--max-time", type=int, default=200, help="seconds of fuzzing per spec file (0: no repeat)"
    )
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        help="another schemathesis check, e.g. status_code_conformance (repeatable)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RUNNERHUB_TEST_DATABASE_URL"),
        help="default: RUNNERHUB_TEST_DATABASE_URL, else a fresh SQLite file",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="runnerhub-fuzz."))
    database_url = args.database_url or f"sqlite:///{workdir / 'fuzz.db'}"
    db = Database(normalize_database_url(database_url))
    migrate.upgrade(db)
    seeded = seed(World(db))
    db.dispose()
    server = start_server(
        database_url,
        workdir,
        rate_limit_per_hour="10000000",
        rate_limit_unauthenticated_per_hour="10000000",
    )
    print(f"== fuzzing {server.url} ({database_url.partition(':')[0]}), work in {workdir}")
    try:
        outcomes = fuzz(
            server.url,
            seeded,
            workdir,
            max_examples=args.max_examples,
            max_time=args.max_time,
            deadline=args.max_time + 600,
            phases=args.phases,
            checks=(*CHECKS, *args.check),
            seed=args.seed,
        )
    finally:
        server.stop()
    print(summary(outcomes))
    errors = server_errors(server.log)
    if errors:
        print(f"server log {server.log}: {len(errors)} exception lines, distinct:")
        print("\n".join(f"    {line}" for line in dict.fromkeys(errors)))
    ok = all(o.ok for o in outcomes) and not errors
    if ok:
        shutil.rmtree(workdir)
    else:
        print(f"reports and server log kept in {workdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
