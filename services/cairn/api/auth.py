"""Bearer tokens from CAIRN_API_TOKENS (`alice=tok1,bob=tok2`) and who holds them.

Parsed once at start-up, so a malformed setting stops the api instead of failing requests.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

Tokens = tuple[tuple[str, bytes], ...]  # (actor, token)


def parse_tokens(text: str) -> Tokens:
    pairs: list[tuple[str, bytes]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        actor, sep, token = (part.strip() for part in item.partition("="))
        if not sep or not actor or not token:
            # never echo the item: it may be a token that lost its "actor="
            raise ValueError(f"CAIRN_API_TOKENS entry {len(pairs) + 1} is not actor=token")
        pairs.append((actor, token.encode()))
    if len({token for _, token in pairs}) != len(pairs):
        raise ValueError("CAIRN_API_TOKENS gives the same token to two actors")
    return tuple(pairs)


def actor_for(tokens: Sequence[tuple[str, bytes]], presented: str) -> str | None:
    """The actor whose token was presented, else None.

    Every token is compared, in constant time each, so timing tells neither which token
    nor how much of one matched.
    """
    given = presented.encode()
    found = None
    for actor, token in tokens:
        if hmac.compare_digest(token, given):
            found = actor
    return found
