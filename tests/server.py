"""Start the real `runnerhub serve` process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# Small, so that test servers do not spend the CPU the tests need on keys no test takes.
POOL_SIZE = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    # --tls-self-signed: the CA file clients trust.
    ca_file: Path | None = None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    database_url: str,
    workdir: Path,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    tls: bool = False,
    **settings: str,
) -> ServerProcess:
    """`tls`: serve https with a certificate made under a CA in `workdir`/tls."""
    port = port or free_port()
    env = {
        **os.environ,
        "RUNNERHUB_DATABASE_URL": database_url,
        "RUNNERHUB_RUNNER_KEY_POOL_SIZE": str(POOL_SIZE),
        # Tests send wrong credentials on purpose, all from 127.0.0.1.
        "RUNNERHUB_FAILED_LOGINS_PER_HOUR": "100000",
    }
    env.update({f"RUNNERHUB_{k.upper()}": v for k, v in settings.items()})
    log = workdir / f"server-{port}.log"
    command = [sys.executable, "-m", "runnerhub.cli.main", "serve", "--host", host]
    command += ["--port", str(port)]
    ca_file = None
    if tls:
        command.append("--tls-self-signed")
        env["RUNNERHUB_DATA_DIR"] = str(workdir)
        ca_file = workdir / "tls" / "ca.pem"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            httpx.get(url + "/meta", timeout=1, verify=False)  # noqa: S501 (up yet? tests verify)
            return ServerProcess(url, process, log, ca_file)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")
