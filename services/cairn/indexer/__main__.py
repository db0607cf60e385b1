"""`python -m cairn.indexer`: create the topics it needs, then run the worker.

It only reads the changelog and the usage totals (the ledger registers their schemas), so it
registers nothing.
"""

from __future__ import annotations

from cairn.core.adapters.worker import run_worker
from cairn.indexer.app import IndexerTopics, create_app


def main() -> None:
    run_worker(create_app, topics=IndexerTopics)


if __name__ == "__main__":
    main()
