"""WS-Discovery responder: answers ONVIF Probes for the simulated cameras, unicast and by lo multicast."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import struct
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

# lxml ships no stubs in this venv; the second code keeps mypy quiet if lxml-stubs appear later.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim.model import Camera

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
ANONYMOUS = f"{NS_WSA}/role/anonymous"
MATCH_RFC3986 = f"{NS_WSD}/rfc3986"
MATCH_STRCMP0 = f"{NS_WSD}/strcmp0"

# What every simulated camera is: the legacy NVT type plus the tds:Device that ONVIF Core requires.
CAMERA_TYPES: frozenset[tuple[str, str]] = frozenset({(NS_DN, "NetworkVideoTransmitter"), (NS_TDS, "Device")})

# A real Probe is well under 1 KiB; SOAP-over-UDP lets a receiver drop what it will not buffer, and a bound
# keeps a hostile datagram from costing a parse.
MAX_PROBE_BYTES = 16 * 1024
# WS-Discovery APP_MAX_DELAY is 500 ms; the simulator keeps it short so scans and tests stay fast.
DEFAULT_MAX_DELAY_S = 0.2
# SOAP-over-UDP retransmits a message with the same MessageID; receivers answer it once.
_SEEN_LIMIT = 4096

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def lo_group_socket(group: str, port: int, interface: str) -> socket.socket:
    """A non-blocking UDP socket on group:port joined on `interface` (lo) only; what it sends never leaves the host."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # Several simulators (and test runs) share the group port; multicast is delivered to each of them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Binding the group address (not 0.0.0.0) keeps this socket out of the per-camera unicast ports.
        sock.bind((group, port))
        mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        # Only the membership joined here (lo), not groups other sockets joined on eth0.
        sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_MULTICAST_ALL", 49), 0)
        # Anything this socket sends (Hello/Bye, replies) stays on lo and cannot be routed: TTL 0.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class DiscoveryError(OSError):
    """The responder could not bind its sockets (an OSError, so callers treating sockets alike catch it)."""


@dataclass(frozen=True)
class Probe:
    """The parts of a WS-Discovery Probe that decide whether and how a camera answers."""

    message_id: str
    types: tuple[tuple[str | None, str], ...]  # (namespace or None when unresolvable, local name)
    scopes: tuple[str, ...]
    match_by: str = MATCH_RFC3986


def parse_probe(data: bytes) -> Probe | None:
    """Parse a Probe datagram; None for anything that is not a well-formed WS-Discovery 2005/04 Probe."""
    if len(data) > MAX_PROBE_BYTES:
        return None
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.LxmlError, ValueError):
        return None
    if root.tag not in (f"{{{NS_SOAP12}}}Envelope", f"{{{NS_SOAP11}}}Envelope"):
        return None
    env = etree.QName(root).namespace
    probe = root.find(f"{{{env}}}Body/{{{NS_WSD}}}Probe")
    if probe is None:
        return None
    action = root.findtext(f"{{{env}}}Header/{{{NS_WSA}}}Action")
    if action is not None and action.strip() != ACTION_PROBE:
        return None
    message_id = (root.findtext(f"{{{env}}}Header/{{{NS_WSA}}}MessageID") or "").strip()
    if not message_id:
        # Without a MessageID there is nothing to put in RelatesTo; the client could not correlate a reply.
        return None
    types: list[tuple[str | None, str]] = []
    types_el = probe.find(f"{{{NS_WSD}}}Types")
    if types_el is not None:
        nsmap = types_el.nsmap
        for qname in (types_el.text or "").split():
            prefix, _, local = qname.rpartition(":")
            ns = nsmap.get(prefix or None)
            types.append((ns, local))
    scopes: tuple[str, ...] = ()
    match_by = MATCH_RFC3986
    scopes_el = probe.find(f"{{{NS_WSD}}}Scopes")
    if scopes_el is not None:
        scopes = tuple((scopes_el.text or "").split())
        match_by = (scopes_el.get("MatchBy") or MATCH_RFC3986).strip()
    return Probe(message_id=message_id, types=tuple(types), scopes=scopes, match_by=match_by)


