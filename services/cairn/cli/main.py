"""The `cairn` command: `cairn.cli.main:app` (pyproject's console script)."""

import sys

# The HTTP client library imports its own command line client (click, rich, pygments: ~70 ms
# of CPU in every command that talks to the api) when it is imported; a None entry makes that
# import fail, and the library then defines a stub `main` instead (its issue 3547). Cairn
# never runs that command line.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from cairn.cli import (  # noqa: E402, F401  (importing registers the commands)
    access,
    audit,
    crate,
    lag,
    lineage,
    mlflow,
    pictures,
    read,
    reindex,
    retention,
    search,
    subscriptions,
    write,
)
from cairn.cli.app import app  # noqa: E402

__all__ = ["app"]

if __name__ == "__main__":
    app()
