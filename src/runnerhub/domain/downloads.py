"""The runner applications a scope may download: one runner version for every platform."""

from __future__ import annotations

from pathlib import Path

import orjson

from runnerhub.domain.models import RunnerApplication

PLATFORMS = (
    ("osx", "x64"),
    ("osx", "arm64"),
    ("linux", "x64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("win", "x64"),
)


def default_catalog(version: str, base_url: str) -> list[RunnerApplication]:
    apps = []
    for os_name, arch in PLATFORMS:
        extension = "zip" if os_name == "win" else "tar.gz"
        filename = f"actions-runner-{os_name}-{arch}-{version}.{extension}"
        url = f"{base_url.rstrip('/')}/v{version}/{filename}"
        apps.append(RunnerApplication(os_name, arch, url, filename))
    return apps


def catalog_from_file(path: Path) -> list[RunnerApplication]:
    """A JSON array of {os, architecture, download_url, filename, sha256_checksum?}."""
    entries = orjson.loads(path.read_bytes())
    return [
        RunnerApplication(
            os=e["os"],
            architecture=e["architecture"],
            download_url=e["download_url"],
            filename=e["filename"],
            sha256_checksum=e.get("sha256_checksum"),
        )
        for e in entries
    ]
