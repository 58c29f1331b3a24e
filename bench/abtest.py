"""A/B of one change inside one process: alternate batches of read requests with the change
off and on, and report the median paired difference in CPU µs per request.

    python -m bench.abtest <variant> [--batches 15] [--size 300]

Variants are defined in VARIANTS: each a (turn_off, turn_on) pair of callables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.inproc import batch, seeded_app


def _database(app: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    from runnerhub.storage.database import Database

    original = Database._once_kept

    def off() -> None:
        Database._once_kept = Database._once  # type: ignore[method-assign]

    def on() -> None:
        Database._once_kept = original  # type: ignore[method-assign]

    return off, on


def _module_function(module: str, name: str, before: Path) -> Any:
    """A toggle between this tree's `module.name` and the same function from `before`'s
    copy of the module (a path to the old source file), compiled into the same module."""
    import importlib

    target = importlib.import_module(module)
    current = getattr(target, name)
    namespace = dict(vars(target))
    exec(compile(before.read_text(), str(before), "exec"), namespace)  # noqa: S102
    old = namespace[name]

    def factory(app: Any) -> tuple[Callable[[], None], Callable[[], None]]:
        return (lambda: setattr(target, name, old)), (lambda: setattr(target, name, current))

    return factory


def _access_log(log_format: str) -> Any:
    """Off: no access-log middleware at all (the app as before it); on: the middleware, and
    its lines written to a file in `log_format`."""

    def factory(app: Any) -> tuple[Callable[[], None], Callable[[], None]]:
        import logging
        import tempfile

        from runnerhub import log_format as formats

        formats.configure(log_format)  # type: ignore[arg-type]
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(tempfile.TemporaryFile("w"))  # noqa: SIM115 (kept for the run)
        with_log = app.build_middleware_stack()
        kept = app.user_middleware
        app.user_middleware = []
        without = app.build_middleware_stack()
        app.user_middleware = kept

        def off() -> None:
            app.middleware_stack = without

        def on() -> None:
            app.middleware_stack = with_log

        return off, on

    return factory


# AB_BEFORE: a checkout of the commit to compare with (the "off" side of module variants).
BEFORE = Path(os.environ.get("AB_BEFORE", "/nonexistent")) / "src" / "runnerhub"

VARIANTS: dict[str, Callable[[Any], tuple[Callable[[], None], Callable[[], None]]]] = {
    "kept-connection": _database,
    "access-log-json": _access_log("json"),
    "access-log-text": _access_log("text"),
}
if BEFORE.exists():
    VARIANTS["sql-fetch"] = _module_function(
        "runnerhub.storage.sql", "fetch_all", BEFORE / "storage" / "sql.py"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--size", type=int, default=300)
    args = parser.parse_args()
    app, token = seeded_app("runnerhub-ab-")
    off, on = VARIANTS[args.variant](app)

    async def go() -> None:
        async with app.router.lifespan_context(app):
            await batch(app, token, 300)
            offs, ons = [], []
            for _ in range(args.batches):
                off()
                offs.append(await batch(app, token, args.size))
                on()
                ons.append(await batch(app, token, args.size))
            diff = statistics.median(a - b for a, b in zip(offs, ons, strict=True))
            print(
                f"{args.variant}: off {statistics.median(offs):.0f} µs, on "
                f"{statistics.median(ons):.0f} µs, median paired saving {diff:.0f} µs/request"
            )

    asyncio.run(go())


if __name__ == "__main__":
    main()
