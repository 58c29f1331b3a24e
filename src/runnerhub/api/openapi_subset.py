"""The part of GitHub's OpenAPI descriptions that runnerhub serves, cut out at run time.

GitHub's descriptions (github/rest-api-description) are not part of runnerhub: an operator
who wants GitHub's parameters and schemas in `/openapi.json` points
`RUNNERHUB_GITHUB_OPENAPI` at their JSON files. This module cuts out of them the operations
runnerhub declares (api/operations.py) and every component those reach through `$ref`;
examples are left out (most of the size, and no schema: GitHub's documentation pages, which
every operation links to, have them). Without the files each operation is described from
what the code declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

NONE: dict[str, Any] = {"info": None, "operations": {}, "components": {}}


def extract(files: Sequence[Path], operations: Iterable[str]) -> dict[str, Any]:
    """`operations`: the declared operations' ids; each is taken from the first of `files`
    that has it."""
    if not files:
        return NONE
    specs = [json.loads(path.read_text()) for path in files]
    index = [
        {
            op["operationId"]: op
            for item in spec.get("paths", {}).values()
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }
        for spec in specs
    ]
    found: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    for operation_id in sorted(set(operations)):
        source = next((n for n, ops in enumerate(index) if operation_id in ops), None)
        if source is None:
            continue  # runnerhub's own: described by api/openapi.py
        operation = _without_examples(index[source][operation_id])
        found[operation_id] = operation
        _collect(specs[source], operation, components)
    return {
        "info": ", ".join(f"{spec['info']['title']} {spec['info']['version']}" for spec in specs),
        "operations": found,
        "components": {kind: dict(sorted(items.items())) for kind, items in
                       sorted(components.items())},
    }  # fmt: skip


def _collect(spec: dict[str, Any], node: Any, into: dict[str, dict[str, Any]]) -> None:
    """Every component `node` refers to, and what those refer to, into `into`."""
    for ref in _refs(node):
        _, _, kind, name = ref.split("/", 3)
        if name in into.setdefault(kind, {}):
            continue
        component = _without_examples(spec["components"][kind][name])
        into[kind][name] = component
        _collect(spec, component, into)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _without_examples(node: Any, *, names: bool = False) -> Any:
    """`node` less its examples; `names`: a map of property names, kept whatever they are."""
    if isinstance(node, dict):
        return {
            key: _without_examples(value, names=key == "properties" and not names)
            for key, value in node.items()
            if names or key not in ("examples", "example")
        }
    if isinstance(node, list):
        return [_without_examples(value) for value in node]
    return node
