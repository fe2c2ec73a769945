"""One camera as the actions see it: its ONVIF session, its HTTP, the vendor APIs that answered, reachability."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from agent.actions import engine
from agent.actions.onvif_settings import field as zfield
from agent.actions.onvif_settings import items, text
from agent.attribution import Observation, VendorLookup
from agent.drivers import DRIVERS, value_from_json, value_to_json
from agent.errors import AuthFailed, CameraError, Unreachable, Unsupported
from agent.http import CameraHttp, HttpReply
from agent.onvif_session import DEVICE_SPACE, OnvifSession
from agent.onvif_xaddr import DEVICE_PATH
from agent.vendor_probe import VendorProbes, api_space, probe_vendors

_DATE_ENVELOPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
    b' xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
    b"<s:Body><tds:GetSystemDateAndTime/></s:Body></s:Envelope>"
)
_SOAP = {"Content-Type": 'application/soap+xml; charset="utf-8"'}
PROBE_TIMEOUT_S = 3.0


@dataclass
class CameraConn:
    """Per-camera handle (one session per camera, DESIGN §4). `probes` is None until the vendor APIs were probed.

    A vendor API that turned the credential away is not sent it again (cameras count failed logins) until the
    operator changes the credentials: the camera's AuthGuard remembers it (`vendor_denial`, `deny_vendor`), with
    the ONVIF failure and every other refusal, so the session, the probes and the settings read one memory.
    """

    camera_id: str
    host: str
    port: int
    session: OnvifSession
    probes: VendorProbes | None = None
    second_source: str | None = None  # a second local address to prove isolation from
    notes: list[str] = field(default_factory=list)
    oui: VendorLookup | None = None
    evidence: Observation | None = None  # what ONVIF said about the maker, once read

    @property
    def drivers(self) -> list[str] | None:
        """Vendor APIs found on the camera (None until probed)."""
        return None if self.probes is None else self.probes.present

    @property
    def http(self) -> CameraHttp:
        return self.session.http

    @property
    def vendor_http(self) -> VendorHttp:
        """What the vendor drivers get (timeouts capped at this camera's)."""
        return VendorHttp(self.session.http)

    async def vendor_drivers(self) -> list[str]:
        """Vendor APIs found on the camera (probed once per session, on evidence, see agent.vendor_probe)."""
        return (await self.vendor_probes()).present

    async def vendor_probes(self) -> VendorProbes:
        """Probe the vendor APIs the evidence points at (ONVIF identity read first when not known yet)."""
        if self.probes is not None and self.evidence is not None and not self.probes.current(self.evidence):
            # Kept from an earlier round, but the camera's identity changed (a firmware update, another device
            # at the address) or they are older than PROBES_FOR_S: ask again. A refusal stays refused
            # (agent.auth_guard), so no credential is sent anew.
            self.probes = None
        if self.probes is None:
            obs = self.evidence or await self.read_evidence()
            self.probes = await probe_vendors(self.http, obs, self.oui)
        return self.probes

    def vendor_denial(self, api: str, *, operation: str = "") -> AuthFailed | None:
        """Why the vendor API `api` is not asked with the credential (None: it may be), agent.auth_guard.denial."""
        return self.http.guard.denial(api_space(api), host=self.host, operation=operation or f"{api} API")

    def deny_vendor(self, api: str, exc: AuthFailed) -> None:
        """The vendor API `api` turned the credential away: it is not asked with it again until it changes. Per
        API: an ISAPI that refuses the ONVIF account (Hikvision keeps ONVIF users in a separate list) does not
        stop the ONVIF work that account is for, unless the camera counted it as a failed login (the guard then
        holds the credential back from every API that has not accepted it)."""
        self.http.guard.deny(api_space(api), exc)

    async def read_evidence(self) -> Observation:
        """The ONVIF facts that bear on the maker (identity, scopes, MACs, banner, namespaces), read for an
        action that runs without an inventory first. Auth/unreachable propagate; other failures just mean
        less evidence."""
        s = self.session

        async def get(op: str) -> object:
            try:
                return await s.call(op, optional=True)
            except (AuthFailed, Unreachable):
                raise
            except CameraError:
                return None

        info = await get("GetDeviceInformation")
        scopes = [text(zfield(x, "ScopeItem")) for x in items(await get("GetScopes"))]
        macs = [
            text(zfield(zfield(i, "Info"), "HwAddress")) for i in items(await get("GetNetworkInterfaces"))
        ]
        banner = s.http.banner
        self.evidence = Observation(
            onvif_manufacturer=text(zfield(info, "Manufacturer")) or None,
            onvif_model=text(zfield(info, "Model")) or None,
            onvif_firmware=text(zfield(info, "FirmwareVersion")) or None,
            onvif_serial=text(zfield(info, "SerialNumber")) or None,
            onvif_hardware_id=text(zfield(info, "HardwareId")) or None,
            scopes=tuple(x for x in scopes if x),
            macs=tuple(m for m in macs if m),
            http_server=banner.server,
            digest_realm=banner.realm,
            soap_namespaces=frozenset(banner.namespaces),
        )
        return self.evidence

    def check_auth(self) -> None:
        """Refuse to contact a camera whose credentials already failed (cameras lock after 5-7 failures;
        a digest client even spends two failed attempts per request once it holds a stale nonce)."""
        self.http.guard.admit(DEVICE_SPACE, host=self.host, operation="login")  # "not sent: ..."
        failed = self.session.auth_failed
        if failed is not None:
            raise type(failed)(
                "authentication failed earlier; not contacting the camera until its credentials change",
                host=self.host,
                operation=failed.operation,
            )

    def remember_auth(self, exc: AuthFailed) -> None:
        """An ONVIF auth failure counts for the whole camera (one login, one credential)."""
        self.session.remember_auth(exc)

    def own_address(self) -> str:
        """The local source address the agent reaches this camera from (what the camera's filter sees): the
        configured one, else the one the kernel picks."""
        if self.http.pool.source:
            return self.http.pool.source
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((self.host, self.port))  # UDP connect sends nothing; it only picks the route
            return str(s.getsockname()[0])

    async def reachable(self) -> bool:
        """Pre-auth GetSystemDateAndTime answered with 200 from our own address (no login, no lockout risk)."""
        return (await self._date_probe()).status == 200

    async def answers(self) -> bool:
        """Does the camera still answer the agent at all (commit-confirm)? Any HTTP reply but a refusal counts:
        a camera that wants credentials even for GetSystemDateAndTime (ipycam) answers 400/401, and that is an
        answer; an IP filter that excludes us refuses (403) or drops the connection (raised: Unreachable)."""
        return (await self._date_probe()).status != 403

    async def _date_probe(self) -> HttpReply:
        return await self.http.exchange(
            "POST",
            DEVICE_PATH,
            data=_DATE_ENVELOPE,
            headers=_SOAP,
            authenticate=False,
            timeout=PROBE_TIMEOUT_S,
            operation="reachability",
        )


async def probe_from(source: str, host: str, port: int, *, limit_s: float = PROBE_TIMEOUT_S) -> str:
    """Try the camera from another local address: 'refused', 'answered' or 'unreachable' (proof of isolation).

    A filtered camera refuses the client outright (403 or a closed connection); a plain socket is used so
    the probe never shares the agent's connection pool or credentials.
    """
    request = (
        f"POST {DEVICE_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/soap+xml\r\n"
        f"Content-Length: {len(_DATE_ENVELOPE)}\r\nConnection: close\r\n\r\n"
    ).encode() + _DATE_ENVELOPE
    writer = None
    try:
        async with asyncio.timeout(limit_s):
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
    except (ConnectionError, OSError):
        return "refused"
    except TimeoutError:
        return "unreachable"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    parts = status_line.split()
    if len(parts) >= 2 and parts[1] == b"200":
        return "answered"
    return "refused"


class VendorHttp:
    """CameraHttp as the vendor drivers get it: their fixed per-request timeout is capped at the camera's own
    (a hung camera must cost the configured timeout, not the drivers' 10 s), and with `write_once` a write is
    never re-sent after it may have reached the camera (Dahua's setConfig is a GET, which CameraHttp would
    otherwise retry after a lost reply: a duplicate write)."""

    def __init__(self, http: CameraHttp, *, write_once: bool = False) -> None:
        self._http = http
        self._write_once = write_once

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- the CameraHttpLike signature
    ) -> HttpReply:
        limit = self._http.timeout if timeout is None else min(timeout, self._http.timeout)
        # Reads inside write_setting (the GET-before-PUT) stay retryable; only the write itself is send-once.
        writes = method.upper() != "GET" or (params or {}).get("action") == "setConfig"
        idempotent = None if not self._write_once else not writes
        return await self._http.request(
            method, path, params=params, data=data, headers=headers, timeout=limit, idempotent=idempotent
        )


