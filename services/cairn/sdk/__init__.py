"""The Python SDK: `Client` publishes, pulls, reads, searches and changes artifacts through
the api.

Names load on first use (PEP 562), so importing one SDK module, `cairn.sdk.errors` say (as
every CLI module does), does not load the Client with httpx, pydantic and the publish path:
`cairn --help` stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.sdk.bulk import Item, ItemResult
    from cairn.sdk.client import Client
    from cairn.sdk.errors import CairnError
    from cairn.sdk.publish import PublishResult

__all__ = ["CairnError", "Client", "Item", "ItemResult", "PublishResult"]
_HOMES = {"Client": "cairn.sdk.client", "CairnError": "cairn.sdk.errors",
          "PublishResult": "cairn.sdk.publish", "Item": "cairn.sdk.bulk",
          "ItemResult": "cairn.sdk.bulk"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'cairn.sdk' has no attribute {name!r}")
