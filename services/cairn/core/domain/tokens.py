"""API tokens: made high-entropy, shown once, kept only as a sha256; and the check that
refuses placeholder secrets (`change-me…`, short or repetitive ones) outside development.

A token reads `cairn_<id>_<secret>`: the id (public, the config item's key) finds the stored
hash without scanning, the secret is 256 random bits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "cairn_"
MIN_SECRET = 24
_TOKEN = re.compile(r"^cairn_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$")
_PLACEHOLDER = re.compile(r"change.?me|changeit|placeholder|example|password|secret|"
                          r"replace.?me|todo|xxx|^(test|demo|dev|admin|token)", re.IGNORECASE)


def new_token() -> tuple[str, str]:
    """(id, token): the token is shown to its owner once and stored nowhere."""
    token_id = secrets.token_hex(8)
    return token_id, f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def token_id(token: str) -> str | None:
    """The id of a token in Cairn's format, else None (a bootstrap token, or garbage)."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)


def weakness(secret: str) -> str | None:
    """Why a configured secret is unfit for production, or None if it looks random enough."""
    if len(secret) < MIN_SECRET:
        return f"it is shorter than {MIN_SECRET} characters"
    if _PLACEHOLDER.search(secret):
        return "it looks like a placeholder"
    if len(set(secret)) < 10:
        return "it repeats too few characters to be random"
    return None
