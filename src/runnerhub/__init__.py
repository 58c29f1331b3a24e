"""runnerhub: a GitHub-compatible control plane for self-hosted CI runners."""

__version__ = "0.1.0"