def vendor_setting(
    conn: CameraConn,
    driver_name: str,
    name: str,
    want: Callable[[engine.Json], engine.Json],
    confirm: Callable[[], Awaitable[bool]] | None = None,
) -> engine.Setting:
    """A vendor-driver setting as an engine Setting named '<driver>.<name>' with JSON values."""
    driver = DRIVERS[driver_name]
    op = f"{driver_name}.{name}"

    def refused() -> None:
        earlier = conn.vendor_denial(driver_name, operation=op)
        if earlier is not None:
            # One refused login per API and credential: the next setting of this API is not even asked.
            raise AuthFailed(f"{driver_name} API refused the credential earlier ({earlier.message}); not retried",
                             host=conn.host, operation=op)  # fmt: skip

    async def read() -> engine.Json:
        refused()
        try:
            s = await driver.read_setting(conn.vendor_http, name)
        except AuthFailed as exc:
            conn.deny_vendor(driver_name, exc)
            raise
        if not s.supported or s.value is None:
            raise Unsupported(s.reason or "not supported", host=conn.host, operation=op)
        return value_to_json(s.value)

    async def write(value: engine.Json) -> None:
        refused()
        try:
            await driver.write_setting(VendorHttp(conn.http, write_once=True), name, value_from_json(value))
        except AuthFailed as exc:
            conn.deny_vendor(driver_name, exc)
            raise

    # A vendor API refusing the credential fails its own settings, not the camera (fatal_auth=False).
    return engine.Setting(op, read, write, want, confirm, fatal_auth=False)
