"""Write src/runnerhub/api/github_openapi.json: the part of GitHub's OpenAPI descriptions
that runnerhub serves (see runnerhub/api/openapi_subset.py). Run it after declaring an
operation, or when the descriptions in shared/spec/openapi change.

    python scripts/openapi_subset.py [SPEC_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from runnerhub.api.openapi_subset import SUBSET, extract, render
from runnerhub.app import all_operations

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "spec" / "openapi"


def main(argv: list[str]) -> int:
    spec_dir = Path(argv[0]) if argv else DEFAULT
    operations = [(op.operation_id, op.path) for op in all_operations()]
    SUBSET.write_text(render(extract(spec_dir, operations)))
    print(f"wrote {SUBSET} from {spec_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
