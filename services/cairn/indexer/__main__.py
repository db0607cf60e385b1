"""`python -m cairn.indexer`: create the topics it needs, then run the worker.

It only reads the changelog (the ledger registers its schema), so it registers nothing.
"""

from __future__ import annotations

import sys

from cairn.core.settings import Settings
from cairn.core.topics import ensure_topics
from cairn.indexer.app import IndexerTopics, create_app


def main() -> None:
    settings = Settings()
    ensure_topics(settings.kafka_bootstrap_servers, IndexerTopics(settings.topic_prefix))
    app = create_app(settings)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    app.main()


if __name__ == "__main__":
    main()
