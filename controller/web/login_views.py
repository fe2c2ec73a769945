"""Log in and log out: scrypt-checked passwords, a fresh session id on login, CSRF on the form itself."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import secrets
import time

from aiohttp import web

from controller.api import STORE
from controller.auth import hash_password, verify_password
from controller.store import Store
from controller.web.common import render
from controller.web.limits import client_address
from controller.web.sessions import COOKIE, SECURE_COOKIES, SESSION, SESSIONS, csrf_ok, set_cookie

log = logging.getLogger(__name__)
_FAIL_DELAY_S = 0.3
FAILURE_WINDOW_S = 900.0
CLIENT_FREE = 5  # failed logins from one address before it has to wait
ACCOUNT_FREE = 10  # failed logins on one account (from anywhere) before it has to wait
MAX_WAIT_S = 900.0
ACCOUNT_MAX_WAIT_S = 60.0
DEVICE_COOKIE = "camfleet_device"
DEVICE_TTL_S = 180 * 86400
DEVICE_KEY = "dashboard_device_cookie"


class LoginThrottle:
    """Online password guessing, slowed without locking the real user out (OWASP "device cookies"):

    - per client address: after CLIENT_FREE failures in the window, each further try must wait 2, 4, 8 ...
      seconds (up to MAX_WAIT_S) after the last failure; a spray of usernames from one client meets a 429;
    - per account: after ACCOUNT_FREE failures from anywhere, tries on it wait 2, 4 ... up to a minute;
    - a browser that has logged in as the account before carries a signed device cookie, and a try that
      presents it is exempt from both (unless that cookie itself keeps failing): the admin whose account is
      being guessed at still gets in from their own browser. Its key is in the store (DEVICE_KEY), so the
      cookie still counts after a restart and on every replica.
    Memory is bounded (a flood of random usernames or addresses clears the oldest records)."""

    def __init__(self, window_s: float = FAILURE_WINDOW_S, limit: int = 100_000) -> None:
        self.window_s, self.limit = window_s, limit
        self._fails: dict[str, list[float]] = {}
        self._secret = b""

    async def ready(self, store: Store) -> None:
        """Load the device-cookie key (created by the first replica that asks) before the first login."""
        if not self._secret:
            self._secret = await store.secret(DEVICE_KEY)

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._fails.get(key, []) if now - t < self.window_s]
        if recent:
            self._fails[key] = recent
        else:
            self._fails.pop(key, None)
        return recent

    def _wait(self, key: str, free: int, cap: float, now: float) -> float:
        recent = self._recent(key, now)
        if len(recent) < free:
            return 0.0
        return max(0.0, recent[-1] + min(cap, 2.0 ** (len(recent) - free + 1)) - now)

    def wait(self, client: str, username: str, device: str, now: float) -> float:
        """Seconds this try must still wait (0: go ahead and check the password)."""
        if self.known_device(device, username) and not self._wait(
            f"d:{device}", ACCOUNT_FREE, MAX_WAIT_S, now
        ):
            return 0.0
        return max(self._wait(f"c:{client}", CLIENT_FREE, MAX_WAIT_S, now),
                   self._wait(f"a:{username.lower()}", ACCOUNT_FREE, ACCOUNT_MAX_WAIT_S, now))  # fmt: skip

    def failed(self, client: str, username: str, device: str, now: float) -> None:
        if len(self._fails) > self.limit:
            for key in sorted(self._fails, key=lambda k: self._fails[k][-1])[: self.limit // 2]:
                del self._fails[key]
        keys = [f"c:{client}", f"a:{username.lower()}"] + ([f"d:{device}"] if device else [])
        for key in keys:
            self._fails.setdefault(key, []).append(now)

    def succeeded(self, client: str, username: str) -> None:
        self._fails.pop(f"c:{client}", None)

    def device_cookie(self, username: str) -> str:
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}.{self._mac(nonce, username)}"

    def known_device(self, cookie: str, username: str) -> bool:
        nonce, _, mac = cookie.partition(".")
        return bool(nonce and mac) and hmac.compare_digest(mac, self._mac(nonce, username))

    def _mac(self, nonce: str, username: str) -> str:
        assert self._secret, "LoginThrottle.ready() first"
        return hmac.new(self._secret, f"{nonce}|{username.lower()}".encode(), hashlib.sha256).hexdigest()[:32]


THROTTLE = web.AppKey("dashboard_login_throttle", LoginThrottle)


@functools.cache
def _dummy_hash() -> str:
    """Checked for unknown users too, so response time does not reveal which usernames exist."""
    return hash_password(secrets.token_urlsafe(16))


def _safe_next(target: str | None) -> str:
    """Only local paths: `next=//evil.example` or `next=https://...` would be an open redirect. Browsers drop
    tabs and newlines from a URL, so "/<TAB>/evil" is "//evil" to them: control characters, spaces and
    backslashes make the target "/"."""
    if not target or not target.startswith("/") or any(c <= " " or c in "\\\x7f" for c in target):
        return "/"
    if target.startswith("//"):
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
    await throttle.ready(request.app[STORE])
    client = client_address(request)
    device = request.cookies.get(DEVICE_COOKIE, "")
    wait = throttle.wait(client, username, device, time.monotonic())
    if wait > 0:
        await request.app[STORE].append_audit(username or "?", "login.throttled", "dashboard",
                                              {"client": client, "wait_s": round(wait)})  # fmt: skip
        resp = render(
            request, "login.html",
            {"title": "Log in", "next": nxt, "username": username,
             "error": f"Too many failed attempts: try again in {max(1, round(wait))} seconds."},
            429,
        )  # fmt: skip
        resp.headers["Retry-After"] = str(max(1, round(wait)))
        return resp
    user = await request.app[STORE].get_user(username) if username else None
    # scrypt is deliberately slow (~50 ms); keep it off the event loop.
    ok = await asyncio.to_thread(verify_password, password, user.password_hash if user else _dummy_hash())
    if user is None or not ok:
        log.info("dashboard login failed for %r from %s", username, client)
        throttle.failed(client, username, device, time.monotonic())
        await asyncio.sleep(_FAIL_DELAY_S)
        await request.app[STORE].append_audit(
            username or "?", "login.failed", "dashboard", {"client": client}
        )
        return render(
            request,
            "login.html",
            {"title": "Log in", "next": nxt, "username": username, "error": "Wrong username or password."},
            401,
        )
    throttle.succeeded(client, user.username)
    # A new id after login: a session id planted before login (session fixation) is worthless.
    await sessions.drop(old.sid)
    session = await sessions.new(user.username)
    await request.app[STORE].append_audit(user.username, "login", "dashboard", {"role": user.role})
    found = web.HTTPFound(nxt)
    set_cookie(request, found, session)
    if not throttle.known_device(device, user.username):
        found.set_cookie(DEVICE_COOKIE, throttle.device_cookie(user.username), max_age=DEVICE_TTL_S, path="/login",
                         httponly=True, samesite="Strict", secure=request.app[SECURE_COOKIES])  # fmt: skip
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
