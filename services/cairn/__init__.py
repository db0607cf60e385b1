"""Cairn: a reproducible experiment artifact registry.

`import cairn` stays cheap: `cairn.Client` and `cairn.CairnError` load the SDK (httpx,
pydantic settings) on first use, so services importing `cairn.core` never pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CairnError", "Client", "PublishResult", "__version__"]

if TYPE_CHECKING:
    from cairn.sdk import CairnError, Client, PublishResult


def __getattr__(name: str) -> Any:
    if name in ("Client", "CairnError", "PublishResult"):
        import cairn.sdk

        return getattr(cairn.sdk, name)
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")
