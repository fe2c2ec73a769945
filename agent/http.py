"""HTTP to cameras: a global request cap, one keep-alive connection and one digest state per camera."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar
from urllib.parse import quote_plus, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from agent.auth_guard import AuthGuard, space_of
from agent.credentials import Credentials
from agent.digest import DigestState, answerable, parse_challenges
from agent.errors import AuthFailed, LockedOut, Timeout, Unreachable, Unsupported
from agent.http11 import IDEMPOTENT, ConnectFailed, Connection, CutShort, FramingError

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
class Slot:
    """One camera address: its lock (one request at a time, whoever sends it) and its one keep-alive connection
    (DESIGN §4: never parallel connections to one device; Dahua counts idle ones against its ~20 too)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    conn: Connection | None = None
    users: int = 0

    def release(self) -> None:
        """A CameraHttp is done with the address: the connection goes with the last one."""
        self.users -= 1
        if self.users <= 0 and self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass(eq=False)
class HttpPool:
    """Process-wide connection budget: a semaphore gate on requests in flight and one lock per camera address.

    The gate is taken before a request's timeout starts, so waiting for a free slot behind 1,000 other cameras
    never counts as a camera timeout. The per-address lock is shared by every CameraHttp to that address: one
    request at a time per device, whoever sends it (digest nonces race; Dahua/Hikvision connection limits).
    Gate and locks belong to the event loop that created them.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    source: str | None = None  # local address to connect from (a host with a leg in several networks)
    gate: asyncio.Semaphore = field(init=False)
    loop: asyncio.AbstractEventLoop = field(init=False)
    closed: bool = field(init=False, default=False)
    _slots: weakref.WeakValueDictionary[tuple[str, int, bool], Slot] = field(init=False)
    _connections: weakref.WeakSet[Connection] = field(init=False)
    _tls: ssl.SSLContext | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.gate = asyncio.Semaphore(self.concurrency)
        self._slots = weakref.WeakValueDictionary()
        self._connections = weakref.WeakSet()

    def slot(self, host: str, port: int, *, tls: bool = False) -> Slot:
        """The one lock and connection of this camera address, shared by every CameraHttp to it (kept while one
        holds it)."""
        slot = self._slots.get((host, port, tls))
        if slot is None:
            slot = Slot()
            self._slots[(host, port, tls)] = slot
        return slot

    def tls(self) -> ssl.SSLContext:
        """Certificates verified, as aiohttp's default was (built once: a context costs milliseconds)."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def connect(self, host: str, port: int, *, tls: bool) -> Connection:
        conn = await Connection.open(host, port, tls=self.tls() if tls else None,
                                     local_addr=(self.source, 0) if self.source else None)  # fmt: skip
        self._connections.add(conn)
        return conn

    async def close(self) -> None:
        self.closed = True
        for conn in list(self._connections):
            conn.close()


_DEFAULT_POOL: HttpPool | None = None


def default_pool() -> HttpPool:
    """The process-wide pool for the running loop (re-created when a new loop runs, e.g. per test)."""
    global _DEFAULT_POOL
    loop = asyncio.get_running_loop()
    if _DEFAULT_POOL is None or _DEFAULT_POOL.loop is not loop or _DEFAULT_POOL.closed:
        _DEFAULT_POOL = HttpPool()
    return _DEFAULT_POOL


async def close_default_pool() -> None:
    global _DEFAULT_POOL
    if _DEFAULT_POOL is not None:
        pool, _DEFAULT_POOL = _DEFAULT_POOL, None
        if pool.loop is asyncio.get_running_loop():
            await pool.close()


def _refused(headers: list[tuple[str, str]], digest: DigestState | None) -> bool:
    """A 401 to our digest answer is a refusal unless it says stale=true (RFC 7616 §3.3: the nonce expired, not
    the password) or challenges for another realm (a new protection space, answered once)."""
    challenges = [c for c in parse_challenges(v for k, v in headers if k.lower() == "www-authenticate")
                  if c.scheme == "digest"]  # fmt: skip
    if any(c.stale for c in challenges):
        return False
    offered = {c.params["realm"] for c in challenges if "realm" in c.params}
    sent = digest.realm if digest is not None else None
    return not (sent is not None and offered and sent not in offered)


