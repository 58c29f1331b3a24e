"""Start and stop the servers a benchmark compares, each pinned to its own core."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVER_CPU, LOAD_CPU = "1", "0"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def pinned(command: list[str], cpu: str) -> list[str]:
    return ["taskset", "-c", cpu, *command] if shutil.which("taskset") else command


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(name: str, command: list[str], env: dict[str, str], probe: str, log: Path) -> Server:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            pinned(command, SERVER_CPU),
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_file_limit,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text()[-2000:]}")
        try:
            httpx.get(url + probe, timeout=2)
            return Server(name, url, process)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} did not start:\n{log.read_text()[-2000:]}")


def runnerhub(database_url: str, log: Path, name: str = "runnerhub", **settings: str) -> Server:
    env = {"RUNNERHUB_DATABASE_URL": database_url, "RUNNERHUB_RATE_LIMIT_PER_HOUR": "1000000000"}
    env.update({f"RUNNERHUB_{k.upper()}": v for k, v in settings.items()})
    command = [sys.executable, "-m", "runnerhub.cli.main", "serve", "--port", "{port}"]
    return start(name, command, env, "/meta", log)


def ceiling(sqlite_path: Path, log: Path) -> Server:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.ceiling:app",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return start("ceiling", command, {"CEILING_DB": str(sqlite_path)}, "/", log)


def prism(spec: Path, prism_bin: Path, log: Path) -> Server:
    command = [str(prism_bin), "mock", str(spec), "--port", "{port}", "--host", "127.0.0.1"]
    return start("prism", command, {}, "/meta", log)
