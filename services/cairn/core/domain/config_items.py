"""Registry configuration as ledger-recorded items: one check per kind, shared by the api
and the ledger, so a malformed item is refused before it is emitted and, if it slipped past
(a direct Kafka producer), dead-lettered by the ledger rather than recorded.

Each item is (kind, key) → JSON object; a ConfigEvent with a null body removes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from cairn.core.domain import openlineage
from cairn.core.domain import principals as identities
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.retention import check_policy
from cairn.core.domain.subscriptions import check_subscription

Check = Callable[[Mapping[str, Any]], dict[str, Any]]
CHECKS: dict[str, Check] = {
    "subscription": check_subscription,
    "retention_policy": check_policy,  # key: the project
    **identities.CHECKS,  # users, teams, service accounts, tokens, projects, denials
    openlineage.RUN_KIND: openlineage.check_state,  # key: the run id
    openlineage.JOB_KIND: openlineage.check_state,  # key: uuid5 of the job's namespace/name
}
LOG_ONLY = identities.LOG_ONLY  # kinds the ledger chains (as this event type) but never keeps
MAX_KEY = 128


def check_item(kind: str, key: str, body: str | None) -> dict[str, Any] | None:
    """The normalised item (None for a removal), or InvalidInput saying what to fix."""
    if kind not in CHECKS:
        raise InvalidInput("unknown_config_kind",
                           f"config kind {kind!r}: use one of {', '.join(sorted(CHECKS))}")
    if not key or len(key) > MAX_KEY or not key.isprintable() or "/" in key:
        raise InvalidInput("invalid_config_key",
                           f"key {key!r}: 1-{MAX_KEY} printable characters without '/'")
    if body is None:
        return None
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise InvalidInput("invalid_json", f"{kind} {key}: body is not JSON ({exc})") from None
    return CHECKS[kind](value)
