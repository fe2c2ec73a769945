"""Server-side dashboard sessions, the session middleware (sets the API's USER key) and CSRF checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web

from controller.api import STORE, USER
from controller.store import Store
from controller.store.base import UserRow

COOKIE = "camfleet_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Pages anyone may load: the login form itself and static assets.
PUBLIC_PREFIXES = ("/login", "/static/", "/healthz", "/readyz", "/metrics", "/api/openapi.json")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    """A browser session. Anonymous sessions exist only to carry the login form's CSRF token."""

    sid: str
    csrf: str
    username: str | None = None
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """In the fleet store, so every controller replica behind a plain load balancer knows every session (no
    sticky sessions). Ids are 256-bit random and stored only hashed. Times are wall clock (replicas share
    them); `seen` is written at most every `touch_s`, so browsing is not a write per request."""

    def __init__(
        self,
        store: Store,
        idle_s: float = 8 * 3600,
        max_age_s: float = 24 * 3600,
        limit: int = 10_000,
        touch_s: float = 60.0,
    ) -> None:
        self.store = store
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self.limit = limit
        self.touch_s = touch_s

    async def new(self, username: str | None = None) -> Session:
        s = Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), username=username)
        async with self.store.tx() as tx:
            await tx.people.sessions_expire(s.created - self.idle_s, s.created - self.max_age_s)
            # Anonymous sessions are cheap to create; under a flood those go first, oldest first.
            await tx.people.sessions_trim(self.limit)
            await tx.people.session_add(_hash(s.sid), s.csrf, username or "", s.created)
        return s

    async def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        async with self.store.read() as r:
            row = await r.people.session_get(_hash(sid))
        if row is None:
            return None
        s = Session(sid, row["csrf"], row["username"] or None, row["created"], row["seen"])
        now = time.time()
        if now - s.seen > self.idle_s or now - s.created > self.max_age_s:
            await self.drop(sid)
            return None
        if now - s.seen >= self.touch_s:
            async with self.store.tx() as tx:
                await tx.people.session_touch(_hash(sid), now)
            s.seen = now
        return s

    async def drop(self, sid: str) -> None:
        async with self.store.tx() as tx:
            await tx.people.session_drop(_hash(sid))


SESSIONS = web.AppKey("dashboard_sessions", SessionStore)
SECURE_COOKIES = web.AppKey("dashboard_secure_cookies", bool)
SESSION = web.RequestKey("dashboard_session", Session)


def set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    response.set_cookie(
        COOKIE, session.sid, path="/", httponly=True, samesite="Strict", secure=request.app[SECURE_COOKIES]
    )


def csrf_ok(session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf.encode(), (token or "").encode())


def _is_html_route(path: str) -> bool:
    return not path.startswith("/api/")


def _login_redirect(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate from the session cookie and enforce CSRF on every state-changing session request.

    A bearer token (fleetctl, scripts) is left to the API's token middleware and needs no CSRF token:
    browsers never attach it on their own. A session cookie is attached by the browser, so every POST that
    relies on it must also prove it came from our page: the form field or the X-CSRF-Token header."""
    bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    session = None if bearer else await request.app[SESSIONS].get(request.cookies.get(COOKIE))
    user: UserRow | None = None
    if session is not None:
        request[SESSION] = session
        if session.username is not None:
            # Look the user up on every request: a changed role or a deleted account applies at once.
            user = await request.app[STORE].get_user(session.username)
            if user is None:
                await request.app[SESSIONS].drop(session.sid)
                session = None
            else:
                request[USER] = user
    if session is not None and request.method not in SAFE_METHODS:
        token = request.headers.get(CSRF_HEADER)
        if token is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            token = str((await request.post()).get(CSRF_FIELD, "")) or None
        if not csrf_ok(session, token):
            if request.path.startswith("/api/"):
                return web.json_response({"error": "CSRF token missing or wrong"}, status=403)
            raise web.HTTPForbidden(text="CSRF token missing or wrong: reload the page and try again.")
    if (
        user is None
        and not bearer
        and _is_html_route(request.path)
        and not request.path.startswith(PUBLIC_PREFIXES)
    ):
        if request.method in SAFE_METHODS:
            raise _login_redirect(request)
        raise web.HTTPForbidden(text="log in first")
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if _is_html_route(request.path):
        # No inline script or style anywhere in the templates, so the policy can forbid them outright.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
    return response