def types_match(probe_types: Iterable[tuple[str | None, str]]) -> bool:
    """WS-Discovery: every type in the Probe must be one the camera implements; no types matches all."""
    for ns, local in probe_types:
        if ns is None:
            # Unresolvable prefix (a sloppy client): real firmware compares the local name only.
            if local not in {name for _, name in CAMERA_TYPES}:
                return False
        elif (ns, local) not in CAMERA_TYPES:
            return False
    return True


def _segments(path: str) -> list[str]:
    parts = path.split("/")
    if parts and parts[0] == "":
        parts = parts[1:]
    return parts


def scope_matches_rfc3986(probe_scope: str, camera_scope: str) -> bool:
    """WS-Discovery rfc3986 rule: same scheme and authority (case-insensitive), path a segment-wise prefix."""
    try:
        s = urlsplit(probe_scope)
        t = urlsplit(camera_scope)
    except ValueError:
        return False
    if s.query or s.fragment:
        return False
    if s.scheme.lower() != t.scheme.lower() or s.netloc.lower() != t.netloc.lower():
        return False
    s_segs = _segments(s.path)
    # "onvif://www.onvif.org/location/" is meant as the prefix "location", not a segment named "".
    if s_segs and s_segs[-1] == "":
        s_segs = s_segs[:-1]
    t_segs = _segments(t.path)
    return t_segs[: len(s_segs)] == s_segs


def scopes_match(probe_scopes: Iterable[str], camera_scopes: list[str], match_by: str) -> bool:
    """Every scope in the Probe must match one of the camera's scopes under the Probe's MatchBy rule."""
    wanted = list(probe_scopes)
    if not wanted:
        return True
    if match_by == MATCH_RFC3986:
        return all(any(scope_matches_rfc3986(s, t) for t in camera_scopes) for s in wanted)
    if match_by == MATCH_STRCMP0:
        return all(s in camera_scopes for s in wanted)
    # An unsupported MatchBy would earn a MatchingRuleNotSupported fault; cameras simply stay silent.
    return False


def endpoint_uuid(camera: Camera) -> str:
    """Stable EndpointReference for a camera: random-looking head from its id, MAC as the node field.

    Real Hikvision/Axis firmware derives the endpoint uuid from the MAC (time-based uuid layout), so the
    same camera keeps the same address across reboots and factory resets.
    """
    head = uuid.uuid5(uuid.NAMESPACE_URL, f"camsim:{camera.id}").hex[:20]
    mac = "".join(c for c in camera.identity.mac.lower() if c in "0123456789abcdef")
    node = (mac + "0" * 12)[:12]
    return str(uuid.UUID(head + node))


def xaddr(camera: Camera) -> str:
    """The device service entry point; real cameras leave out the default HTTP port."""
    host = camera.network.address
    authority = host if camera.port == 80 else f"{host}:{camera.port}"
    return f"http://{authority}/onvif/device_service"


def build_probe_matches(camera: Camera, relates_to: str, message_number: int) -> bytes:
    """A ProbeMatches reply in the shape of the recorded one (fixtures/onvif_agsh_v0.8.2/Probe.xml)."""
    scopes = " ".join(camera.scopes)
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{NS_SOAP12}" xmlns:wsa="{NS_WSA}" xmlns:wsdd="{NS_WSD}"'
        f' xmlns:tds="{NS_TDS}" xmlns:dn="{NS_DN}">'
        "<SOAP-ENV:Header>"
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
        f'<wsa:ReplyTo SOAP-ENV:mustUnderstand="true"><wsa:Address>{ANONYMOUS}</wsa:Address></wsa:ReplyTo>'
        f'<wsa:To SOAP-ENV:mustUnderstand="true">{ANONYMOUS}</wsa:To>'
        f'<wsa:Action SOAP-ENV:mustUnderstand="true">{ACTION_PROBE_MATCHES}</wsa:Action>'
        f'<wsdd:AppSequence MessageNumber="{message_number}" InstanceId="{camera.boots}"></wsdd:AppSequence>'
        "</SOAP-ENV:Header>"
        "<SOAP-ENV:Body><wsdd:ProbeMatches><wsdd:ProbeMatch>"
        f"<wsa:EndpointReference><wsa:Address>urn:uuid:{endpoint_uuid(camera)}</wsa:Address>"
        "</wsa:EndpointReference>"
        "<wsdd:Types>dn:NetworkVideoTransmitter tds:Device</wsdd:Types>"
        f"<wsdd:Scopes>{escape(scopes)}</wsdd:Scopes>"
        f"<wsdd:XAddrs>{escape(xaddr(camera))}</wsdd:XAddrs>"
        "<wsdd:MetadataVersion>1</wsdd:MetadataVersion>"
        "</wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body>"
        "</SOAP-ENV:Envelope>"
    )
    return text.encode("utf-8")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host) in _LOOPBACK
    except ValueError:
        return False


