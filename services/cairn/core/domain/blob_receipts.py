"""Upload receipts: proof that an actor sent a blob's bytes, so a publish may list it.

A blob is named by its sha256, and a name alone proves nothing: anyone who learnt the sha
of a private project's blob could list it in their own version and so read it. When the api
has hashed an upload's bytes it hands the uploader a receipt, HMAC-SHA256 over the actor and
the sha256 with a key derived from the registry's master (CAIRN_SIGNING_KEY, as
cairn.core.adapters.signing derives producer keys). A publish naming a stored blob that no version
the actor may read lists must carry one. Nothing is stored: a receipt stays valid until the
master changes, and is worthless to any other actor.

Events produced straight to Kafka are not checked: only a Cairn service or a service
account an administrator created can sign them, and those are trusted with any blob.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Cairn-Blob-Receipt"


def receipt_key(master: bytes) -> bytes:
    return hmac.new(master, b"blob-receipts", hashlib.sha256).digest()


def receipt(master: bytes, actor: str, sha256: str) -> str:
    """The receipt `actor` gets for uploading the bytes of `sha256` (hex)."""
    message = f"blob-receipt:{actor}:{sha256}".encode()
    return hmac.new(receipt_key(master), message, hashlib.sha256).hexdigest()


def is_valid(master: bytes, actor: str, sha256: str, given: str | None) -> bool:
    """Whether `given` is the receipt `actor` got for `sha256` (constant-time)."""
    return given is not None and hmac.compare_digest(
        receipt(master, actor, sha256).encode(), given.encode(errors="replace"))
