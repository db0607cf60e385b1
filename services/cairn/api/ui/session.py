"""Signing in to the UI: a form takes a token and keeps it in an HttpOnly, SameSite=Strict
cookie (Secure over https), which cairn.api.principals accepts only for GETs under /ui —
pages that read — so the cookie never authorizes a write. Also the stylesheet and script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from cairn.api.errors import not_found
from cairn.api.principals import COOKIE, resolve
from cairn.api.ui.html import HERE, page

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)
SESSION_SECONDS = 12 * 3600


def _same_origin(request: Request) -> bool:
    """A browser sends Origin with a form POST: refuse one from another site (login CSRF:
    being signed in, unknowingly, as someone else)."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


@router.get("/login")
async def login_form(request: Request) -> Response:
    return await page(request, "login.html", problem=None)


@router.post("/login")
async def login(request: Request) -> Response:
    if not _same_origin(request):
        return await page(request, "login.html", 403, problem="this form was sent from "
                          "another site")
    form = await request.form()
    token = str(form.get("token") or "").strip()
    principal = await resolve(request.app.state.pool, request.app.state.tokens,
                              f"Bearer {token}") if token else None
    if principal is None or principal.anonymous:
        why = "enter a token" if principal is None else \
            f"that token is {principal.token_problem or 'not valid'}"
        return await page(request, "login.html", 400, problem=why)
    reply = RedirectResponse("/ui", status_code=303)
    reply.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, path="/ui", httponly=True,
                     samesite="strict", secure=request.url.scheme == "https")
    return reply


@router.post("/logout")
async def logout(request: Request) -> Response:
    reply = RedirectResponse("/ui", status_code=303)
    reply.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return reply


STATIC = {"cairn.css": "text/css", "cairn.js": "text/javascript"}


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The stylesheet and the one small script, from the package: nothing from a CDN."""
    if name not in STATIC:
        raise not_found(f"static file {name!r}")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name],
                        headers={"cache-control": "public, max-age=300"})
