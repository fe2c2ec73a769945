"""Shared aiohttp plumbing for cameras: one bounded connector per process, one digest session per camera."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

import aiohttp
from aiohttp import (
    ClientHandlerType,
    ClientRequest,
    ClientResponse,
    ClientSession,
    DigestAuthMiddleware,
    TCPConnector,
)
from multidict import CIMultiDictProxy
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from agent.credentials import Credentials
from agent.errors import AuthFailed, LockedOut, Timeout, Unreachable, Unsupported

log = logging.getLogger(__name__)

#: Global cap on requests in flight across all cameras (DESIGN §4 "global concurrency cap").
DEFAULT_CONCURRENCY = 64
#: Default per-request timeout in seconds (a whole digest round trip counts as one request).
DEFAULT_TIMEOUT = 10.0
#: Attempts for transient failures (Unreachable/Timeout) only; auth failures are never retried.
DEFAULT_ATTEMPTS = 3
#: Backoff between transient retries: jittered exponential, capped (seconds).
BACKOFF_MULTIPLIER = 0.2
BACKOFF_CAP = 2.0

# Hikvision's userCheck body exposes lockStatus/unlockTime/retryLoginTime once the client IP is locked
# (VENDORS.md §3 "Lockout"); Dahua answers "User locked"/"Login locked" style texts (VENDORS.md §4).
_LOCK_RE = re.compile(rb"lockStatus>\s*lock\s*<|unlockTime|\blocked\b|\block(ed)?\s*out\b", re.IGNORECASE)
# Dahua answers 401 when its ~20 connections are used up (DESIGN §4): a capacity problem, not a bad login.
_TOO_MANY_RE = re.compile(rb"too many connections", re.IGNORECASE)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A complete HTTP reply (body fully read, connection released)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str = ""
    auth_sent: str = ""  # the HTTP auth scheme the (last leg of the) request carried: "digest" or ""

    def www_authenticate(self) -> list[str]:
        return list(self.headers.getall("WWW-Authenticate", []))

    def schemes(self) -> list[str]:
        """Auth schemes the 401 offers, lower-case ('digest', 'basic', ...), in the order sent."""
        return [h.strip().split(" ", 1)[0].lower() for h in self.www_authenticate() if h.strip()]

    def is_stale_challenge(self) -> bool:
        """401 whose digest challenge says stale=true (RFC 7616 §3.3): the nonce expired, not the password."""
        return self.status == 401 and any(
            re.search(r"\bstale\s*=\s*\"?true\"?", h, re.IGNORECASE) for h in self.www_authenticate()
        )

    def offers_digest(self) -> bool:
        return self.status == 401 and "digest" in self.schemes()

    def refusal(self) -> str:
        """What this 401 means for what was sent, in words an operator can act on."""
        if self.auth_sent:
            return f"credentials rejected (HTTP 401, {self.auth_sent} sent)"
        offered = sorted(set(self.schemes()))
        if offered and "digest" not in offered:
            names = ", ".join(o.capitalize() for o in offered)
            return f"server offered {names} only; nothing sent"
        return "HTTP 401 without a usable challenge; nothing sent"


@dataclass(slots=True)
class ClockSample:
    """Camera clock learnt from the HTTP Date header (1 s resolution; fallback when GetSystemDateAndTime
    needs auth, DESIGN §4)."""

    offset_s: float | None = None  # camera clock minus local clock
    samples: int = 0

    def observe(self, headers: Mapping[str, str], local_now: float) -> None:
        raw = headers.get("Date")
        if not raw:
            return
        when = _http_date(raw)
        if when is None:
            return
        self.offset_s = when - local_now
        self.samples += 1


@functools.lru_cache(maxsize=256)
def _http_date(raw: str) -> float | None:
    """A Date header as a POSIX time, or None when odd or without a zone. Cached: every reply of a camera within
    the same second carries the same string (email.utils parsing was ~2 % of the agent's CPU in a sweep)."""
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None  # cameras send odd Date values; a bad one is just not a sample
    return None if when.tzinfo is None else when.timestamp()


_REALM_RE = re.compile(r'realm\s*=\s*"([^"]*)"', re.IGNORECASE)


@dataclass(slots=True)
class Banner:
    """What a camera's web server says about itself: attribution evidence (DESIGN §5: `App-webs/`,
    `DNVRS-Webs`, a digest realm `Login to <serial>`), and, from its SOAP replies, the XML namespaces it
    declares (Hikvision firmware keeps `hikvision.com/2011/event/topics` under any brand)."""

    server: str | None = None
    realm: str | None = None
    namespaces: set[str] = field(default_factory=set)

    def observe(self, headers: Mapping[str, str]) -> None:
        if self.server is None and headers.get("Server"):
            self.server = str(headers["Server"])[:200]
        if self.realm is None:
            challenge = headers.get("WWW-Authenticate") or ""
            m = _REALM_RE.search(challenge)
            if m:
                self.realm = m.group(1)[:200]


@dataclass(eq=False)
class HttpPool:
    """Process-wide connection budget: one TCPConnector (limit, limit_per_host=1) plus a semaphore gate.

    The gate is taken before a request's timeout starts, so waiting for a free slot behind 1,000 other
    cameras never counts as a camera timeout; the connector limits are the backstop. Gate and connector
    belong to the event loop that created them.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    source: str | None = None  # local address to connect from (a host with a leg in several networks)
    connector: TCPConnector = field(init=False)
    gate: asyncio.Semaphore = field(init=False)
    loop: asyncio.AbstractEventLoop = field(init=False)

    def __post_init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        # limit_per_host=1: never parallel connections to one device (digest nonces race, Dahua/Hik
        # connection limits). keepalive is kept short: cameras drop idle sockets after a few seconds.
        self.connector = TCPConnector(
            limit=self.concurrency,
            limit_per_host=1,
            keepalive_timeout=4.0,
            force_close=False,
            local_addr=(self.source, 0) if self.source else None,
        )
        self.gate = asyncio.Semaphore(self.concurrency)

    async def close(self) -> None:
        await self.connector.close()


_DEFAULT_POOL: HttpPool | None = None


def default_pool() -> HttpPool:
    """The process-wide pool for the running loop (re-created when a new loop runs, e.g. per test)."""
    global _DEFAULT_POOL
    loop = asyncio.get_running_loop()
    if _DEFAULT_POOL is None or _DEFAULT_POOL.loop is not loop or _DEFAULT_POOL.connector.closed:
        _DEFAULT_POOL = HttpPool()
    return _DEFAULT_POOL


async def close_default_pool() -> None:
    global _DEFAULT_POOL
    if _DEFAULT_POOL is not None:
        pool, _DEFAULT_POOL = _DEFAULT_POOL, None
        if pool.loop is asyncio.get_running_loop():
            await pool.close()


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, Unreachable)


def _is_connect_failure(exc: BaseException) -> bool:
    """The request never reached the camera, so even a non-idempotent call may be retried."""
    return isinstance(exc, Unreachable) and isinstance(exc.__cause__, aiohttp.ClientConnectorError)


async def _settle_challenge(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
    """Read a 401 reply completely before DigestAuthMiddleware re-sends the request.

    The digest middleware retries without releasing the 401 response. With limit_per_host=1 the retry
    then waits for the very connection the unread 401 still holds: a camera whose 401 body is cut short
    (seen with camsim's truncation fault) deadlocks the request until its timeout. Reading (or, on a
    broken body, closing) the 401 frees the connection; a broken body surfaces as a transient error.
    """
    response = await handler(request)
    if response.status != 401:
        return response
    try:
        body = await response.read()
    except aiohttp.ClientError as exc:
        response.close()
        if _failed_login(request, response):
            # A 401 to a request that carried credentials is a failed login, whole body or not: retrying
            # it as a transient "truncated reply" would spend a second login (camsim truncation fault).
            raise AuthFailed(
                "credentials rejected (HTTP 401, digest sent; reply cut short)",
                host=request.url.host or "",
                operation=request.url.path,
            ) from exc
        raise
    if _failed_login(request, response) and not _TOO_MANY_RE.search(body):
        # Stop here instead of letting DigestAuthMiddleware re-send: with a cached (preemptive) nonce it would
        # try the same wrong password twice per request, and cameras lock after 5-7 failures (DESIGN §4).
        if _LOCK_RE.search(body):
            raise LockedOut("camera reports this client/account locked", host=request.url.host or "",
                            operation=request.url.path)  # fmt: skip
        raise AuthFailed("credentials rejected (HTTP 401, digest sent)", host=request.url.host or "",
                         operation=request.url.path)  # fmt: skip
    return response


def _failed_login(request: ClientRequest, response: ClientResponse) -> bool:
    """401 to a request that carried digest credentials for the realm the server still asks for, without
    stale=true (RFC 7616 §3.3: a stale nonce is not a wrong password and gets one more round).

    A challenge for another realm is a new protection space, not a refusal: the preemptive answer was computed
    for the realm of an earlier challenge (ONVIF's), and a vendor path on the same camera may use its own.
    The digest middleware then answers the new challenge once.
    """
    sent = request.headers.get("Authorization", "")
    if not sent:
        return False
    challenge = " ".join(response.headers.getall("WWW-Authenticate", []))
    if re.search(r"\bstale\s*=\s*\"?true\"?", challenge, re.IGNORECASE):
        return False
    sent_realm = _REALM_RE.search(sent)
    offered = set(_REALM_RE.findall(challenge))
    return not (sent_realm and offered and sent_realm.group(1) not in offered)


class CameraHttp:
    """HTTP to one camera: its own ClientSession (digest middleware) over the shared connector.

    Requests to one camera are serialised (a lock per camera) so a digest nonce is never raced.
    """

    def __init__(
        self,
        host: str,
        port: int = 80,
        credentials: Credentials | None = None,
        *,
        scheme: Literal["http", "https"] = "http",
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        pool: HttpPool | None = None,
    ) -> None:
        self.host = host
        self.port = port
        bracketed = f"[{host}]" if ":" in host else host
        default_port = 443 if scheme == "https" else 80
        self.base_url = f"{scheme}://{bracketed}" + ("" if port == default_port else f":{port}")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.clock = ClockSample()
        self.banner = Banner()
        self.pool = pool or default_pool()
        self.credentials = credentials
        self._lock = asyncio.Lock()
        self._session = self._new_session(credentials)

    async def _observe_leg(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Innermost middleware: sees every leg, including the 401 the digest middleware answers itself."""
        response = await handler(request)
        self.banner.observe(response.headers)
        return response

    def _new_session(self, credentials: Credentials | None) -> ClientSession:
        # Order matters: the first middleware is the outermost, so _settle_challenge sees each digest leg.
        middlewares = (
            (
                DigestAuthMiddleware(credentials.username, credentials.password, preemptive=True),
                _settle_challenge,
                self._observe_leg,
            )
            if credentials is not None
            else (self._observe_leg,)
        )
        return ClientSession(
            connector=self.pool.connector,
            connector_owner=False,
            middlewares=middlewares,
            # Cameras set cookies (Hikvision WebSession) that must not leak between requests of the agent.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),  # per request, see exchange()
        )

    async def set_credentials(self, credentials: Credentials | None) -> None:
        """New credentials from the operator: a fresh digest middleware (no stale challenge state)."""
        async with self._lock:
            old, self._session = self._session, self._new_session(credentials)
            self.credentials = credentials
        await old.close()

    @property
    def session(self) -> ClientSession:
        """The camera's own ClientSession (digest middleware, shared connector)."""
        return self._session

    @property
    def closed(self) -> bool:
        return self._session.closed

    async def close(self) -> None:
        await self._session.close()

    def url(self, path: str) -> str:
        """Absolute URL on this camera; absolute inputs must already point at it (see onvif_xaddr)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + (path if path.startswith("/") else "/" + path)

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- contract API; applied per attempt inside
        authenticate: bool = True,
        operation: str = "",
    ) -> HttpReply:
        """One request (digest legs included, one extra round on a stale nonce), no status mapping.

        `authenticate=False` sends no credentials at all (pre-auth calls and auth-scheme probing, which
        must never count as a failed login). Raises Unreachable/Timeout only.
        """
        limit = self.timeout if timeout is None else timeout
        url = self.url(path)
        # Camera lock first, then a global slot: requests queued behind one slow camera must not sit on
        # global slots that other cameras could use.
        async with self._lock, self.pool.gate:
            reply = await self._once(method, url, params, data, headers, limit, authenticate, operation)
            if authenticate and reply.is_stale_challenge():
                # The middleware already retried once with the fresh nonce; a second stale means the nonce
                # expired in between (slow camera, RFC 7616 §3.3). One more round, never more.
                log.debug("%s: stale digest nonce on %s, retrying once", self.host, operation or path)
                reply = await self._once(method, url, params, data, headers, limit, authenticate, operation)
        return reply

    async def _once(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: bytes | str | None,
        headers: Mapping[str, str] | None,
        limit: float,
        authenticate: bool,
        operation: str,
    ) -> HttpReply:
        op = operation or url
        try:
            async with asyncio.timeout(limit):
                async with self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    allow_redirects=False,  # never follow a camera to another host
                    middlewares=None if authenticate else (),
                ) as resp:
                    try:
                        body = await resp.read()
                    except aiohttp.ClientPayloadError as exc:
                        if authenticate and self.credentials is not None and resp.status in (400, 401):
                            # A cut-short 400/401 to a request with credentials may be a refused login
                            # (UsernameToken: 400 + NotAuthorized); retrying it would spend a second one.
                            raise AuthFailed(
                                f"login refused or reply cut short (HTTP {resp.status})",
                                host=self.host,
                                operation=op,
                            ) from exc
                        raise
                    sent = resp.request_info.headers.get("Authorization", "")
                    auth_sent = sent.split(" ", 1)[0].lower() if sent else ""
                    reply = HttpReply(resp.status, resp.headers, body, str(resp.url), auth_sent)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise Timeout(f"no reply within {limit:g}s", host=self.host, operation=op) from exc
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"connect failed: {exc.os_error}", host=self.host, operation=op) from exc
        except aiohttp.ClientPayloadError as exc:
            # Body cut mid-document (connection closed before Content-Length): transient, like a reset.
            raise Unreachable(f"truncated reply: {exc}", host=self.host, operation=op) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}", host=self.host, operation=op) from exc
        self.clock.observe(reply.headers, time.time())
        self.banner.observe(reply.headers)
        return reply

    def check(self, reply: HttpReply, *, operation: str = "", authenticated: bool = True) -> HttpReply:
        """Map statuses that are failures of the transport or the login, leave the rest to the caller.

        A 401 is a failed login only when credentials went with the request; a challenge this client does not
        answer (Basic: a password in clear) is Unsupported, an answer that says what was (not) sent.
        """
        op = operation or reply.url
        if reply.status == 401:
            if _TOO_MANY_RE.search(reply.body):
                raise Unreachable(
                    "camera connection limit reached (401 Too many connections)", host=self.host, operation=op
                )
            if _LOCK_RE.search(reply.body):
                raise LockedOut("camera reports this client/account locked", host=self.host, operation=op)
            if reply.auth_sent:
                raise AuthFailed(reply.refusal(), host=self.host, operation=op)
            if authenticated:
                raise Unsupported(reply.refusal(), host=self.host, operation=op)
        if reply.status == 403 and _LOCK_RE.search(reply.body):
            raise LockedOut("camera reports this client/account locked", host=self.host, operation=op)
        if reply.status in (502, 503, 504):
            # Hikvision answers 503 when its connection slots are used up (DESIGN §4): retry later.
            raise Unreachable(f"HTTP {reply.status}", host=self.host, operation=op)
        return reply

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- contract API; applied per attempt inside
        idempotent: bool | None = None,
        operation: str = "",
    ) -> HttpReply:
        """Authenticated request with status mapping and bounded retries of transient failures only.

        A non-idempotent request (default: anything but GET/HEAD) is retried only when it never reached
        the camera (connect failure): a timed-out reboot must not be sent twice.
        """
        safe = method.upper() in ("GET", "HEAD") if idempotent is None else idempotent
        return await self.retrying(
            lambda: self._request_once(method, path, params, data, headers, timeout, operation),
            idempotent=safe,
        )

    async def _request_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | str | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,  # noqa: ASYNC109 -- forwarded to exchange()
        operation: str,
    ) -> HttpReply:
        reply = await self.exchange(
            method, path, params=params, data=data, headers=headers, timeout=timeout, operation=operation
        )
        return self.check(reply, operation=operation or path, authenticated=self.credentials is not None)

    async def retrying(self, attempt: Callable[[], Awaitable[_T]], *, idempotent: bool = True) -> _T:
        """Run `attempt` with this camera's retry budget (see with_retries)."""
        return await with_retries(attempt, attempts=self.attempts, idempotent=idempotent)


async def with_retries(
    attempt: Callable[[], Awaitable[_T]], *, attempts: int = DEFAULT_ATTEMPTS, idempotent: bool = True
) -> _T:
    """tenacity with capped jittered backoff, for transient errors (Unreachable/Timeout) only and a bounded
    number of attempts; AuthFailed/Unsupported/ProtocolError go straight through (never retried).

    The first attempt runs outside tenacity: building and driving an AsyncRetrying cost ~0.3 ms CPU per call
    (inspect-based coroutine checks on every step), ~15 % of the agent's CPU in bench/inventory_sweep.py,
    and nearly every call succeeds first time. After a transient failure the same schedule continues in
    tenacity: its first wait is attempt 1's (uniform up to the multiplier), and the doubled multiplier makes
    its attempt k wait like attempt k+1 of a single retryer.
    """
    retryable = _is_transient if idempotent else _is_connect_failure
    try:
        return await attempt()
    except BaseException as exc:  # CancelledError is never retryable and re-raises here
        if attempts <= 1 or not retryable(exc):
            raise
    await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_MULTIPLIER)))
    retryer = AsyncRetrying(
        stop=stop_after_attempt(attempts - 1),
        wait=wait_random_exponential(multiplier=BACKOFF_MULTIPLIER * 2, max=BACKOFF_CAP),
        retry=retry_if_exception(retryable),
        reraise=True,
    )

    async def run() -> _T:
        # tenacity only awaits coroutine *functions*; a lambda returning a coroutine would not be awaited.
        return await attempt()

    result: _T = await retryer(run)
    return result