class _Endpoint(asyncio.DatagramProtocol):
    """One UDP socket; hands datagrams to the responder with the address the socket is bound to."""

    def __init__(self, responder: DiscoveryResponder, local: str | None) -> None:
        self.responder = responder
        self.local = local  # None for the multicast socket
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport, so no isinstance check.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self.responder._on_datagram(self, data, (str(addr[0]), int(addr[1])))
        except Exception:  # one bad datagram must never take the responder down
            log.exception("discovery: error handling datagram from %s", addr[0])

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a prober that already left; nothing to do.
        log.debug("discovery socket %s: %s", self.local, exc)


@dataclass
class DiscoveryStats:
    probes: int = 0
    ignored: int = 0
    replies: int = 0
    per_camera: dict[str, int] = field(default_factory=dict)


class DiscoveryResponder:
    """Answers WS-Discovery Probes for a changing set of cameras.

    One UDP socket per camera address on `port` (unicast Probes, and the source of every reply, so a reply
    comes from the camera's own address as on a real LAN), plus one socket on the multicast group, joined
    on lo.
    """

    def __init__(
        self,
        cameras: Callable[[], list[Camera]],
        *,
        port: int = DISCOVERY_PORT,
        multicast: bool = True,
        multicast_group: str = MULTICAST_GROUP,
        interface: str = "127.0.0.1",
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
    ) -> None:
        self._cameras = cameras
        self.port = port
        self.multicast = multicast
        self.multicast_group = multicast_group
        self.interface = interface
        self.max_delay_s = max_delay_s
        self.stats = DiscoveryStats()
        self._unicast: dict[str, _Endpoint] = {}
        self._mcast: _Endpoint | None = None
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._msg_numbers: dict[str, int] = {}
        self._pending: set[asyncio.TimerHandle] = set()
        self._rng = random.Random()

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind one socket per camera address, then the multicast socket; DiscoveryError if a bind fails."""
        try:
            await self.refresh()
            if self.multicast:
                self._mcast = await self._open(self._multicast_socket(), None)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        endpoints = list(self._unicast.values())
        if self._mcast is not None:
            endpoints.append(self._mcast)
        self._unicast.clear()
        self._mcast = None
        for ep in endpoints:
            if ep.transport is not None:
                ep.transport.close()
        # Transport.close() releases the socket on the next loop iteration; let it, so a restart can rebind.
        await asyncio.sleep(0)

    async def refresh(self) -> None:
        """Open sockets for camera addresses that appeared and close those for addresses that went away."""
        wanted = {c.network.address for c in self._cameras()}
        for address in sorted(set(self._unicast) - wanted):
            ep = self._unicast.pop(address)
            if ep.transport is not None:
                ep.transport.close()
        for address in sorted(wanted - set(self._unicast)):
            self._unicast[address] = await self._open(self._unicast_socket(address), address)

    @property
    def bound_addresses(self) -> list[str]:
        return sorted(self._unicast)

    def has_seen(self, message_id: str) -> bool:
        """Whether a Probe with this MessageID reached the responder (recent ones only)."""
        return any(mid == message_id for _, mid in self._seen)

    # ---- sockets -----------------------------------------------------------------------------
    async def _open(self, sock: socket.socket, local: str | None) -> _Endpoint:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_datagram_endpoint(lambda: _Endpoint(self, local), sock=sock)
        except OSError as exc:
            sock.close()
            raise DiscoveryError(f"cannot serve discovery on {local or self.multicast_group}: {exc}") from exc
        return proto

    def _unicast_socket(self, address: str) -> socket.socket:
        if not _is_loopback(address):
            raise DiscoveryError(f"camera address {address} is not on loopback; refusing to bind")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # No SO_REUSEADDR here: two simulators claiming one camera address must fail loudly, not split probes.
        try:
            sock.bind((address, self.port))
        except OSError as exc:
            sock.close()
            raise DiscoveryError(f"cannot bind discovery socket {address}:{self.port}: {exc}") from exc
        sock.setblocking(False)
        return sock

    def _multicast_socket(self) -> socket.socket:
        try:
            return lo_group_socket(self.multicast_group, self.port, self.interface)
        except OSError as exc:
            raise DiscoveryError(
                f"cannot join {self.multicast_group}:{self.port} on {self.interface}: {exc}"
            ) from exc

    # ---- probes ------------------------------------------------------------------------------
    def _on_datagram(self, ep: _Endpoint, data: bytes, sender: tuple[str, int]) -> None:
        # Hard rule of the project: the simulator only ever talks to loopback.
        if not _is_loopback(sender[0]):
            self.stats.ignored += 1
            return
        probe = parse_probe(data)
        if probe is None:
            self.stats.ignored += 1
            return
        key = (ep.local or self.multicast_group, probe.message_id)
        if key in self._seen:
            return  # SOAP-over-UDP retransmission of a Probe already answered
        self._seen[key] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        self.stats.probes += 1
        if ep.local is not None:
            for cam in self._cameras():
                if cam.network.address == ep.local and self._answers(cam, probe, sender[0]):
                    self._send(ep, cam, probe, sender, delay=0.0)
            return
        loop = asyncio.get_running_loop()
        for cam in self._cameras():
            cam_ep = self._unicast.get(cam.network.address)
            if cam_ep is None or not self._answers(cam, probe, sender[0]):
                continue
            # WS-Discovery: answer a multicast Probe after a random delay up to APP_MAX_DELAY, so a thousand
            # devices do not hit the prober in the same millisecond.
            delay = self._rng.uniform(0.0, self.max_delay_s) if self.max_delay_s > 0 else 0.0
            self._schedule(loop, delay, cam_ep, cam, probe, sender)

    def _schedule(
        self,
        loop: asyncio.AbstractEventLoop,
        delay: float,
        ep: _Endpoint,
        cam: Camera,
        probe: Probe,
        sender: tuple[str, int],
    ) -> None:
        def fire() -> None:
            self._pending.discard(handle)
            # State may have changed during the delay (reboot, SetDiscoveryMode); re-check.
            if self._answers(cam, probe, sender[0]):
                self._send(ep, cam, probe, sender, delay=delay)

        handle = loop.call_later(delay, fire)
        self._pending.add(handle)

    def _answers(self, cam: Camera, probe: Probe, client_ip: str) -> bool:
        if cam.network.discovery_mode == "NonDiscoverable" or cam.is_down():
            return False
        # Assumption: the camera's IP filter acts at the network layer, so a fenced-in camera ignores
        # probes from outside its Allow list just as it refuses their HTTP requests.
        if not cam.network.ip_filter.permits(client_ip):
            return False
        return types_match(probe.types) and scopes_match(probe.scopes, cam.scopes, probe.match_by)

    def _send(self, ep: _Endpoint, cam: Camera, probe: Probe, sender: tuple[str, int], delay: float) -> None:
        if ep.transport is None or ep.transport.is_closing():
            return
        n = self._msg_numbers.get(cam.id, 0) + 1
        self._msg_numbers[cam.id] = n
        with contextlib.suppress(OSError):
            ep.transport.sendto(build_probe_matches(cam, probe.message_id, n), sender)
            self.stats.replies += 1
            self.stats.per_camera[cam.id] = self.stats.per_camera.get(cam.id, 0) + 1
        log.debug("discovery: %s answered %s after %.3fs", cam.id, sender[0], delay)
