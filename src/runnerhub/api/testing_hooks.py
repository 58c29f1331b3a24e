"""What only a test server answers (RUNNERHUB_TESTING=true; 404 otherwise): moving the
server's clock forward, then running the sweeps at once, so that tests of token expiry,
runners going offline, stale runners removed and lost jobs failed need not sleep
(runnerhub.testing drives it)."""

from __future__ import annotations

from datetime import timedelta

from runnerhub import clock
from runnerhub.api import wire
from runnerhub.api.bodies import json_object
from runnerhub.api.operations import Call, Operation, Reply
from runnerhub.auth.permissions import AUTHENTICATED
from runnerhub.errors import NotFound, ValidationFailed

# Ten years: far enough for any expiry, near enough for datetime arithmetic.
MAX_SECONDS = 10 * 366 * 24 * 3600


def advance_clock(call: Call) -> Reply:
    if not call.state.settings.testing:
        raise NotFound()
    seconds = json_object(call.body).get("seconds")
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 <= seconds <= MAX_SECONDS
    ):
        raise ValidationFailed(
            f"Invalid request.\n\n`seconds` must be a number from 0 to {MAX_SECONDS}."
        )
    moved = clock.advance(timedelta(seconds=seconds))
    sweeps, deliverer = call.state.sweeps, call.state.deliverer

    async def swept() -> Reply:
        for sweep in sweeps:
            await sweep.sweep(wait=True)  # after a round another instance is running
        if deliverer is not None:  # retries that the move made due go now
            deliverer.wake()
        return Reply({"now": wire.timestamp(moved)})

    return Reply(None, then=swept)


OPERATIONS = (
    Operation(
        "POST", "/_runnerhub/testing/clock", advance_clock, AUTHENTICATED,
        "runnerhub/testing-advance-clock", rate_limited=False,
    ),
)  # fmt: skip
