"""The command line: `runnerhub-agent config|run|remove`, parsed and dispatched (the exit codes
are in runnerhub.agent.cli)."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from runnerhub.agent import cli, commands


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def dispatch(args: argparse.Namespace) -> int:
    directory = Path.cwd()
    if args.command == "config":
        return commands.configure(directory, _config_options(args))
    if args.command == "run":
        if args.jitconfig:
            commands.start_from_jit_config(directory, args.jitconfig)
        max_backoff = float(os.environ.get("RUNNERHUB_AGENT_MAX_BACKOFF", "30"))
        return commands.run(directory, max_backoff, ca_file=args.ca_file)
    return commands.remove(directory, args.token, args.local, args.ca_file)


def _config_options(args: argparse.Namespace) -> commands.ConfigOptions:
    labels: list[str] = []
    for label in (args.labels or "").split(","):
        label = label.strip()
        if label and label.lower() not in {lb.lower() for lb in labels}:
            labels.append(label)
    return commands.ConfigOptions(
        url=args.url,
        token=args.token,
        name=args.name or socket.gethostname(),
        labels=labels,
        no_default_labels=args.no_default_labels,
        runner_group=args.runnergroup,
        work=args.work,
        ephemeral=args.ephemeral,
        replace=args.replace,
        ca_file=args.ca_file,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runnerhub-agent",
        description=cli.__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Every command talks to the server: an https one may need its CA.
    tls = argparse.ArgumentParser(add_help=False)
    tls.add_argument(
        "--ca-file",
        type=Path,
        default=os.environ.get("RUNNERHUB_AGENT_CA_FILE") or None,
        help="PEM file of the CA an https server's certificate comes from "
        "(default: $RUNNERHUB_AGENT_CA_FILE, else the system's CAs or $SSL_CERT_FILE)",
    )

    config = sub.add_parser(
        "config", parents=[tls], help="register this runner with a registration token"
    )
    config.add_argument(
        "--url",
        required=True,
        help="http(s)://HOST:PORT/ORG, /OWNER/REPO or /enterprises/SLUG",
    )
    config.add_argument("--token", required=True, help="a registration token")
    config.add_argument("--name", help="the runner's name (default: the host name)")
    config.add_argument("--labels", help="extra labels, comma-separated")
    config.add_argument("--no-default-labels", action="store_true")
    config.add_argument("--runnergroup", default="Default")
    config.add_argument("--work", default="_work")
    config.add_argument("--ephemeral", action="store_true")
    config.add_argument("--replace", action="store_true", help="take over a runner of this name")
    config.add_argument("--unattended", action="store_true", help="never prompt (it never does)")

    run = sub.add_parser("run", parents=[tls], help="go online and stay online until stopped")
    run.add_argument("--jitconfig", help="start from an encoded JIT config instead")

    remove = sub.add_parser(
        "remove", parents=[tls], help="remove the registration, here and on the server"
    )
    remove.add_argument("--token", help="a remove token")
    remove.add_argument("--local", action="store_true", help="remove only the local files")
    return parser
