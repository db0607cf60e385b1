"""`python -m cairn.notifier`: make sure the topics exist, register, run the worker."""

from __future__ import annotations

from cairn.core.adapters.worker import run_worker
from cairn.notifier.app import create_app


def main() -> None:
    run_worker(create_app)


if __name__ == "__main__":
    main()
