"""`python -m cairn.openlineage_in`: make sure the topics exist (the openlineage topic and its
dead letters too), register, run the worker."""

from __future__ import annotations

from cairn.core.adapters.settings import Settings
from cairn.core.adapters.worker import run_worker
from cairn.openlineage_in.app import OpenLineageTopics, create_app


def main() -> None:
    name = Settings().openlineage_topic
    run_worker(create_app, topics=lambda prefix: OpenLineageTopics(prefix, name=name))


if __name__ == "__main__":
    main()
