"""Sweep of configured address ranges: TCP connect, then a pre-auth GetSystemDateAndTime to spot ONVIF devices."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

# lxml ships no stubs in this venv; the second code keeps mypy quiet if lxml-stubs appear later.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.targets import DEFAULT_MAX_ADDRESSES, RangeAllowList, RangeError, resolve_ranges
from agent.xmlsafe import SAFE_PARSER

log = logging.getLogger(__name__)

# No configuration may push a single sweep past this; DEFAULT_MAX_ADDRESSES is the everyday limit.
HARD_MAX_ADDRESSES = 65_536
DEFAULT_PORTS: tuple[int, ...] = (80,)
# Cameras serve ONVIF over TLS on 443 with self-signed certificates (VENDORS.md §1).
DEFAULT_TLS_PORTS: frozenset[int] = frozenset({443})
DEFAULT_CONCURRENCY = 64
DEFAULT_CONNECT_TIMEOUT_S = 1.0
DEFAULT_HTTP_TIMEOUT_S = 3.0
# A GetSystemDateAndTime reply is about 1 KiB; read no more than this of whatever answers.
MAX_BODY_BYTES = 64 * 1024
DEVICE_SERVICE_PATH = "/onvif/device_service"

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_TT = "http://www.onvif.org/ver10/schema"
GET_SYSTEM_DATE_AND_TIME = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<s:Envelope xmlns:s="{NS_SOAP12}"><s:Body>'
    f'<GetSystemDateAndTime xmlns="{NS_TDS}"/>'
    "</s:Body></s:Envelope>"
).encode()
_HEADERS = {
    "Content-Type": f'application/soap+xml; charset=utf-8; action="{NS_TDS}/GetSystemDateAndTime"',
    "Accept": "application/soap+xml, text/xml",
}
_PARSER = SAFE_PARSER


class SweepError(Exception):
    """The sweep was refused before any traffic (range not allowed, too large, bad arguments)."""


class Kind(enum.StrEnum):
    ONVIF = "onvif"  # answered the device service like an ONVIF device
    OPEN = "open"  # something listens, but it is not (recognisably) ONVIF
    UNREACHABLE = "unreachable"  # refused, timed out or no route


@dataclass(frozen=True)
class PortResult:
    port: int
    kind: Kind
    detail: str
    http_status: int | None = None
    # False when the device service demanded HTTP authentication even for the PRE_AUTH call: many cameras
    # do (DESIGN §4), but so would any password-protected web server, so it is a likely, not a sure, ONVIF.
    confirmed: bool = False
    # Camera clock minus ours, from GetSystemDateAndTime, else from the HTTP Date header (DESIGN §4).
    clock_offset_s: float | None = None


@dataclass(frozen=True)
class SweepResult:
    address: str
    ports: tuple[PortResult, ...]

    @property
    def kind(self) -> Kind:
        kinds = {p.kind for p in self.ports}
        for k in (Kind.ONVIF, Kind.OPEN):
            if k in kinds:
                return k
        return Kind.UNREACHABLE

    @property
    def onvif_ports(self) -> tuple[int, ...]:
        return tuple(p.port for p in self.ports if p.kind is Kind.ONVIF)


def soap_envelope(body: bytes) -> etree._Element | None:
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.LxmlError, ValueError):
        return None
    if root.getroottree().docinfo.doctype:
        return None
    if root.tag not in (f"{{{NS_SOAP12}}}Envelope", f"{{{NS_SOAP11}}}Envelope"):
        return None
    return root


def utc_datetime(reply: etree._Element) -> datetime | None:
    """UTCDateTime of a GetSystemDateAndTimeResponse, or None when missing or invalid."""
    utc = reply.find(f".//{{{NS_TT}}}UTCDateTime")
    if utc is None:
        return None

    def num(parent: str, name: str) -> int:
        return int((utc.findtext(f"{{{NS_TT}}}{parent}/{{{NS_TT}}}{name}") or "").strip())

    try:
        return datetime(
            num("Date", "Year"),
            num("Date", "Month"),
            num("Date", "Day"),
            num("Time", "Hour"),
            num("Time", "Minute"),
            min(num("Time", "Second"), 59),  # a leap second is still the same minute
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _date_header(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _fault_code(fault: etree._Element, env: str) -> str:
    """The most specific fault code: the innermost SOAP 1.2 Subcode (ter:NotAuthorized), or faultcode."""
    if env == NS_SOAP11:
        return (fault.findtext("faultcode") or "fault").strip()
    value = "fault"
    code = fault.find(f"{{{env}}}Code")
    while code is not None:
        value = (code.findtext(f"{{{env}}}Value") or value).strip()
        code = code.find(f"{{{env}}}Subcode")
    return value


def classify(status: int, body: bytes, date_header: str | None, sent_at: float) -> PortResult:
    """Classify one HTTP answer from the device service path (port filled in by the caller)."""
    header_time = _date_header(date_header)
    header_offset = header_time.timestamp() - sent_at if header_time is not None else None
    root = soap_envelope(body) if body else None
    if root is not None:
        env = etree.QName(root).namespace
        response = root.find(f"{{{env}}}Body/{{{NS_TDS}}}GetSystemDateAndTimeResponse")
        if response is not None:
            cam_time = utc_datetime(response)
            offset = cam_time.timestamp() - sent_at if cam_time is not None else header_offset
            return PortResult(0, Kind.ONVIF, "GetSystemDateAndTime answered", status, True, offset)
        fault = root.find(f"{{{env}}}Body/{{{env}}}Fault")
        if fault is not None:
            # e.g. ter:NotAuthorized from firmware that does not honour PRE_AUTH: still an ONVIF stack.
            code = _fault_code(fault, env)
            return PortResult(0, Kind.ONVIF, f"SOAP fault {code[:80]}", status, True, header_offset)
        return PortResult(0, Kind.OPEN, f"HTTP {status}: SOAP reply that is not ONVIF", status)
    if status == 401:
        return PortResult(
            0,
            Kind.ONVIF,
            "HTTP 401 on the device service: likely ONVIF behind HTTP authentication",
            status,
            False,
            header_offset,
        )
    return PortResult(0, Kind.OPEN, f"HTTP {status}: not an ONVIF reply", status)


def _url(address: str, port: int, tls: bool) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{'https' if tls else 'http'}://{host}:{port}{DEVICE_SERVICE_PATH}"


def _insecure_tls() -> ssl.SSLContext:
    # Cameras ship self-signed certificates. This is a pre-auth classification probe that carries no
    # credentials, so not verifying the peer cannot leak anything; authenticated sessions verify (agent/http).
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    buf = bytearray()
    while len(buf) < MAX_BODY_BYTES:
        chunk = await resp.content.read(MAX_BODY_BYTES - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


class _Sweeper:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        tls_ports: frozenset[int],
        connect_timeout_s: float,
        http_timeout_s: float,
    ) -> None:
        self.session = session
        self.tls_ports = tls_ports
        self.connect_timeout_s = connect_timeout_s
        self.http_timeout_s = http_timeout_s
        self.tls = _insecure_tls()

    async def port(self, address: str, port: int) -> PortResult:
        reason = await self._connect(address, port)
        if reason is not None:
            return PortResult(port, Kind.UNREACHABLE, reason)
        result = await self._get_time(address, port)
        return PortResult(
            port, result.kind, result.detail, result.http_status, result.confirmed, result.clock_offset_s
        )

    async def _connect(self, address: str, port: int) -> str | None:
        """None when a TCP connection opens, else why not."""
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port), timeout=self.connect_timeout_s
            )
        except TimeoutError:
            return f"connect timed out after {self.connect_timeout_s:g}s"
        except ConnectionRefusedError:
            return "connection refused"
        except OSError as exc:
            return f"connect failed: {exc.strerror or exc}"
        writer.close()
        # The peer's half of the close does not matter; the port is open.
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(writer.wait_closed(), timeout=self.connect_timeout_s)
        return None

    async def _get_time(self, address: str, port: int) -> PortResult:
        tls = port in self.tls_ports
        sent_at = time.time()
        try:
            async with self.session.post(
                _url(address, port, tls),
                data=GET_SYSTEM_DATE_AND_TIME,
                headers=_HEADERS,
                ssl=self.tls if tls else True,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.http_timeout_s),
            ) as resp:
                body = await _read_capped(resp)
                # Midpoint of the exchange: the camera read its clock somewhere in between.
                sent_at = (sent_at + time.time()) / 2
                return classify(resp.status, body, resp.headers.get("Date"), sent_at)
        except TimeoutError:
            return PortResult(port, Kind.OPEN, f"port open, no HTTP answer within {self.http_timeout_s:g}s")
        except aiohttp.ClientConnectorError as exc:
            return PortResult(port, Kind.UNREACHABLE, f"connect failed: {exc.os_error.strerror or exc}")
        except aiohttp.ClientError as exc:
            # Not HTTP (RTSP, SSH, a banner) or a connection dropped mid-reply.
            return PortResult(port, Kind.OPEN, f"port open, not HTTP: {type(exc).__name__}")


async def sweep(
    ranges: Sequence[str],
    *,
    allow: RangeAllowList,
    ports: Sequence[int] = DEFAULT_PORTS,
    max_addresses: int = DEFAULT_MAX_ADDRESSES,
    concurrency: int = DEFAULT_CONCURRENCY,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
    tls_ports: Iterable[int] = DEFAULT_TLS_PORTS,
    on_result: Callable[[SweepResult], None] | None = None,
) -> list[SweepResult]:
    """Sweep `ranges` (each must lie inside a configured range in `allow`) on `ports`.

    Every address gets a TCP connect per port; open ports get a plain, unauthenticated SOAP
    GetSystemDateAndTime POST to /onvif/device_service. At most `concurrency` probes run at once.
    Results come back in address order; `on_result` is called as each address completes (progress bars).
    """
    if not 1 <= max_addresses <= HARD_MAX_ADDRESSES:
        raise SweepError(f"max_addresses must be 1-{HARD_MAX_ADDRESSES}")
    if not ports or any(not 1 <= p <= 65535 for p in ports):
        raise SweepError("ports must be 1-65535")
    if concurrency < 1 or connect_timeout_s <= 0 or http_timeout_s <= 0:
        raise SweepError("concurrency and timeouts must be positive")
    try:
        addresses = resolve_ranges(ranges, allow, max_addresses=max_addresses)
    except RangeError as exc:
        raise SweepError(str(exc)) from exc
    port_list = list(dict.fromkeys(ports))
    log.info("sweep: %d addresses x %d ports, concurrency %d", len(addresses), len(port_list), concurrency)

    results: dict[str, dict[int, PortResult]] = {a: {} for a in addresses}
    work: Iterator[tuple[str, int]] = iter([(a, p) for a in addresses for p in port_list])
    # force_close: one short exchange per port; keeping sockets alive would only hold camera connection slots.
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        sweeper = _Sweeper(session, frozenset(tls_ports), connect_timeout_s, http_timeout_s)

        async def worker() -> None:
            # A fixed pool of workers pulling from one iterator bounds concurrency and memory alike.
            for address, port in work:
                results[address][port] = await sweeper.port(address, port)
                if on_result is not None and len(results[address]) == len(port_list):
                    on_result(_result(address, results[address], port_list))

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(addresses) * len(port_list)))))
    out = [_result(a, results[a], port_list) for a in addresses]
    log.info(
        "sweep: %d onvif, %d open, %d unreachable",
        sum(r.kind is Kind.ONVIF for r in out),
        sum(r.kind is Kind.OPEN for r in out),
        sum(r.kind is Kind.UNREACHABLE for r in out),
    )
    return out


def _result(address: str, by_port: dict[int, PortResult], ports: list[int]) -> SweepResult:
    return SweepResult(address, tuple(by_port[p] for p in ports))
