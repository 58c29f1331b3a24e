"""runnerhub-agent: the runner program. It talks to the server only over HTTP and imports
nothing from the server side (only the shared file formats in runnerhub.runner_config and
the GitHub Actions expressions in runnerhub.expressions)."""
