"""A short schemathesis run against the session's server; `scripts/fuzz` runs the long one.

Deselect with `-m "not fuzz"`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import World
from tests.fuzz import fuzz, seed, summary
from tests.server import ServerProcess


@pytest.mark.fuzz
def test_fuzz_runner_api(server: ServerProcess, world: World, tmp_path: Path) -> None:
    outcomes = fuzz(
        server.url,
        seed(world),
        tmp_path,
        max_examples=25,
        max_time=None,
        deadline=120,
        seed=1,
        echo=False,
    )
    assert all(outcome.ok for outcome in outcomes), summary(outcomes)
