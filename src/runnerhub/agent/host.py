"""What this machine is, in the words of the runner's default labels."""

from __future__ import annotations

import platform

OS_LABELS = {"Linux": "Linux", "Darwin": "macOS", "Windows": "Windows"}
ARCH_LABELS = {
    "x86_64": "X64",
    "amd64": "X64",
    "aarch64": "ARM64",
    "arm64": "ARM64",
    "armv7l": "ARM",
    "armv6l": "ARM",
    "i386": "X86",
    "i686": "X86",
    "x86": "X86",
}


def os_label() -> str:
    return OS_LABELS.get(platform.system(), platform.system())


def arch_label() -> str:
    return ARCH_LABELS.get(platform.machine().lower(), platform.machine())


def default_labels() -> list[str]:
    return ["self-hosted", os_label(), arch_label()]


def os_name() -> str:
    """The runner's `os` field as the API reports it: linux, macos, windows."""
    return os_label().lower()
