"""Webhook subscriptions of a team's changes and their delivery log: the Client's methods.

    made = client.add_subscription("ml-platform", "https://hooks.example.org/cairn",
                                   projects=["vision"], event_types=["StageChanged"])
    made["secret"]                                # verify deliveries with it
    client.test_subscription(made["id"])           # one signed sample delivery, now
    client.deliveries(made["id"], state="dead")

Every call needs a token, reads too (subscriptions say where a team's notifications go), so
a missing one is refused here. A subscription is checked by the same pure check the api and
the ledger use before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cairn.core.domain.subscriptions import check_subscription
from cairn.sdk.access import segment
from cairn.sdk.calls import ApiCalls, present
from cairn.sdk.errors import translated

PATH = "/v1/subscriptions"
Format = Literal["json", "slack"]
State = Literal["delivered", "retrying", "dead"]


class SubscriptionCalls(ApiCalls):
    @translated
    def add_subscription(self, team: str, url: str, *, projects: Sequence[str] = (),
                         kinds: Sequence[str] = (), stages: Sequence[str] = (),
                         tags: Sequence[str] = (), event_types: Sequence[str] = (),
                         format: Format = "json", description: str | None = None,
                         wait: bool = True, timeout: float = 60.0) -> dict[str, Any]:
        """Subscribe `team`'s webhook to the changes the filter matches (empty: any). The
        answer holds the id, the signing `secret` and how deliveries are signed."""
        body = check_subscription({
            "team": team, "url": url, "format": format, "description": description,
            "filter": {"projects": list(projects), "kinds": list(kinds), "stages": list(stages),
                       "tags": list(tags), "event_types": list(event_types)}})
        del body["active"]
        self.http.require_token()
        return self._write("POST", PATH, body, wait, timeout)

    def subscriptions(self, team: str | None = None) -> list[dict[str, Any]]:
        """Current subscriptions (only `team`'s), newest first."""
        return list(self._get(PATH, present(team=team), token=True))

    def subscription(self, sub_id: str) -> dict[str, Any]:
        """One subscription and its delivery totals by state."""
        return dict(self._get(f"{PATH}/{segment(sub_id)}", token=True))

    def subscription_secret(self, sub_id: str) -> str:
        """The signing secret (its owner only)."""
        return str(self._get(f"{PATH}/{segment(sub_id)}/secret", token=True)["secret"])

    def remove_subscription(self, sub_id: str, *, wait: bool = True, timeout: float = 60.0
                            ) -> dict[str, Any]:
        """Stop deliveries; the delivery log stays readable."""
        return self._write("DELETE", f"{PATH}/{segment(sub_id)}", None, wait, timeout)

    def test_subscription(self, sub_id: str) -> dict[str, Any]:
        """Send one signed sample delivery now (the newest change the filter matches, as the
        notifier would send it): {"delivered", "status_code", "error", "duration_ms",
        "target", "event_type", "body", ...}."""
        self.http.require_token()
        return dict(self.http.request("POST", f"{PATH}/{segment(sub_id)}/test").json())

    def deliveries(self, sub_id: str, *, state: State | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict[str, Any]:
        """The delivery log, newest first: {"deliveries": [...], "next": cursor or None}."""
        params = present(state=state, limit=str(limit), cursor=cursor)
        return dict(self._get(f"{PATH}/{segment(sub_id)}/deliveries", params, token=True))
