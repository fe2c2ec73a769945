"""One ONVIF session per camera on onvif-zeep-async pieces: shared WSDL, clock offset, auth choice, safe calls."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from onvif.client import _WSDL_PATH, UsernameDigestTokenDtDiff, ZeepAsyncClient, _cached_document
from onvif.definition import SERVICES
from onvif.settings import DEFAULT_SETTINGS
from onvif.wsa import WsAddressingIfMissingPlugin

from agent import onvif_read
from agent.auth_guard import AuthGuard, Withheld, space_of
from agent.credentials import Credentials
from agent.errors import AuthFailed, CameraError, LockedOut, ProtocolError, Unsupported
from agent.http import DEFAULT_ATTEMPTS, CameraHttp, HttpPool, HttpReply, with_retries
from agent.onvif_faults import convert
from agent.onvif_transport import CameraTransport, PreAuthRefused, check_reply
from agent.onvif_xaddr import DEVICE_PATH, rebase_xaddr
from agent.xmlsafe import SOAP_PARSER

log = logging.getLogger(__name__)

# Cost of this design vs one onvif-zeep-async ONVIFCamera per camera, measured with
# bench/onvif_session_cost.py (1,000 objects each, devicemgmt only, WSDL pre-parsed, no network, 2 cores,
# each side in its own process, tracemalloc on):
#   OnvifSession : 4.7 KiB Python heap per camera, +7.9 MiB RSS per 1,000, 0.28 ms CPU to build
#   ONVIFCamera  : 32.4 KiB per camera, +66.9 MiB RSS per 1,000, 0.72 ms CPU to build -- and per *service*
#                  its own TCPConnector + ClientSession (plus a snapshot pair), so no global connection cap.
# Most of the difference is zeep's ServiceProxy (8.9 KiB / 150 us each, and ONVIFService builds two); calls
# here go to binding.send_async directly. The WSDL itself is parsed once per process (0.10 s, then 40 us).

WSDL_DIR = Path(_WSDL_PATH)  # the WSDLs bundled with onvif-zeep-async (schema 2.4.2)
DEVICE_NS = SERVICES["devicemgmt"]["ns"]
DEVICE_BINDING = "{{{}}}{}".format(DEVICE_NS, SERVICES["devicemgmt"]["binding"])
AuthScheme = Literal["digest", "wsse", "none"]
ReadPathName = Literal["fast", "zeep"]
#: Which path read-only device calls take: "fast" (agent.onvif_read) or "zeep" (the reference the fuzz suite and
#: tests/agent/test_read_paths.py compare it with). Writes always go through zeep.
DEFAULT_READ_PATH: ReadPathName = "fast"
ClockSource = Literal["GetSystemDateAndTime", "http-date", "none"]

#: Device-service operations ONVIF Core classes PRE_AUTH (VENDORS.md §1 table).
#: The protection space (agent.auth_guard) of the device service: every session's, so worked out once, not per call.
DEVICE_SPACE = space_of(DEVICE_PATH)
PRE_AUTH_OPS = frozenset({"GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetServiceCapabilities"})
#: Operations that must not be sent twice after a timeout (the first may have been applied).
NON_IDEMPOTENT_OPS = frozenset(
    {
        "SystemReboot",
        "SetSystemFactoryDefault",
        "StartFirmwareUpgrade",
        "RestoreSystem",
        "CreateUsers",
        "DeleteUsers",
        "AddIPAddressFilter",
        "RemoveIPAddressFilter",
        "AddScopes",
        "RemoveScopes",
    }
)
#: Smallest SOAP 1.2 request used to see how an anonymous call is answered (no credentials at all).
_PROBE_ENVELOPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
    b' xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
    b"<s:Body><tds:GetDeviceInformation/></s:Body></s:Envelope>"
)


_DOCUMENT: Any = None
_LOADING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[Any]] = (
    weakref.WeakKeyDictionary()
)


async def device_document() -> Any:
    """devicemgmt.wsdl parsed once per process, also when many cameras ask for it at the same moment.

    onvif's _cached_document caches only *finished* loads: 64 cameras starting together each ran their own
    parse in an executor thread (bench/inventory_sweep.py: ~5 MB and ~0.2 s CPU per parse, RSS 400 MB at
    100 cameras). Concurrent callers therefore share one loading task (shielded: a cancelled caller must not
    cancel the others' load).
    """
    global _DOCUMENT
    if _DOCUMENT is not None:
        return _DOCUMENT
    loop = asyncio.get_running_loop()
    task = _LOADING.get(loop)
    if task is None:
        task = loop.create_task(_cached_document(str(WSDL_DIR / SERVICES["devicemgmt"]["wsdl"])))
        _LOADING[loop] = task
    try:
        document = await asyncio.shield(task)
    finally:
        if task.done():
            _LOADING.pop(loop, None)
    _DOCUMENT = document
    return document


@dataclass(slots=True)
class OnvifCapabilities:
    """What GetServices/GetServiceCapabilities said; used to gate optional calls."""

    services: dict[str, str] = field(default_factory=dict)  # namespace -> XAddr rebased onto the reached host
    flags: dict[str, Any] = field(
        default_factory=dict
    )  # "Network.IPFilter" -> True, "Security.MaxUsers" -> 16

    def supports(self, flag: str) -> bool | None:
        """True/False when the camera said so, None when it did not say or said something ambiguous (the caller
        decides, usually: try). A number is a count, not a verdict: Network@NTP is how many servers SetNTP
        takes, and a camera answering 0 may still answer GetNTP (issue 12)."""
        value = self.flags.get(flag)
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text == "true" else False if text == "false" else None

    def has_service(self, namespace: str) -> bool:
        return namespace in self.services


class OnvifSession:
    """ONVIF device-management session to one camera.

    Setup (like Home Assistant's order): pre-auth GetSystemDateAndTime for the clock offset (HTTP Date
    header as fallback), then the auth scheme from GetServiceCapabilities Security flags or from how an
    anonymous request is answered -- never by trying a credential -- then authenticated calls.
    Every exception leaving this class is an agent.errors.CameraError.
    """

    def __init__(
        self,
        host: str,
        port: int = 80,
        credentials: Credentials | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = DEFAULT_ATTEMPTS,
        http: CameraHttp | None = None,
        pool: HttpPool | None = None,
        scheme: AuthScheme | None = None,
        read_path: ReadPathName | None = None,
        guard: AuthGuard | None = None,
    ) -> None:
        self.host = host
        self.read_path: ReadPathName = read_path or DEFAULT_READ_PATH
        self.port = port
        self.timeout = timeout
        self.attempts = attempts
        self.http = http or CameraHttp(host, port, credentials, timeout=timeout, attempts=attempts, pool=pool,
                                       guard=guard)  # fmt: skip
        self.credentials = credentials if http is None else http.credentials
        self.device_xaddr = self.http.base_url + DEVICE_PATH
        self.clock_offset_s: float | None = None
        self.clock_source: ClockSource = "none"
        self.auth_scheme: AuthScheme | None = scheme
        self._caps: OnvifCapabilities | None = None
        self._security: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._anon: tuple[CameraTransport, Any] | None = None
        self._authed: tuple[CameraTransport, Any] | None = None
        self._ready = False

    # ---- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> OnvifSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    @property
    def auth_failed(self) -> AuthFailed | None:
        """The camera's ONVIF service turned the credential away (kept by the camera's AuthGuard, so it outlives
        this session and lifts when the credential changes): authenticated calls are not made."""
        return self.http.guard.denied.get(DEVICE_SPACE)

    def remember_auth(self, exc: AuthFailed) -> None:
        """No authenticated ONVIF call goes out again with this credential (the first failure stays)."""
        self.http.guard.deny(DEVICE_SPACE, exc)

    async def set_credentials(self, credentials: Credentials) -> None:
        """Operator supplied credentials: only *different* credentials lift a remembered auth failure (the guard
        forgets it when its credential changes)."""
        if credentials == self.credentials:
            return
        self.credentials = credentials
        self._authed = None
        await self.http.set_credentials(credentials)

    # ---- setup -------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Learn the clock offset and choose the auth scheme; idempotent. Raises CameraError."""
        if self._ready:
            return
        await self._learn_clock()
        if self.auth_scheme is None:
            self.auth_scheme = await self._choose_scheme()
        self._ready = True
        log.debug(
            "%s: ONVIF ready, scheme=%s clock_offset=%s (%s)",
            self.host,
            self.auth_scheme,
            self.clock_offset_s,
            self.clock_source,
        )

    async def _learn_clock(self) -> None:
        try:
            reply = await self._call_anonymous("GetSystemDateAndTime")
        except (PreAuthRefused, AuthFailed, Unsupported, ProtocolError) as exc:
            # Some cameras demand auth even for this (DESIGN §4); any reply's Date header is a second source.
            log.debug("%s: GetSystemDateAndTime refused (%s); using the HTTP Date header", self.host, exc)
            self._clock_from_date_header()
            return
        after = time.time()
        camera_utc = _utc_from_reply(reply)
        if camera_utc is None:
            self._clock_from_date_header()
            return
        # Measured against the receipt time, not the send time: the call may have queued behind the global
        # concurrency cap for a long while. The error is one round trip plus the camera's 1 s resolution.
        self.clock_offset_s = camera_utc.timestamp() - after
        self.clock_source = "GetSystemDateAndTime"

    def _clock_from_date_header(self) -> None:
        if self.http.clock.offset_s is not None:
            self.clock_offset_s = self.http.clock.offset_s
            self.clock_source = "http-date"

    async def _choose_scheme(self) -> AuthScheme:
        """Digest where offered (ONVIF Core: HTTP services "shall" use digest), else WS-UsernameToken."""
        try:
            caps = await self._call_anonymous("GetServiceCapabilities")
            self._security = _attrs(getattr(caps, "Security", None))
            self._remember_caps(caps)
        except CameraError as exc:
            if not isinstance(exc, PreAuthRefused | AuthFailed | Unsupported | ProtocolError):
                raise
            log.debug("%s: GetServiceCapabilities unavailable before login (%s)", self.host, exc)
        digest, wsse = _flag(self._security.get("HttpDigest")), _flag(self._security.get("UsernameToken"))
        if digest:
            return "digest"
        if wsse and digest is False:
            return "wsse"
        return await self._probe_scheme(wsse_advertised=bool(wsse))

    async def _probe_scheme(self, *, wsse_advertised: bool) -> AuthScheme:
        """Send an operation that needs auth with NO credentials and read the refusal (ONVIF Core §5.9.1:
        401 digest challenge -> digest; 400/200 + ter:NotAuthorized -> UsernameToken-only)."""
        reply = await with_retries(
            lambda: self.http.exchange(
                "POST",
                self.device_xaddr,
                data=_PROBE_ENVELOPE,
                headers={"Content-Type": 'application/soap+xml; charset="utf-8"'},
                authenticate=False,
                operation="probe-auth",
            ),
            attempts=self.attempts,
        )
        if reply.offers_digest():
            return "digest"
        if reply.status == 200 and b"Fault" not in reply.body:
            return "none"  # the camera answers anonymously; the digest state stays ready for a 401
        if b"NotAuthorized" in reply.body or reply.status in (400, 401, 500):
            return "wsse"
        return "wsse" if wsse_advertised else "digest"

    # ---- zeep clients ------------------------------------------------------------------------
    async def _client(self, *, authenticated: bool) -> tuple[CameraTransport, Any]:
        cached = self._authed if authenticated else self._anon
        if cached is not None:
            return cached
        document = await device_document()
        wsse = None
        uses_wsse = authenticated and self.auth_scheme == "wsse" and self.credentials is not None
        transport = CameraTransport(self.http, authenticate=authenticated, wsse=uses_wsse)
        if uses_wsse:
            assert self.credentials is not None
            offset = dt.timedelta(seconds=self.clock_offset_s or 0.0)
            # onvif's token folds the measured offset into Created (Zulu form, which Hikvision needs).
            wsse = UsernameDigestTokenDtDiff(
                self.credentials.username, self.credentials.password, dt_diff=offset, use_digest=True
            )
        client = ZeepAsyncClient(
            wsdl=document,
            wsse=wsse,
            transport=transport,
            settings=DEFAULT_SETTINGS,
            plugins=[WsAddressingIfMissingPlugin()],
        )
        pair = (transport, client)
        if authenticated:
            self._authed = pair
        else:
            self._anon = pair
        return pair

    # ---- calls -------------------------------------------------------------------------------
    async def _call_anonymous(self, op_name: str, **params: Any) -> Any:
        return await self._invoke(op_name, params, authenticated=False, optional=True, idempotent=True)

    async def call(
        self,
        op_name: str,
        *,
        optional: bool = False,
        idempotent: bool | None = None,
        **params: Any,
    ) -> Any:
        """Call a device-management operation; returns the zeep object (treat every field as optional).

        `optional=True` marks a call the camera may legitimately not implement: bare faults and
        InvalidArgs/OperationProhibited then mean Unsupported. Raises CameraError only.
        """
        remembered = self._remembered(op_name)
        if remembered is not None:
            raise remembered
        await self.connect()
        safe = op_name not in NON_IDEMPOTENT_OPS if idempotent is None else idempotent
        authenticated = self.credentials is not None
        return await self._invoke(
            op_name, params, authenticated=authenticated, optional=optional, idempotent=safe
        )

    async def _invoke(
        self, op_name: str, params: dict[str, Any], *, authenticated: bool, optional: bool, idempotent: bool
    ) -> Any:
        fast = self.read_path == "fast" and onvif_read.handles(op_name, params)

        async def attempt() -> Any:
            if authenticated and (remembered := self._remembered(op_name)) is not None:
                raise remembered
            if fast:
                return await self._read(op_name, params, authenticated=authenticated, optional=optional)
            async with self._lock:
                transport, client = await self._client(authenticated=authenticated)
                transport.operation = op_name
                transport.call_timeout = self.timeout
                binding = client.wsdl.bindings[DEVICE_BINDING]
                try:
                    binding.get(op_name)
                except ValueError as exc:
                    raise Unsupported(
                        f"operation not in devicemgmt.wsdl: {op_name}", host=self.host, operation=op_name
                    ) from exc
                try:
                    async with asyncio.timeout(self._call_budget()):
                        # What zeep's AsyncOperationProxy does, minus the ServiceProxy: building one
                        # (~90 OperationProxy objects) cost 8.9 KiB and 150 us per camera and client.
                        options = {"address": self.device_xaddr}
                        return await binding.send_async(client, options, op_name, (), params)
                except Exception as exc:  # CancelledError is a BaseException and passes through untouched
                    if _write_with_empty_body(op_name, transport.last_reply):
                        # A write whose response element is empty anyway (SetDNSResponse ...): servers that
                        # answer 200 with an empty <Body/>, or nothing, said "done" (zeep trips over both).
                        return None
                    raw = transport.last_reply.body if transport.last_reply is not None else None
                    err = convert(exc, host=self.host, operation=op_name, optional=optional, raw=raw)
                    if err is exc:
                        raise
                    raise err from exc

        guard, presented = self.http.guard, self.http.guard.presented
        try:
            result = await with_retries(attempt, attempts=self.attempts, idempotent=idempotent)
        except PreAuthRefused:
            raise
        except AuthFailed as exc:
            if authenticated:
                wsse = self.auth_scheme == "wsse" and not isinstance(exc, Withheld)
                if wsse and "UsernameToken" not in exc.message:
                    # Say what was sent: the refusal of a token is not the refusal of a digest.
                    exc.message = f"WS-UsernameToken rejected ({exc.message})"
                if guard.presented > presented:
                    # A credential went out and was refused (a token's NotAuthorized fault, a digest's 401): the
                    # guard keeps it from every API of the camera that has not accepted it.
                    guard.refuse(DEVICE_SPACE, exc)
                # Never retry bad credentials: cameras lock accounts after 5-7 failures (DESIGN §4).
                self.remember_auth(exc)
            raise
        if authenticated and self.auth_scheme == "wsse" and guard.presented > presented:
            guard.accept(DEVICE_SPACE)  # a token is accepted by an answer that is not a refusal
        return result

    def _remembered(self, op_name: str) -> AuthFailed | None:
        """Why an authenticated call is not made (None: it may be): the guard's words when it holds the credential
        back ("not sent: refused on <date>"); else (nothing was sent: a Basic-only camera) the session's own."""
        earlier = self.http.guard.denial(DEVICE_SPACE, host=self.host, operation=op_name)
        if earlier is None or isinstance(earlier, Withheld):
            return earlier
        return _remembered(earlier, op_name)

    async def _read(
        self, op_name: str, params: dict[str, Any], *, authenticated: bool, optional: bool
    ) -> Any:
        """One read on the zeep-free path (agent.onvif_read): the same request bytes, status mapping, strict
        parse and fault conversion as the zeep path, and the same value out, without zeep's per-call work."""
        path = await onvif_read.read_path()
        security = b""
        wsse = authenticated and self.auth_scheme == "wsse" and self.credentials is not None
        if wsse:
            assert self.credentials is not None
            security = onvif_read.username_token(self.credentials, self.clock_offset_s or 0.0)
        data = onvif_read.envelope(op_name, params, security)
        async with self._lock:
            try:
                async with asyncio.timeout(self._call_budget()):
                    reply = await self.http.exchange("POST", self.device_xaddr, data=data,
                                                     headers=onvif_read.http_headers(op_name), timeout=self.timeout,
                                                     authenticate=authenticated, credential_in_body=wsse,
                                                     operation=op_name)  # fmt: skip
                    root = check_reply(
                        self.http, reply, operation=op_name, authenticate=authenticated, wsse=wsse
                    )
            except CameraError:
                raise
            except Exception as exc:  # CancelledError is a BaseException and passes through untouched
                raise convert(exc, host=self.host, operation=op_name, optional=optional) from exc
            return path.interpret(op_name, reply, root, host=self.host, optional=optional)

    def _call_budget(self) -> float:
        # Inner HTTP timeout is per exchange; this outer bound also covers digest legs, a stale-nonce round
        # and zeep parsing, so a call can never hang even if a reply trickles in.
        return self.timeout * 3 + 1.0

    # ---- capabilities ------------------------------------------------------------------------
    async def capabilities(self) -> OnvifCapabilities:
        """GetServices (+ GetServiceCapabilities) once per session; XAddrs rebased onto the reached host."""
        if self._caps is not None and self._caps.services:
            return self._caps
        caps = self._caps or OnvifCapabilities()
        self._caps = caps
        try:
            services = await self.call("GetServices", IncludeCapability=False)
        except Unsupported:
            services = []
        for svc in services or []:
            ns = getattr(svc, "Namespace", None)
            if ns:
                caps.services[str(ns)] = rebase_xaddr(getattr(svc, "XAddr", None), self.http.base_url)
        caps.services.setdefault(DEVICE_NS, self.device_xaddr)
        if not caps.flags:
            with contextlib.suppress(Unsupported):
                self._remember_caps(await self.call("GetServiceCapabilities", optional=True))
        return caps

    async def capability_flags(self) -> OnvifCapabilities:
        """GetServiceCapabilities' flags without GetServices: learnt before login by connect() on most cameras
        (then no request at all), else one authenticated call. capabilities() still adds the services later."""
        if self._caps is not None and self._caps.flags:
            return self._caps
        caps = self._caps or OnvifCapabilities()
        self._caps = caps
        with contextlib.suppress(Unsupported):
            self._remember_caps(await self.call("GetServiceCapabilities", optional=True))
        return caps

    def _remember_caps(self, caps: Any) -> None:
        target = self._caps or OnvifCapabilities()
        self._caps = target
        for group in ("Network", "Security", "System", "Misc"):
            for key, value in _attrs(getattr(caps, group, None)).items():
                target.flags[f"{group}.{key}"] = value


