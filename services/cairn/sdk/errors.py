"""The one exception the SDK raises: a stable `reason` code plus a message saying what to fix.

Errors the api returns (`{"error": {"reason", "message"}}`), input the SDK refuses before
sending anything, a rejected event and an unreachable api all arrive as `CairnError`, so a
caller branches on `reason` and never on HTTP or httpx details.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from cairn.core.domain.identity import InvalidInput

if TYPE_CHECKING:  # httpx loads with the Client, not with every module that names an error
    import httpx

P = ParamSpec("P")
T = TypeVar("T")

UNREACHABLE = "api_unreachable"


class CairnError(Exception):
    """`status` is the api's HTTP status, None when no HTTP answer carried the error.
    `local` is True when the SDK refused the input itself, before sending anything."""

    def __init__(self, reason: str, message: str, status: int | None = None,
                 detail: dict[str, Any] | None = None, *, local: bool | None = None) -> None:
        super().__init__(f"{message} ({reason})")
        self.reason = reason
        self.message = message
        self.status = status
        self.detail = detail or {}
        self.local = status is None if local is None else local

    @classmethod
    def from_response(cls, reply: httpx.Response) -> CairnError:
        try:
            body = reply.json()["error"]
            reason, message = str(body["reason"]), str(body["message"])
            detail = {k: v for k, v in body.items() if k not in ("reason", "message")}
        except Exception:  # not the api's error shape: a proxy, or a server that is not Cairn
            reason = f"http_{reply.status_code}"
            message = reply.text.strip()[:300] or reply.reason_phrase
            detail = {}
        return cls(reason, message, reply.status_code, detail)

    @classmethod
    def transport(cls, url: str, exc: httpx.TransportError) -> CairnError:
        import httpx

        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return cls(UNREACHABLE, f"the api at {url} is not reachable ({exc}); start it "
                       "with `scripts/stack up`, or point CAIRN_API_URL at a running api",
                       local=False)
        return cls("network_error", f"the connection to the api at {url} failed "
                   f"({type(exc).__name__}: {exc}); retry", local=False)


def translated(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn the core's InvalidInput into CairnError, so callers catch one exception type."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except InvalidInput as exc:
            raise CairnError(exc.reason, str(exc)) from exc

    return wrapper