def settle(guard: AuthGuard, space: str, reply: HttpReply) -> None:
    """Tell the guard what a reply to a request that carried the credential says about it: a 2xx to a digest
    answer accepted it; a 401 to one (not stale, not "too many connections") refused it. A credential in the body
    is judged by the SOAP layer (200 with a NotAuthorized fault happens)."""
    if not reply.auth_sent:
        return
    if 200 <= reply.status < 300:
        guard.accept(space)
    elif reply.status == 401 and not reply.is_stale_challenge() and not _TOO_MANY_RE.search(reply.body):
        cls = LockedOut if _LOCK_RE.search(reply.body) else AuthFailed
        guard.refuse(space, cls(reply.refusal(), operation=space))


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, Unreachable)


def _is_connect_failure(exc: BaseException) -> bool:
    """The request never reached the camera, so even a non-idempotent call may be retried."""
    return isinstance(exc, Unreachable) and isinstance(exc.__cause__, ConnectFailed)


#: What every request says about the client (no Accept-Encoding: cameras need not compress for us).
_FIXED_HEADERS = "Accept: */*\r\nUser-Agent: camfleet-agent\r\n"
_QUERY_SAFE = (
    "?/:@!$'()*,"  # what yarl (aiohttp's URLs) leaves unquoted in a query: the same bytes on the wire
)


