"""`python -m cairn.api`: serve the api with uvicorn on CAIRN_HTTP_HOST:CAIRN_HTTP_PORT."""

from __future__ import annotations

import uvicorn

from cairn.api.app import create_app
from cairn.core.adapters.settings import Settings


def main() -> None:
    settings = Settings()
    # log_config=None keeps the structured logging cairn.core.adapters.logs set up; requests are
    # counted in /metrics instead of one access-log line each.
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_config=None, access_log=False)


if __name__ == "__main__":
    main()
