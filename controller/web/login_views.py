"""Log in and log out: scrypt-checked passwords, a fresh session id on login, CSRF on the form itself."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time

from aiohttp import web

from controller.api import STORE
from controller.auth import hash_password, verify_password
from controller.web.common import render
from controller.web.sessions import COOKIE, SESSION, SESSIONS, csrf_ok, set_cookie

log = logging.getLogger(__name__)
_FAIL_DELAY_S = 0.3
MAX_FAILURES = 10
FAILURE_WINDOW_S = 900.0


class LoginThrottle:
    """Failed logins per username in a sliding window: past MAX_FAILURES the account refuses logins until the
    window moves on (online password guessing; scrypt alone only slows each guess)."""

    def __init__(self, limit: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S) -> None:
        self.limit, self.window_s = limit, window_s
        self._fails: dict[str, list[float]] = {}

    def blocked(self, username: str, now: float) -> bool:
        recent = [t for t in self._fails.get(username, []) if now - t < self.window_s]
        self._fails[username] = recent
        return len(recent) >= self.limit

    def failed(self, username: str, now: float) -> None:
        if len(self._fails) > 100_000:  # bounded memory under a spray of random usernames
            self._fails.clear()
        self._fails.setdefault(username, []).append(now)

    def succeeded(self, username: str) -> None:
        self._fails.pop(username, None)


THROTTLE = web.AppKey("dashboard_login_throttle", LoginThrottle)


@functools.cache
def _dummy_hash() -> str:
    """Checked for unknown users too, so response time does not reveal which usernames exist."""
    return hash_password(secrets.token_urlsafe(16))


def _safe_next(target: str | None) -> str:
    """Only local paths: `next=//evil.example` or `next=https://...` would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login_form(request: web.Request) -> web.Response:
    session = request.get(SESSION) or await request.app[SESSIONS].new()
    request[SESSION] = session
    resp = render(request, "login.html", {"title": "Log in", "next": _safe_next(request.query.get("next"))})
    set_cookie(request, resp, session)
    return resp


async def login(request: web.Request) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    old = request.get(SESSION)
    form = await request.post()
    # The middleware checked the token when a session cookie came along; without one there is no token to
    # match, so a login POST without the form's session is refused here.
    if old is None or not csrf_ok(old, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="The login form expired: reload the page and try again.")
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    nxt = _safe_next(str(form.get("next", "/")))
    throttle = request.app[THROTTLE]
    if throttle.blocked(username, time.monotonic()):
        await request.app[STORE].append_audit(username or "?", "login.throttled", "dashboard", {})
        return render(
            request, "login.html",
            {"title": "Log in", "next": nxt, "username": username,
             "error": "Too many failed attempts for this account: try again in a few minutes."},
            429,
        )  # fmt: skip
    user = await request.app[STORE].get_user(username) if username else None
    # scrypt is deliberately slow (~50 ms); keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, password, user.password_hash if user else _dummy_hash())
    if user is None or not ok:
        log.info("dashboard login failed for %r", username)
        throttle.failed(username, time.monotonic())
        await asyncio.sleep(_FAIL_DELAY_S)
        await request.app[STORE].append_audit(username or "?", "login.failed", "dashboard", {})
        return render(
            request,
            "login.html",
            {"title": "Log in", "next": nxt, "username": username, "error": "Wrong username or password."},
            401,
        )
    throttle.succeeded(user.username)
    # A new id after login: a session id planted before login (session fixation) is worthless.
    await sessions.drop(old.sid)
    session = await sessions.new(user.username)
    await request.app[STORE].append_audit(user.username, "login", "dashboard", {"role": user.role})
    found = web.HTTPFound(nxt)
    set_cookie(request, found, session)
    raise found


async def logout(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is not None:
        await request.app[SESSIONS].drop(session.sid)
        if session.username:
            await request.app[STORE].append_audit(
                session.username, "logout", "dashboard", {"at": time.time()}
            )
    found = web.HTTPFound("/login")
    found.del_cookie(COOKIE, path="/")
    raise found
