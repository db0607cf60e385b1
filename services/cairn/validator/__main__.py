"""`python -m cairn.validator`: make sure the topics exist, register, run the worker."""

from __future__ import annotations

import sys

from cairn.core.settings import Settings
from cairn.core.topics import Topics, ensure_topics
from cairn.validator.app import create_app


def main() -> None:
    settings = Settings()
    ensure_topics(settings.kafka_bootstrap_servers, Topics(settings.topic_prefix))
    app = create_app(settings)
    for codec in app.cairn_codecs:  # type: ignore[attr-defined]
        codec.register()
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    app.main()


if __name__ == "__main__":
    main()