class CameraHttp:
    """HTTP to one camera: one keep-alive HTTP/1.1 connection (agent.http11) and the camera's digest state.

    Requests to one camera address are serialised (the pool's lock per address), so a digest nonce is never raced
    and a camera never sees two connections from the agent. After the first challenge every request carries its
    digest answer up front (RFC 7616 §3.6, nonce count per nonce): one challenge per camera, not per request.
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
        guard: AuthGuard | None = None,
    ) -> None:
        self.host = host
        self.port = port
        bracketed = f"[{host}]" if ":" in host else host
        default_port = 443 if scheme == "https" else 80
        authority = bracketed + ("" if port == default_port else f":{port}")
        self.base_url = f"{scheme}://{authority}"
        self._host_line = f"Host: {authority}\r\n"
        self._tls = scheme == "https"
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.clock = ClockSample()
        self.banner = Banner()
        self.pool = pool or default_pool()
        self.credentials = credentials
        # Where the credential may still go: one per camera, from whoever keeps the camera across sessions.
        self.guard = guard or AuthGuard()
        self.guard.bind(credentials)
        # Whether the current exchange sent the credential (a leg with Authorization, a token).
        self._presented = False
        self._digest = _digest_for(credentials)
        self._slot = self.pool.slot(host, port, tls=self._tls)
        self._slot.users += 1
        self._lock = self._slot.lock
        self._closed = False

    async def set_credentials(self, credentials: Credentials | None) -> None:
        """New credentials from the operator: a fresh digest state (no stale challenge carried over)."""
        async with self._lock:
            self.credentials = credentials
            self._digest = _digest_for(credentials)
            self.guard.bind(credentials)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._slot.release()

    def url(self, path: str) -> str:
        """Absolute URL on this camera; absolute inputs must already point at it (see onvif_xaddr)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _target(self, path: str, params: Mapping[str, str] | None, operation: str) -> str:
        """The request-target (path and query as sent, also the digest `uri`)."""
        base = self.base_url
        if path.startswith(base) and path[len(base) : len(base) + 1] in ("/", "?"):
            path = path[len(base) :]  # the usual absolute input: an XAddr rebased onto this camera
        elif path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if f"{parts.scheme}://{parts.netloc}".lower() != self.base_url.lower():
                # onvif_xaddr rebases every XAddr onto the reached address; anything else is not this camera.
                raise Unsupported(f"{path[:200]} is not on this camera", host=self.host, operation=operation)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        if not path.startswith("/"):
            path = "/" + path
        if params:
            query = "&".join(
                f"{quote_plus(k, _QUERY_SAFE)}={quote_plus(v, _QUERY_SAFE)}" for k, v in params.items()
            )
            path += ("&" if "?" in path else "?") + query
        return path

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
        credential_in_body: bool = False,
        operation: str = "",
    ) -> HttpReply:
        """One request (digest legs included, one extra round on a stale nonce), no status mapping.

        `authenticate=False` sends no credentials at all (pre-auth calls and auth-scheme probing, which
        must never count as a failed login). `credential_in_body`: the body carries it (a WS-Security
        UsernameToken). Raises Unreachable/Timeout, and AuthFailed/LockedOut when the camera refuses the digest
        answer (never answered twice with the same nonce and password), or Withheld when agent.auth_guard holds the
        credential back (refused before, or an answer to it was lost): then nothing is sent at all.
        """
        limit = self.timeout if timeout is None else timeout
        method = method.upper()
        target = self._target(path, params, operation or path)
        url = self.base_url + target
        body, head = _request_head(method, data, headers)
        guarded = authenticate and self.credentials is not None
        space = space_of(target)
        # Camera lock first, then a global slot: requests queued behind one slow camera must not sit on
        # global slots that other cameras could use.
        async with self._lock, self.pool.gate:
            if guarded:
                self.guard.admit(space, host=self.host, operation=operation or url)
            self._presented = guarded and credential_in_body
            if self._presented:
                self.guard.sent()
            try:
                reply = await self._once(
                    method, target, url, body, head, limit, authenticate, operation or url
                )
            except AuthFailed as exc:
                if self._presented:
                    self.guard.refuse(space, exc)
                raise
            except BaseException as exc:  # CancelledError too: the request may have reached the camera
                if self._presented and not _is_connect_failure(exc):
                    self.guard.lose(space, exc)
                raise
            if self._presented:
                settle(self.guard, space, reply)
        self.clock.observe(reply.headers, time.time())
        return reply

    async def _once(
        self,
        method: str,
        target: str,
        url: str,
        body: bytes,
        head: str,
        limit: float,
        authenticate: bool,
        op: str,
    ) -> HttpReply:
        digest = self._digest if authenticate else None
        try:
            async with asyncio.timeout(limit):
                return await self._legs(method, target, url, body, head, digest, op)
        except TimeoutError as exc:
            raise Timeout(f"no reply within {limit:g}s", host=self.host, operation=op) from exc
        except ConnectFailed as exc:
            raise Unreachable(f"connect failed: {exc}", host=self.host, operation=op) from exc
        except CutShort as exc:
            if exc.status is None:
                # The words aiohttp used (this client replaced it): records and evidence read as before.
                raise Unreachable("ServerDisconnectedError: Server disconnected", host=self.host,
                                  operation=op) from exc  # fmt: skip
            if exc.status == 401 and exc.auth_sent and _refused(exc.headers, digest):
                # A 401 to a request that carried our answer is a failed login, whole body or not: retrying it as
                # a transient "truncated reply" would spend a second login (camsim truncation fault).
                raise AuthFailed("credentials rejected (HTTP 401, digest sent; reply cut short)", host=self.host,
                                 operation=op) from exc  # fmt: skip
            if exc.status == 400 and digest is not None:
                # A cut-short 400 to a request with credentials may be a refused UsernameToken (400 +
                # NotAuthorized): retrying it would spend a second login.
                raise AuthFailed(f"login refused or reply cut short (HTTP {exc.status})", host=self.host,
                                 operation=op) from exc  # fmt: skip
            # Body cut mid-document (connection closed before Content-Length): transient, like a reset.
            raise Unreachable(f"truncated reply: {exc}", host=self.host, operation=op) from exc
        except FramingError as exc:
            raise Unreachable(f"malformed HTTP reply: {exc}", host=self.host, operation=op) from exc
        except OSError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}", host=self.host, operation=op) from exc

    async def _legs(
        self, method: str, target: str, url: str, body: bytes, head: str, digest: DigestState | None, op: str
    ) -> HttpReply:
        """The request and the digest legs it takes: a first challenge answered, a stale nonce (RFC 7616 §3.3) or a
        new protection space (another realm, e.g. a vendor API next to ONVIF) answered once each. A 401 to an
        answer for the same realm is a refused password: raised at once, never answered again (cameras lock
        accounts after 5-7 failures, DESIGN §4)."""
        auth = digest.authorization(method, target, body) if digest is not None and digest.challenge else None
        reply = await self._send(method, target, url, body, head, auth)
        stale_retried = realm_retried = False
        while reply.status == 401 and digest is not None and not _TOO_MANY_RE.search(reply.body):
            challenges = parse_challenges(reply.www_authenticate())
            if auth is not None:
                sent_realm = digest.realm
                offered = {
                    c.params["realm"] for c in challenges if c.scheme == "digest" and "realm" in c.params
                }
                if any(c.stale for c in challenges if c.scheme == "digest") and not stale_retried:
                    stale_retried = True
                    log.debug("%s: stale digest nonce on %s, answering the new one", self.host, op)
                elif offered and sent_realm not in offered and not realm_retried:
                    realm_retried = True  # a new protection space, not a refusal
                else:
                    if _LOCK_RE.search(reply.body):
                        raise LockedOut(
                            "camera reports this client/account locked", host=self.host, operation=op
                        )
                    raise AuthFailed(
                        "credentials rejected (HTTP 401, digest sent)", host=self.host, operation=op
                    )
            challenge = next((c for c in challenges if answerable(c)), None)
            if challenge is None:
                break  # Basic only, or no usable digest challenge: check() says what was (not) sent
            digest.learn(challenge)
            auth = digest.authorization(method, target, body)
            reply = await self._send(method, target, url, body, head, auth)
        return reply

    async def _send(
        self, method: str, target: str, url: str, body: bytes, head: str, auth: str | None
    ) -> HttpReply:
        """One leg on the camera's keep-alive connection (a new one when it is closed or idle too long)."""
        space = space_of(target) if auth else None
        if space is not None:
            self.guard.admit(space, host=self.host, operation=target)
            self._presented = True
            self.guard.sent()
        request = (
            f"{method} {target} HTTP/1.1\r\n{self._host_line}{head}"
            + (f"Authorization: {auth}\r\n" if auth else "")
            + "\r\n"
        ).encode("utf-8") + body
        head_only = method == "HEAD"
        conn = self._slot.conn
        if conn is not None and space is not None and conn.fresh():
            # A camera that closes after its 401 challenge has its FIN read on the next turn of the loop: look before
            # writing the answer into a dead socket, whose failure would leave the credential's fate unknown.
            await asyncio.sleep(0)
        if conn is not None and not conn.fresh():
            conn.close()
            conn = None
        reused = conn is not None
        if conn is None:
            conn = await self._connect()
        try:
            try:
                raw = await conn.roundtrip(request, head_only=head_only)
            except (CutShort, OSError) as exc:
                if not (
                    reused and method in IDEMPOTENT and (not isinstance(exc, CutShort) or exc.status is None)
                ):
                    raise
                if space is not None and not (isinstance(exc, CutShort) and exc.unsent):
                    # Whether the camera judged our answer before the socket died is unknown: the resend goes
                    # only where this credential is known (agent.auth_guard), never after a possible refusal.
                    self.guard.lose(space, Unreachable(f"connection closed before the answer ({exc})"))
                    self.guard.admit(space, host=self.host, operation=target)
                # The camera closed the kept-alive socket as we wrote (RFC 9112 §9.3.1): an idempotent request may
                # go again once on a new connection, as aiohttp did.
                conn = await self._connect()
                raw = await conn.roundtrip(request, head_only=head_only)
        except CutShort as exc:
            exc.auth_sent = auth is not None
            raise
        headers = CIMultiDictProxy(CIMultiDict(raw.headers))
        self.banner.observe(headers)
        return HttpReply(raw.status, headers, raw.body, url, "digest" if auth else "")

    async def _connect(self) -> Connection:
        if self._closed:
            raise Unreachable("camera connection closed by the agent", host=self.host)
        conn = self._slot.conn = await self.pool.connect(self.host, self.port, tls=self._tls)
        return conn

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


def _digest_for(credentials: Credentials | None) -> DigestState | None:
    return None if credentials is None else DigestState(credentials.username, credentials.password)


def _request_head(
    method: str, data: bytes | str | None, headers: Mapping[str, str] | None
) -> tuple[bytes, str]:
    """The body as bytes and the header lines after Host (Content-Type defaults as aiohttp set them)."""
    lines = [_FIXED_HEADERS]
    given = {k.lower() for k in headers} if headers else set()
    for name, value in (headers or {}).items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} holds a line break")  # a caller bug, never camera input
        lines.append(f"{name}: {value}\r\n")
    if data is None:
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0\r\n")
        return body, "".join(lines)
    if isinstance(data, str):
        body = data.encode("utf-8")
        default_type = "text/plain; charset=utf-8"
    else:
        body = bytes(data)
        default_type = "application/octet-stream"
    if "content-type" not in given:
        lines.append(f"Content-Type: {default_type}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\n")
    return body, "".join(lines)


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
