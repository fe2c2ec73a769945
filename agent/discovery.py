"""WS-Discovery Probe client: finds ONVIF devices by unicast and by multicast on one chosen interface."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

# lxml ships no stubs in this venv; the second code keeps mypy quiet if lxml-stubs appear later.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from agent.xmlsafe import SAFE_PARSER

log = logging.getLogger(__name__)

# WS-Discovery (April 2005) as ONVIF Core uses it; VENDORS.md §2.
MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
ACTION_PROBE = f"{NS_WSD}/Probe"
ACTION_PROBE_MATCHES = f"{NS_WSD}/ProbeMatches"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"

# Two probes, because a Probe's Types must ALL match: old firmware only knows the legacy
# dn:NetworkVideoTransmitter, ONVIF Core since 2.x requires tds:Device (VENDORS.md §2).
PROBE_TYPES: tuple[tuple[str, str, str], ...] = (
    ("dn", NS_DN, "NetworkVideoTransmitter"),
    ("tds", NS_TDS, "Device"),
)
# SOAP-over-UDP: a ProbeMatches with many XAddrs/scopes is a few KiB; a datagram cannot exceed 64 KiB.
MAX_REPLY_BYTES = 65507
# Bounds memory when a hostile network floods us with distinct endpoints.
DEFAULT_MAX_DEVICES = 10_000
# SOAP-over-UDP (2004) UNICAST_UDP_REPEAT / MULTICAST_UDP_REPEAT: send each probe once more, a bit later.
DEFAULT_REPEATS = 1
_REPEAT_GAP_S = 0.05
# Datagrams waiting to be parsed; more than this and new ones are dropped (counted as ignored).
_MAX_QUEUED = 4096
RECEIVE_BUFFER = 4 * 1024 * 1024

_PARSER = SAFE_PARSER


class DiscoveryError(Exception):
    """The probe could not be sent at all (bad address, socket cannot be opened)."""


@dataclass(frozen=True)
class DiscoveredDevice:
    """One device that answered. XAddrs are as advertised: cameras behind NAT or with a stale config
    advertise addresses that are not where they answered from, so the camera layer rebases them onto
    `source_address`."""

    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]
    types: tuple[str, ...]  # Clark notation "{namespace}local" when the prefix resolves, else as sent
    source_address: str
    metadata_version: int | None = None


@dataclass
class ProbeStats:
    sent: int = 0
    received: int = 0
    ignored: int = 0  # malformed, oversized, or not a reply to our probes
    matches: int = 0


@dataclass(frozen=True)
class Probe:
    message_id: str
    data: bytes = field(repr=False)


def build_probe(prefix: str, namespace: str, local: str, message_id: str | None = None) -> Probe:
    """A SOAP 1.2 WS-Discovery Probe for one type (what python-WSDiscovery and ONVIF Device Manager send)."""
    mid = message_id or f"urn:uuid:{uuid.uuid4()}"
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}" xmlns:{prefix}="{namespace}">'
        "<s:Header>"
        f'<a:Action s:mustUnderstand="1">{ACTION_PROBE}</a:Action>'
        f"<a:MessageID>{escape(mid)}</a:MessageID>"
        f'<a:To s:mustUnderstand="1">{DISCOVERY_TO}</a:To>'
        "</s:Header>"
        f"<s:Body><d:Probe><d:Types>{prefix}:{local}</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    )
    return Probe(mid, text.encode("utf-8"))


def _qnames(el: etree._Element | None) -> tuple[str, ...]:
    if el is None:
        return ()
    out = []
    for qname in (el.text or "").split():
        prefix, _, local = qname.rpartition(":")
        ns = el.nsmap.get(prefix or None)
        out.append(f"{{{ns}}}{local}" if ns else qname)
    return tuple(out)


def parse_probe_matches(
    data: bytes, message_ids: set[str] | frozenset[str], source: str
) -> list[DiscoveredDevice]:
    """Devices in one ProbeMatches datagram; [] for anything malformed or not a reply to `message_ids`.

    The parser never resolves entities, loads DTDs or touches the network; documents with a DOCTYPE are
    refused outright (a camera has no reason to send one, an attacker on the LAN does).
    """
    if not data or len(data) > MAX_REPLY_BYTES:
        return []
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.LxmlError, ValueError):
        return []
    if root.getroottree().docinfo.doctype:
        return []
    if root.tag not in (f"{{{NS_SOAP12}}}Envelope", f"{{{NS_SOAP11}}}Envelope"):
        return []
    env = etree.QName(root).namespace
    relates_to = (root.findtext(f"{{{env}}}Header/{{{NS_WSA}}}RelatesTo") or "").strip()
    if relates_to not in message_ids:
        return []
    action = root.findtext(f"{{{env}}}Header/{{{NS_WSA}}}Action")
    if action is not None and action.strip() != ACTION_PROBE_MATCHES:
        return []
    devices = []
    for match in root.iterfind(f"{{{env}}}Body/{{{NS_WSD}}}ProbeMatches/{{{NS_WSD}}}ProbeMatch"):
        endpoint = (match.findtext(f"{{{NS_WSA}}}EndpointReference/{{{NS_WSA}}}Address") or "").strip()
        if not endpoint:
            continue  # WS-Discovery requires the endpoint reference; without it nothing identifies the device
        version_text = (match.findtext(f"{{{NS_WSD}}}MetadataVersion") or "").strip()
        devices.append(
            DiscoveredDevice(
                endpoint=endpoint,
                xaddrs=tuple((match.findtext(f"{{{NS_WSD}}}XAddrs") or "").split()),
                scopes=tuple((match.findtext(f"{{{NS_WSD}}}Scopes") or "").split()),
                types=_qnames(match.find(f"{{{NS_WSD}}}Types")),
                source_address=source,
                metadata_version=int(version_text) if version_text.isdigit() else None,
            )
        )
    return devices


def _merge(old: DiscoveredDevice, new: DiscoveredDevice) -> DiscoveredDevice:
    """Same endpoint seen twice (both probes, or a repeat): keep the first source, union the rest."""

    def union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a + b))

    return DiscoveredDevice(
        endpoint=old.endpoint,
        xaddrs=union(old.xaddrs, new.xaddrs),
        scopes=union(old.scopes, new.scopes),
        types=union(old.types, new.types),
        source_address=old.source_address,
        metadata_version=max(
            (v for v in (old.metadata_version, new.metadata_version) if v is not None), default=None
        ),
    )


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # A flood (hostile or a storm of retransmissions) must not grow memory without bound.
        if self.queue.qsize() < _MAX_QUEUED:
            self.queue.put_nowait((data, str(addr[0])))
        else:
            self.dropped += 1

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a unicast address with nothing on 3702: that host is simply absent.
        log.debug("discovery: %s", exc)


def _ipv4(text: str, what: str) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise DiscoveryError(f"{what} {text!r} is not an IP address") from None
    if addr.version != 4:
        raise DiscoveryError(f"{what} {text!r}: only IPv4 WS-Discovery is supported")
    return str(addr)


def _open_socket(bind_address: str, multicast_interface: str | None, ttl: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((bind_address, 0))
        # A thousand cameras answer a multicast Probe within APP_MAX_DELAY; the default receive buffer (~200 KiB)
        # overflows while the loop is busy and replies are silently lost. Ask for more (capped by rmem_max).
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if multicast_interface is not None:
            # Leave through the chosen interface only: on a multi-homed agent the kernel's default route
            # would otherwise pick the interface, i.e. probe the wrong VLAN.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(multicast_interface))
            # TTL 1 (default) keeps the probe on the local link as WS-Discovery intends; 0 keeps it on the host.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    except OSError as exc:
        sock.close()
        raise DiscoveryError(f"cannot open a discovery socket on {bind_address}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


async def probe(
    unicast: Sequence[str] = (),
    *,
    multicast_interface: str | None = None,
    ttl: int = 1,
    bind_address: str | None = None,
    port: int = DISCOVERY_PORT,
    group: str = MULTICAST_GROUP,
    window_s: float = 3.0,
    repeats: int = DEFAULT_REPEATS,
    max_devices: int = DEFAULT_MAX_DEVICES,
    stats: ProbeStats | None = None,
) -> list[DiscoveredDevice]:
    """Probe `unicast` addresses and/or the multicast group on `multicast_interface`.

    Replies are collected for `window_s` seconds; a unicast-only probe returns as soon as every address
    answered. Returns devices deduplicated by endpoint, in order of first reply. Replies that are malformed or do not
    relate to one of our MessageIDs are ignored (counted in `stats`). The socket binds to `bind_address`
    (default: the multicast interface address, else 0.0.0.0) so replies come back to this socket only.
    """
    targets = [_ipv4(a, "unicast address") for a in unicast]
    iface = _ipv4(multicast_interface, "multicast interface") if multicast_interface is not None else None
    if iface is None and not targets:
        raise DiscoveryError("nothing to probe: give unicast addresses and/or a multicast interface")
    if not 0 <= ttl <= 255:
        raise DiscoveryError("multicast TTL must be 0-255")
    if window_s <= 0:
        raise DiscoveryError("window_s must be positive")
    bind = _ipv4(bind_address, "bind address") if bind_address is not None else (iface or "0.0.0.0")
    destinations = [(a, port) for a in targets]
    if iface is not None:
        destinations.append((_ipv4(group, "multicast group"), port))
    stats = stats if stats is not None else ProbeStats()

    probes = [build_probe(prefix, ns, local) for prefix, ns, local in PROBE_TYPES]
    ids = frozenset(p.message_id for p in probes)
    loop = asyncio.get_running_loop()
    sock = _open_socket(bind, iface, ttl)
    try:
        transport, proto = await asyncio.wait_for(
            loop.create_datagram_endpoint(_Collector, sock=sock), timeout=window_s
        )
    except (OSError, TimeoutError) as exc:
        sock.close()
        raise DiscoveryError(f"cannot open a discovery socket on {bind}: {exc}") from exc
    found: dict[str, DiscoveredDevice] = {}
    deadline = time.monotonic() + window_s
    pending = set(targets)

    def send_all() -> None:
        for p in probes:
            for dest in destinations:
                try:
                    transport.sendto(p.data, dest)
                    stats.sent += 1
                except OSError as exc:
                    log.debug("discovery: send to %s failed: %s", dest[0], exc)

    try:
        send_all()
        resend = [loop.call_later(_REPEAT_GAP_S * (i + 1), send_all) for i in range(max(0, repeats))]
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    data, source = await asyncio.wait_for(proto.queue.get(), timeout=left)
                except TimeoutError:
                    break
                stats.received += 1
                devices = parse_probe_matches(data, ids, source)
                if not devices:
                    stats.ignored += 1
                    continue
                pending.discard(source)
                for dev in devices:
                    stats.matches += 1
                    if dev.endpoint in found:
                        found[dev.endpoint] = _merge(found[dev.endpoint], dev)
                    elif len(found) < max_devices:
                        found[dev.endpoint] = dev
                if iface is None and not pending:
                    break  # every unicast address answered; nothing else can arrive
        finally:
            for handle in resend:
                handle.cancel()
    finally:
        transport.close()
    stats.ignored += proto.dropped
    log.info(
        "discovery: %d devices (%d datagrams, %d ignored) from %d destinations",
        len(found),
        stats.received,
        stats.ignored,
        len(destinations),
    )
    return list(found.values())
