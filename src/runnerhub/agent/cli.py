"""`runnerhub-agent`: config, run, remove, with the official runner's command shapes.

Exit codes: 0 done, or `run` stopped by SIGINT or SIGTERM; 1 error, or `config` or `remove`
stopped by a signal; 2 usage; 3 token rejected (unknown, expired, other scope); 4 name taken
(use --replace); 5 server unreachable; 6 not configured, or removed on the server; 7 no
organization, repository or enterprise at the URL; 8 already configured (run `remove` first,
or use --replace).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from runnerhub.agent.errors import AgentError
from runnerhub.agent.stop import Stop, check, stop_on_signals


def main(argv: Sequence[str] | None = None) -> int:
    # The signal handlers first; everything else, even argument parsing, is imported after
    # them (httpx and cryptography take ~0.2 s), so no signal is lost while the agent starts.
    with stop_on_signals():
        command: str | None = None
        try:
            from runnerhub.agent import arguments

            args = arguments.parse(argv)
            command = args.command
            check()  # a Stop raised during the imports may have been dropped
            return arguments.dispatch(args)
        except Stop as stop:
            _say(f"{stop}: stopped")
            # Stopping is how `run` ends; a `config` or `remove` stopped did not finish.
            return 1 if command in ("config", "remove") else 0
        except AgentError as error:
            _say(str(error))
            return error.exit_code


def _say(message: str) -> None:
    print(f"runnerhub-agent: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
