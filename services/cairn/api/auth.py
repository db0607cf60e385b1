"""Bootstrap tokens from the configuration and who holds them: CAIRN_API_TOKENS
(`alice=tok1,bob=tok2`) and CAIRN_ADMIN_TOKEN (actor `admin`). Their holders are registry
administrators; everyone else gets a token through the api (cairn.api.principals).

Parsed once at start-up, so a malformed setting, or a placeholder secret outside development,
stops the api instead of failing (or, worse, serving) requests.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from cairn.core.adapters.settings import Settings
from cairn.core.domain.tokens import weakness

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


def bootstrap_tokens(settings: Settings) -> Tokens:
    """Every bootstrap (actor, token); outside development each must look random."""
    tokens = parse_tokens(settings.api_tokens)
    admin = settings.admin_token.get_secret_value()
    if admin:
        if any(token == admin.encode() for _, token in tokens):
            raise ValueError("CAIRN_ADMIN_TOKEN is also a token of CAIRN_API_TOKENS")
        tokens = (*tokens, ("admin", admin.encode()))
    if settings.environment != "development":
        for actor, token in tokens:
            problem = weakness(token.decode())
            if problem:
                setting = "CAIRN_ADMIN_TOKEN" if actor == "admin" and admin else \
                    "CAIRN_API_TOKENS"
                raise ValueError(f"{setting}: the token of {actor} is refused because {problem}; "
                                 "use a random one (openssl rand -hex 32), or set "
                                 "CAIRN_ENVIRONMENT=development on a development machine")
    return tokens


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
