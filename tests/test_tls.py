"""TLS: `serve --tls-self-signed` and `--certfile/--keyfile`, and an agent over https."""

from __future__ import annotations

import datetime
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from runnerhub import tls
from runnerhub.storage.database import Database
from tests.agents import configure, start_agent, wait_for
from tests.factories import World
from tests.helpers import auth
from tests.server import ServerProcess, free_port, start_server

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def _names(path: Path) -> list[str]:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(name.value) for name in alt]


def test_the_certificate_is_made_once_and_again_only_when_it_must(tmp_path: Path) -> None:
    first = tls.self_signed(tmp_path, ["localhost", "127.0.0.1"], NOW)
    assert first.ca_file is not None
    ca, cert = first.ca_file.read_bytes(), first.certfile.read_bytes()
    assert _names(first.certfile) == ["localhost", "127.0.0.1"]
    assert first.keyfile.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600

    again = tls.self_signed(tmp_path, ["127.0.0.1"], NOW + datetime.timedelta(days=100))
    assert again.certfile.read_bytes() == cert  # covers the names, not about to expire

    renamed = tls.self_signed(tmp_path, ["runners.test"], NOW)
    assert _names(renamed.certfile) == ["runners.test"]
    assert renamed.ca_file is not None
    assert renamed.ca_file.read_bytes() == ca

    late = NOW + datetime.timedelta(days=tls.SERVER_DAYS - 10)
    renewed = tls.self_signed(tmp_path, ["runners.test"], late)
    renewed_cert = x509.load_pem_x509_certificate(renewed.certfile.read_bytes())
    assert renewed_cert.not_valid_after_utc > late + datetime.timedelta(days=300)


def test_a_server_certificate_of_another_ca_is_made_again(tmp_path: Path) -> None:
    tls.self_signed(tmp_path, ["localhost"], NOW)
    (tmp_path / "ca-key.pem").unlink()  # a new CA: the old server certificate is not its
    made = tls.self_signed(tmp_path, ["localhost"], NOW)
    assert made.ca_file is not None
    ca = x509.load_pem_x509_certificate(made.ca_file.read_bytes())
    x509.load_pem_x509_certificate(made.certfile.read_bytes()).verify_directly_issued_by(ca)


def test_served_names_cover_loopback_the_host_and_the_public_host() -> None:
    assert tls.served_names("0.0.0.0", "runners.example.com") == [  # noqa: S104
        "localhost",
        "127.0.0.1",
        "::1",
        "runners.example.com",
    ]
    assert tls.served_names("127.0.0.1", "127.0.0.1") == ["localhost", "127.0.0.1", "::1"]
    assert tls.served_names("hub.test", "hub.test")[-1] == "hub.test"


@pytest.fixture(scope="module")
def https(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(database_url, tmp_path_factory.mktemp("tls"), tls=True)
    try:
        yield server
    finally:
        server.stop()


def test_https_with_its_ca_and_every_url_is_https(https: ServerProcess, db: Database) -> None:
    world = World(db)
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=("admin:org",))
    assert https.url.startswith("https://")
    answer = httpx.get(
        f"{https.url}/orgs/{org}", headers=auth(token), verify=_trusting(https.ca_file)
    )
    assert answer.status_code == 200
    assert answer.json()["url"] == f"{https.url}/orgs/{org}"
    assert answer.json()["repos_url"].startswith("https://")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https.url}/meta")  # the system's CAs do not know it
    assert "SSL_CERT_FILE=" in https.log.read_text()


def test_an_agent_registers_and_runs_over_https(
    https: ServerProcess, db: Database, tmp_path: Path
) -> None:
    world = World(db)
    admin = world.user()
    org = world.org(admin)
    token = world.token(admin, scopes=("admin:org",))
    verify = _trusting(https.ca_file)
    registration = httpx.post(
        f"{https.url}/orgs/{org}/actions/runners/registration-token",
        headers=auth(token),
        verify=verify,
    ).json()["token"]
    url = f"{https.url}/{org}"
    refused = configure(tmp_path, url, registration, "--name", "tls-runner")
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr

    done = configure(
        tmp_path, url, registration, "--name", "tls-runner", "--ca-file", str(https.ca_file)
    )
    assert done.returncode == 0, done.stderr
    agent = start_agent(tmp_path, "--ca-file", str(https.ca_file))
    try:

        def online() -> bool:
            runners = httpx.get(
                f"{https.url}/orgs/{org}/actions/runners", headers=auth(token), verify=verify
            ).json()["runners"]
            return [r["status"] for r in runners] == ["online"]

        wait_for(online, 30, "the runner online over https")
    finally:
        agent.stop()


def test_the_operators_certificate_is_served(database_url: str, tmp_path: Path) -> None:
    made = tls.self_signed(tmp_path / "mine", ["127.0.0.1"], NOW)
    port = free_port()
    command = [sys.executable, "-m", "runnerhub.cli.main", "serve", "--port", str(port)]
    command += ["--certfile", str(made.certfile), "--keyfile", str(made.keyfile)]
    env = {"RUNNERHUB_DATABASE_URL": database_url, "RUNNERHUB_RUNNER_KEY_POOL_SIZE": "0"}
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        command, env={**_environment(), **env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        url = f"https://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/meta", verify=_trusting(made.ca_file)).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 30, "the server with the operator's certificate")
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_half_a_certificate_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runnerhub.cli.main", "serve", "--certfile", str(tmp_path)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "--certfile and --keyfile go together" in done.stderr


def _environment() -> dict[str, str]:
    return dict(os.environ)


def _trusting(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)
