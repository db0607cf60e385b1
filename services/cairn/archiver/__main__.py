"""`python -m cairn.archiver`: make sure the topics exist, register, run the worker."""

from __future__ import annotations

from cairn.archiver.app import create_app
from cairn.core.adapters.worker import run_worker


def main() -> None:
    run_worker(create_app)


if __name__ == "__main__":
    main()
