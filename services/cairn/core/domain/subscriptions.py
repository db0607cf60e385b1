"""Subscriptions: which team hears about which changes, and where it is told. Pure checks
and matching, shared by the api (refuse at once), the ledger (refuse what slipped past) and
the notifier (decide who gets a changelog event).

A filter is a conjunction of optional lists; an empty or missing list matches anything.
Event types are the changelog's payload names (Published, StageChanged, AliasMoved, ...);
"Verdict" also matches VerdictSet, the one event the validator now emits per version.
Where the target may point (private or loopback addresses) is a matter of network policy,
checked by the api and the notifier with `cairn.core.adapters.targets`, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cairn.core.domain.events import PAYLOAD_TYPES
from cairn.core.domain.identity import InvalidInput, check_name

FILTER_FIELDS = ("projects", "kinds", "stages", "tags", "event_types")
FORMATS = ("json", "slack")
MAX_URL = 2048
MAX_VALUES = 100
# A filter naming the first type matches the second too: the validator's judgement came as one
# Verdict per check and now comes as one VerdictSet, and a "Verdict" subscription still hears it.
ALSO_MATCHES = {"VerdictSet": "Verdict"}


def check_subscription(body: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised subscription, or InvalidInput naming the field to fix."""
    if not isinstance(body, Mapping):
        raise InvalidInput("invalid_subscription", "a subscription is a JSON object")
    unknown = set(body) - {"team", "url", "filter", "format", "active", "description"}
    if unknown:
        raise InvalidInput("invalid_subscription",
                           f"unknown subscription fields: {', '.join(sorted(unknown))}")
    team = check_name(str(body.get("team") or ""), "team")
    url = check_url(body.get("url"))
    fmt = body.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidInput("invalid_format", f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise InvalidInput("invalid_subscription", "active must be true or false")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise InvalidInput("invalid_subscription", "description: text of at most 500 characters")
    return {"team": team, "url": url, "filter": check_filter(body.get("filter") or {}),
            "format": fmt, "active": active, "description": description}


def check_url(url: Any) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise InvalidInput("invalid_url", f"url: an http(s) URL of at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("invalid_url", f"url {url!r}: must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise InvalidInput("invalid_url", "url: credentials in the URL would be logged; "
                           "the signature header authenticates deliveries instead")
    return url


def check_filter(flt: Any) -> dict[str, list[str]]:
    if not isinstance(flt, Mapping):
        raise InvalidInput("invalid_filter", "filter: a JSON object of lists")
    unknown = set(flt) - set(FILTER_FIELDS)
    if unknown:
        raise InvalidInput("invalid_filter", f"filter fields {', '.join(sorted(unknown))} are "
                           f"unknown; use {', '.join(FILTER_FIELDS)}")
    out: dict[str, list[str]] = {}
    for name in FILTER_FIELDS:
        values = flt.get(name) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or len(values) > MAX_VALUES or not all(
                isinstance(v, str) and 0 < len(v) <= 128 for v in values):
            raise InvalidInput("invalid_filter",
                               f"filter.{name}: a list of at most {MAX_VALUES} short strings")
        if name == "event_types":
            bad = sorted(set(values) - set(PAYLOAD_TYPES))
            if bad:
                raise InvalidInput("invalid_filter", f"filter.event_types {bad}: use "
                                   f"{', '.join(PAYLOAD_TYPES)}")
        out[name] = sorted(set(values))
    return out


def matches(flt: Mapping[str, list[str]], *, project: str, kind: str, stage: str | None,
            tags: list[str], event_type: str) -> bool:
    """Does a changelog event with these facts fall under the filter?"""
    def allowed(name: str, value: str | None) -> bool:
        wanted = flt.get(name) or []
        return not wanted or value in wanted

    wanted_tags = flt.get("tags") or []
    return (allowed("projects", project) and allowed("kinds", kind)
            and allowed("stages", stage)
            and (allowed("event_types", event_type)
                 or ALSO_MATCHES.get(event_type) in (flt.get("event_types") or []))
            and (not wanted_tags or bool(set(wanted_tags) & set(tags))))
