"""Reporting a pull to the api's usage counts: once per pull, with its wall time.

Best effort by design: the files are already restored when the report goes out, so a report
that fails (api gone, token refused, slow network) loses one count and never fails the pull.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cairn.core.domain.usage import REPORTED, REPORTED_HEADER
from cairn.sdk.http import Http

log = logging.getLogger("cairn.sdk")
REPORT_TIMEOUT = 5.0  # seconds: a slow report must not hold up a finished pull for long


class PullReport:
    """Headers for the pull's reads, and the report once the files are in place."""

    def __init__(self, http: Http) -> None:
        self.http = http
        # Reports need a token; without one the api counts the pull's reads one by one.
        self.enabled = bool(http.token)
        self.headers = {REPORTED_HEADER: REPORTED} if self.enabled else None
        self.ref: str | None = None

    def send(self, elapsed_ms: int) -> None:
        if not self.enabled or self.ref is None:
            return
        try:
            self.http.request("POST", "/v1/usage", json={
                "ref": self.ref, "action": "download", "retrieve_ms": elapsed_ms,
            }, timeout=REPORT_TIMEOUT)
        except Exception as exc:  # anything at all: the pull itself has succeeded
            log.debug("usage report for %s failed: %r", self.ref, exc)


@contextmanager
def reported_pull(http: Http) -> Iterator[PullReport]:
    """Time the block; report it only if it finished (a failed pull retrieved nothing)."""
    report = PullReport(http)
    started = time.monotonic()
    yield report
    report.send(int((time.monotonic() - started) * 1000))
