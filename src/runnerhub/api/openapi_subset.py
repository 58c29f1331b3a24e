"""The part of GitHub's OpenAPI descriptions that runnerhub serves, kept in the package.

GitHub's descriptions (MIT, github/rest-api-description) are not part of the package: they
live beside the checkout, in shared/spec/openapi. This module cuts out of them the operations
runnerhub declares (api/operations.py) and every component those reach through `$ref`, and
writes `github_openapi.json` beside it, which api/openapi.py builds `/openapi.json` from. The
file is generated and committed, like a lock file; tests/test_openapi.py fails when it is no
longer what these descriptions and the declared operations give. Examples are left out
(most of the size, and no schema): the documentation pages GitHub links to have them.

    python scripts/openapi_subset.py [SPEC_DIR]    # default: ../shared/spec/openapi
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).with_name("github_openapi.json")
# Where an operation is taken from: enterprise paths from GitHub Enterprise Cloud's, the
# rest from api.github.com's (runs and jobs from its jobs description).
ORDER = ("jobs-dotcom", "dotcom", "ghec", "jobs-ghec", "ghes", "jobs-ghes")
ENTERPRISE_ORDER = ("ghec", "jobs-ghec", "ghes", "jobs-ghes")


def extract(spec_dir: Path, operations: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`operations`: (operation id, path) of each declared operation."""
    specs = {name: json.loads((spec_dir / f"{name}.json").read_text()) for name in ORDER}
    index = {
        name: {
            op["operationId"]: op
            for item in spec["paths"].values()
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }
        for name, spec in specs.items()
    }
    found: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    for operation_id, path in sorted(set(operations)):
        order = ENTERPRISE_ORDER if path.startswith("/enterprises/") else ORDER
        source = next((name for name in order if operation_id in index[name]), None)
        if source is None:
            continue  # runnerhub's own: described by api/openapi.py
        operation = _without_examples(index[source][operation_id])
        found[operation_id] = operation
        _collect(specs[source], operation, components)
    return {
        "info": {
            "source": "GitHub's REST API descriptions (github/rest-api-description, MIT)",
            "version": specs["dotcom"]["info"]["version"],
        },
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


def render(subset: dict[str, Any]) -> str:
    return json.dumps(subset, indent=1, sort_keys=True) + "\n"