# ---- helpers -------------------------------------------------------------------------------------
_WRITE_PREFIXES = ("Set", "Add", "Remove", "Create", "Delete")


def _write_with_empty_body(op_name: str, reply: HttpReply | None) -> bool:
    """200 with no content, or a well-formed SOAP envelope whose Body holds nothing, in answer to a write (the
    engine reads every write back, so a write that did not take is still caught)."""
    if reply is None or reply.status != 200 or not op_name.startswith(_WRITE_PREFIXES):
        return False
    if not reply.body.strip():
        return True
    try:
        root = etree.fromstring(reply.body, SOAP_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return False
    body = next((c for c in root if isinstance(c.tag, str) and etree.QName(c).localname == "Body"), None)
    return body is not None and not any(isinstance(c.tag, str) for c in body)


def _remembered(first: AuthFailed, op_name: str) -> AuthFailed:
    cls = LockedOut if isinstance(first, LockedOut) else AuthFailed
    return cls(
        "authentication failed earlier; not contacting the camera until its credentials change",
        host=first.host,
        operation=op_name,
    )


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


def _attrs(obj: Any) -> dict[str, Any]:
    """Attributes of a zeep complex value as a plain dict (zeep is lenient: anything may be missing)."""
    if obj is None:
        return {}
    out: dict[str, Any] = {}
    try:
        keys = list(obj)
    except TypeError:
        return {}
    for key in keys:
        if key.startswith("_"):
            continue
        try:
            out[key] = obj[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            continue
    return out


def _utc_from_reply(reply: Any) -> dt.datetime | None:
    """Camera UTC from GetSystemDateAndTime; None when a field is missing or nonsense (zeep gives None)."""
    try:
        utc = reply.UTCDateTime
        d, t = utc.Date, utc.Time
        return dt.datetime(
            int(d.Year), int(d.Month), int(d.Day), int(t.Hour), int(t.Minute), int(t.Second), tzinfo=dt.UTC
        )
    except (AttributeError, TypeError, ValueError):
        return None
