"""The `cairn` command: `cairn.cli.main:app` (pyproject's console script)."""

from cairn.cli import (  # noqa: F401  (importing registers the commands)
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
from cairn.cli.app import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
