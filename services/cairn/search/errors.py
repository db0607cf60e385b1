"""Search errors, and which client exceptions mean what, per engine (the clients differ).

transient: no connection, a timeout, 429 or 5xx — the engine may answer later (retried,
then SearchUnavailable); missing: 404, the index or alias is not there; refused: any other
4xx, or a server that is not the engine the client was made for. Anything else is a bug and
propagates as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Outcome = Literal["transient", "missing", "refused", "other"]
Classify = Callable[[BaseException], Outcome]


class SearchUnavailable(RuntimeError):
    """The engine did not answer (or kept failing) for longer than the caller's patience."""


class IndexMissing(LookupError):
    """The alias or index does not exist (yet): the indexer or `cairn reindex` creates it."""


class SearchRefused(ValueError):
    """The engine refused the request itself (4xx): retrying cannot help."""


def _by_status(status: object) -> Outcome:
    if not isinstance(status, int):
        return "transient"  # opensearch-py reports "N/A" when nothing answered
    if status == 404:
        return "missing"
    if status == 429 or status >= 500:
        return "transient"
    return "refused"


def classify_opensearch(exc: BaseException) -> Outcome:
    from opensearchpy import exceptions as os_exc

    if isinstance(exc, os_exc.ConnectionError | os_exc.ConnectionTimeout):
        return "transient"
    if isinstance(exc, os_exc.TransportError):
        return _by_status(exc.status_code)
    if isinstance(exc, TimeoutError | OSError):
        return "transient"
    return "other"


def classify_elasticsearch(exc: BaseException) -> Outcome:
    import elastic_transport
    import elasticsearch

    if isinstance(exc, elasticsearch.UnsupportedProductError):
        return "refused"
    if isinstance(exc, elasticsearch.ApiError):
        return _by_status(exc.meta.status)
    if isinstance(exc, elastic_transport.TransportError | TimeoutError | OSError):
        return "transient"
    return "other"
