"""`python -m cairn.receiver`: the development webhook receiver (loopback by default)."""

from __future__ import annotations

import uvicorn

from cairn.core.adapters.settings import Settings
from cairn.receiver.app import create_app


def main() -> None:
    settings = Settings()
    # It shows every delivery to anyone who reaches it: scripts/stack keeps it on loopback
    # (CAIRN_HTTP_HOST's default) and compose publishes its port on the host's loopback only.
    uvicorn.run(create_app(settings.webhook_key.get_secret_value()), host=settings.http_host,
                port=settings.http_port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
