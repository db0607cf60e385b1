"""What every group of Client methods shares: the api over HTTP and the one way a write
waits until the ledger recorded it.

Client methods live in small mixins by topic (access, subscriptions, search), each over
this base, so `Client` stays one object without one file holding every route.
"""

from __future__ import annotations

from typing import Any

from cairn.sdk import publish as steps
from cairn.sdk.http import Http, Params


class ApiCalls:
    http: Http

    def wait_for(self, event_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The recorded event's status; CairnError if the ledger rejected it or is too slow."""
        return steps.wait_recorded(self.http, event_id, timeout)

    def _get(self, path: str, params: Params | None = None, *, token: bool = False) -> Any:
        """A read; `token`: one the api refuses without a token, so none is a local error."""
        if token:
            self.http.require_token()
        return self.http.json("GET", path, params=params)

    def _write(self, method: str, path: str, body: Any, wait: bool, timeout: float
               ) -> dict[str, Any]:
        """The api's answer, with the ledger's status once recorded (`wait`), else with
        status "pending"."""
        reply = self.http.request(method, path, json=body)
        accepted = dict(reply.json()) if reply.content else {}
        event_id = accepted.get("event_id")
        if not wait or not event_id:
            return {**accepted, "status": "pending"}
        return {**accepted, **self.wait_for(event_id, timeout)}


def present(**params: Any) -> dict[str, Any]:
    """Query parameters without the ones not given (None)."""
    return {k: v for k, v in params.items() if v is not None}
