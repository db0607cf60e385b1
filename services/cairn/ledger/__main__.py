"""`python -m cairn.ledger`: migrate, create topics, register schemas, run the worker."""

from __future__ import annotations

from cairn.core.adapters.settings import Settings
from cairn.core.adapters.worker import run_worker
from cairn.ledger.app import create_app
from cairn.ledger.migrate import upgrade


def migrate(settings: Settings) -> None:
    """The ledger is PostgreSQL's only writer, so it alone migrates, before anything runs."""
    upgrade(settings.database_url)


def main() -> None:
    run_worker(create_app, before=migrate)


if __name__ == "__main__":
    main()
