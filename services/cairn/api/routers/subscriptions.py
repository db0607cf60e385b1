"""Subscriptions: which team hears about which changes, at which webhook; and the delivery log.

A subscription is a configuration item recorded by the ledger (a ConfigEvent, hash-chained
like every change): creating or removing one answers 202 with the event_id to follow at
/v1/events/{event_id}. Its signing secret is derived from CAIRN_WEBHOOK_KEY and the id, so it
is stored nowhere: it is returned at creation, and later to the subscription's owner only.
Targets on private or loopback addresses are refused unless CAIRN_ALLOW_PRIVATE_WEBHOOKS.
Reading subscriptions needs a token too: they say where a team's notifications go.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import structlog
from fastapi import APIRouter, Query
from pydantic import Field
from uuid6 import uuid7

from cairn.api import subscriptions as reads
from cairn.api.deps import CurrentActor, EmitterDep, PoolDep, SettingsDep
from cairn.api.errors import ApiError, Reason, not_found
from cairn.api.models import Body
from cairn.core.adapters.pinning import pinned_client
from cairn.core.adapters.settings import Settings
from cairn.core.adapters.targets import Checked, Refused, check_address, origin
from cairn.core.adapters.webhook_post import post_signed
from cairn.core.domain import webhook_payloads
from cairn.core.domain import webhook_signing as signing
from cairn.core.domain.events import new_config_event
from cairn.core.domain.identity import InvalidInput
from cairn.core.domain.subscriptions import check_subscription
from cairn.readmodel.events import recent_changelog

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])
log = structlog.get_logger("api")
KIND = "subscription"
RESOLVE_TIMEOUT_S = 10.0
SIGNING = ("POST with X-Cairn-Signature: sha256=<hex HMAC-SHA256(secret, "
           "'<X-Cairn-Timestamp>.' + raw body)>; dedupe on X-Cairn-Delivery")
States = Annotated[str | None, Query(pattern="^(delivered|retrying|dead)$")]


class SubscriptionIn(Body):
    team: str
    url: str
    filter: dict[str, Any] = Field(default_factory=dict)
    format: str = "json"
    description: str | None = None
    active: bool = True


async def check_target(url: str, settings: Settings) -> Checked:
    """Refuse a target that resolves to a non-public address, unless allowed."""
    try:
        return await asyncio.wait_for(check_address(url, settings.allow_private_webhooks,
                                             setting="CAIRN_ALLOW_PRIVATE_WEBHOOKS",
                                             allowed=settings.webhook_allowed),
                               RESOLVE_TIMEOUT_S)
    except Refused as exc:
        raise InvalidInput("private_target", str(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise InvalidInput("unresolvable_target", f"{urlsplit(url).hostname} does not resolve "
                           f"({exc or 'timed out'}); give a URL whose host resolves") from None


def secret(settings: Settings, sub_id: str) -> str:
    return signing.secret_for(signing.master_key(settings.webhook_key.get_secret_value()), sub_id)


@router.post("", status_code=202)
async def create_subscription(body: SubscriptionIn, actor: CurrentActor, settings: SettingsDep,
                              emitter: EmitterDep) -> dict[str, Any]:
    """Subscribe a team's webhook to the changes its filter matches; returns the id, the
    event to follow, and the signing secret (shown here, and later to the owner only)."""
    sub = check_subscription(body.model_dump())
    await check_target(sub["url"], settings)
    sub_id = str(uuid7())
    event = new_config_event(KIND, sub_id, sub, actor=actor, tool="api")
    await emitter.emit_config_async(event)
    log.info("subscription requested", id=sub_id, team=sub["team"], actor=actor,
             event_id=event["event_id"])
    return {"id": sub_id, "event_id": event["event_id"], "secret": secret(settings, sub_id),
            "signing": SIGNING}


@router.get("")
async def list_subscriptions(actor: CurrentActor, pool: PoolDep, team: str | None = None,
                             limit: Annotated[int, Query(ge=1, le=1000)] = 200
                             ) -> list[dict[str, Any]]:
    """Current subscriptions, newest first, optionally of one team."""
    return await reads.listing(pool, team, limit, actor)


@router.get("/{sub_id}")
async def show_subscription(sub_id: str, actor: CurrentActor, pool: PoolDep) -> dict[str, Any]:
    """One subscription (removed ones too) with where its deliveries stand."""
    return await reads.detail(pool, sub_id, actor)


@router.get("/{sub_id}/secret")
async def subscription_secret(sub_id: str, actor: CurrentActor, pool: PoolDep,
                              settings: SettingsDep) -> dict[str, str]:
    """The signing secret again, for the subscription's owner."""
    row = await reads.find(pool, sub_id)
    if row["removed"]:
        raise not_found(f"subscription {sub_id}")
    if actor != row["owner"]:
        raise ApiError(403, Reason.FORBIDDEN, f"only {row['owner']}, who created subscription "
                       f"{sub_id}, may read its secret")
    return {"id": sub_id, "secret": secret(settings, sub_id), "signing": SIGNING}


