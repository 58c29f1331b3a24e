"""The wheel, as `pip install runnerhub` gets it: built from this tree, installed with its
declared dependencies in a fresh venv, and `runnerhub serve` from there on SQLite is ready.
And the Docker image, where Docker is installed (skipped where it is not)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from runnerhub.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.packaging,
    # Nothing here touches the test database: once per suite (scripts/test runs it twice).
    pytest.mark.skipif(
        bool(os.environ.get("RUNNERHUB_TEST_DATABASE_URL")), reason="run in the SQLite pass"
    ),
]
# The Dockerfile's base; RUNNERHUB_DOCKER_BASE names a local stand-in where the registry is
# out of reach.
BASE = os.environ.get("RUNNERHUB_DOCKER_BASE", "python:3.11-slim")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("runnerhub-*.whl")
    return built


def test_the_wheel_carries_migrations_data_and_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = ROOT / "src" / "runnerhub" / "storage" / "migrations"
    expected = {
        f"runnerhub/{path.relative_to(ROOT / 'src' / 'runnerhub').as_posix()}"
        for path in migrations.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "runnerhub/storage/migrations/versions/0001_initial_schema.py" in expected
    assert expected <= names
    assert "runnerhub/py.typed" in names
    package = ROOT / "src" / "runnerhub"
    for kind in ("templates", "static"):  # wherever the web pages keep theirs
        for path in package.rglob(f"{kind}/**/*"):
            if path.is_file():
                assert f"runnerhub/{path.relative_to(package).as_posix()}" in names


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(wheel)],
        check=True, timeout=600, env=_clean_env(),
    )  # fmt: skip
    return where


def _clean_env() -> dict[str, str]:
    """This process's environment less what points Python at this tree or its venv."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("RUNNERHUB_")}


def test_runnerhub_serve_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    found = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import runnerhub; print(runnerhub.__file__)"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert found.stdout.startswith(str(installed)), found.stdout  # not this tree's
    port = free_port()
    env = {**_clean_env(), "RUNNERHUB_DATA_DIR": str(tmp_path)}
    env["RUNNERHUB_RUNNER_KEY_POOL_SIZE"] = "0"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(installed / "bin" / "runnerhub"), "serve", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        ready = _ready(url, server, log)
        assert ready.json()["schema"] == ready.json()["head"]
        assert httpx.get(url + "/openapi.json").json()["openapi"].startswith("3.")
        assert (tmp_path / "runnerhub.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=15)


def _ready(url: str, server: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            answer = httpx.get(url + "/readyz", timeout=2)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready: {log.read_text()}")


@pytest.fixture(scope="module")
def docker() -> str:
    found = shutil.which("docker")
    if found is None or subprocess.run([found, "info"], capture_output=True).returncode != 0:
        pytest.skip("no Docker here")
    have = [found, "image", "inspect", BASE]
    if subprocess.run(have, capture_output=True).returncode != 0:
        pulled = subprocess.run([found, "pull", BASE], capture_output=True, timeout=300)
        if pulled.returncode != 0:
            pytest.skip(f"the base image {BASE} cannot be had here")
    return found


def test_the_docker_image_serves(docker: str, tmp_path: Path) -> None:
    tag = "runnerhub:test"
    build = [docker, "build", "-q", "-t", tag, "--build-arg", f"BASE={BASE}", str(ROOT)]
    subprocess.run(build, check=True, timeout=900)
    port = free_port()
    name = f"runnerhub-test-{port}"
    subprocess.run(
        [docker, "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8000", tag],
        check=True, timeout=60,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the container did not get ready"
            time.sleep(0.5)
        user = subprocess.run(
            [docker, "exec", name, "id", "-u"], capture_output=True, text=True, check=True
        )
        assert user.stdout.strip() != "0"  # not root
    finally:
        subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)
