"""What a Cairn token stands for, as `config_items` says now: the token's item, its owner's
item and the teams that list the owner (cairn.api.principals decides what that allows)."""

from __future__ import annotations

from typing import Any, TypedDict

from cairn.readmodel.config import Db, loaded

TOKEN_SQL = """
SELECT t.body AS token, o.body AS owner, coalesce(o.removed, true) AS owner_removed,
       ARRAY(SELECT m.key FROM config_items m WHERE m.kind = 'team' AND NOT m.removed
             AND m.body->'members' ? (t.body->>'owner') ORDER BY m.key) AS teams
FROM config_items t
LEFT JOIN config_items o ON o.kind = t.body->>'owner_kind' AND o.key = t.body->>'owner'
WHERE t.kind = 'token' AND t.key = $1 AND NOT t.removed
"""


class TokenRow(TypedDict):
    token: dict[str, Any]  # hash, owner, owner_kind, scopes, expires_at, revoked, ...
    owner: dict[str, Any] | None  # None: no such user or service account
    owner_removed: bool  # removed, or never existed
    teams: list[str]  # teams listing the owner as a member


async def token_row(db: Db, token_id: str) -> TokenRow | None:
    """The stored token with this id (not removed), or None."""
    row = await db.fetchrow(TOKEN_SQL, token_id)
    if row is None:
        return None
    return TokenRow(token=loaded(row["token"]),
                    owner=None if row["owner"] is None else loaded(row["owner"]),
                    owner_removed=row["owner_removed"], teams=list(row["teams"] or ()))