@router.delete("/{sub_id}", status_code=202)
async def remove_subscription(sub_id: str, actor: CurrentActor, pool: PoolDep,
                              emitter: EmitterDep) -> dict[str, str]:
    """Stop notifying; deliveries under way end, and the delivery log stays readable."""
    row = await reads.find(pool, sub_id)
    if row["removed"]:
        raise not_found(f"subscription {sub_id}")
    event = new_config_event(KIND, sub_id, None, actor=actor, tool="api")
    await emitter.emit_config_async(event)
    return {"id": sub_id, "event_id": event["event_id"]}


TEST_SCAN = 500  # the newest changelog records searched for one the filter matches


@router.post("/{sub_id}/test")
async def test_subscription(sub_id: str, actor: CurrentActor, pool: PoolDep,
                            settings: SettingsDep) -> dict[str, Any]:
    """Send one signed sample delivery now and answer how the receiver took it. The sample
    is the newest recorded change the filter matches, exactly as the notifier would send it
    (a short `Test` body when none does), signed with the subscription's secret, with
    `X-Cairn-Test: true` and a `test-` delivery id; it is not in the delivery log."""
    row = await reads.find(pool, sub_id)
    if row["removed"]:
        raise not_found(f"subscription {sub_id}")
    sub = row["body"]
    event_type, body = webhook_payloads.sample(
        await recent_changelog(pool, TEST_SCAN), sub_id, sub["team"],
        sub.get("format", "json"), sub.get("filter") or {})
    target = await check_target(sub["url"], settings)
    delivery = f"test-{uuid7().hex}"
    started = time.perf_counter()
    answer: dict[str, Any] = {"id": sub_id, "target": origin(sub["url"]), "delivery": delivery,
                              "event_type": event_type, "body": json.loads(body)}
    try:
        async with pinned_client() as http:
            reply = await post_signed(http, target, secret=secret(settings, sub_id),
                                      delivery=delivery, event_type=event_type, body=body,
                                      seconds=settings.webhook_timeout,
                                      extra_headers={"X-Cairn-Test": "true"})
    except (httpx.HTTPError, TimeoutError) as exc:
        answer.update(delivered=False, status_code=None,
                      error=f"unreachable ({type(exc).__name__}: {exc})"[:500])
    else:
        answer.update(delivered=200 <= reply.status_code < 300, status_code=reply.status_code,
                      error=None if reply.is_success else f"answered HTTP {reply.status_code}")
    answer["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    log.info("subscription tested", id=sub_id, actor=actor, delivered=answer["delivered"],
             status_code=answer["status_code"])
    return answer


@router.get("/{sub_id}/deliveries")
async def subscription_deliveries(
        sub_id: str, actor: CurrentActor, pool: PoolDep, state: States = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None
) -> dict[str, Any]:
    """Every delivery attempt, newest first; `next` is the cursor of the following page."""
    return await reads.delivery_page(pool, sub_id, state, limit, cursor)
