"""WS-Discovery responder driven by real Probe datagrams over loopback, unicast and lo multicast."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim.discovery import (
    MAX_PROBE_BYTES,
    MULTICAST_GROUP,
    NS_DN,
    NS_SOAP12,
    NS_TDS,
    NS_WSA,
    NS_WSD,
    DiscoveryError,
    DiscoveryResponder,
    endpoint_uuid,
    parse_probe,
    scope_matches_rfc3986,
    types_match,
    xaddr,
)
from camsim.fleet import generate_fleet
from camsim.model import Camera, Identity, IPFilter, Network, User
from tests.camsim.conftest import run_sim
from tests.camsim.onvif_helpers import call, device
from tests.fixtures import SHARED_FIXTURES
from tests.timing import until

pytestmark = pytest.mark.integration

FIXTURE = SHARED_FIXTURES / "onvif_agsh_v0.8.2" / "Probe.xml"
# A /24 of 127.5.0.0/16 per pytest process: other modules use 127.0.x.y, and other helpers run this very
# file concurrently, so a fixed block would clash on (address, 3702) binds and cross-answer multicast probes.
NET = f"127.5.{os.getpid() % 250 + 1}"
CLIENT_IP = f"{NET}.250"
OTHER_CLIENT_IP = f"{NET}.251"
REPLY_TIMEOUT = 2.0
MAX_DELAY = 0.05
NS = {"s": NS_SOAP12, "a": NS_WSA, "d": NS_WSD}


def make_camera(n: int, personality: str = "hikvision", **net: object) -> Camera:
    mac = f"28:57:be:00:05:{n:02x}"
    if personality == "hikvision":
        model = "DS-2CD2043G0-I"
        scopes = [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/Profile/Streaming",
            f"onvif://www.onvif.org/MAC/{mac}",
            f"onvif://www.onvif.org/hardware/{model}",
            f"onvif://www.onvif.org/name/HIKVISION%20{model}",
            "onvif://www.onvif.org/location/city/hangzhou",
        ]
        ident = Identity(
            "hikvision", "HIKVISION", "hikvision", model, "V5.5.0 build 170725", f"S{n}", "88", mac
        )
    else:
        model = "DH-IPC-HDW1230T2"
        scopes = [
            "onvif://www.onvif.org/location/country/china",
            "onvif://www.onvif.org/name/Dahua",
            f"onvif://www.onvif.org/hardware/{model}",
            "onvif://www.onvif.org/Profile/Streaming",
            "onvif://www.onvif.org/type/Network_Video_Transmitter",
            "onvif://www.onvif.org/extension/unique_identifier/1",
            "onvif://www.onvif.org/Profile/T",
        ]
        ident = Identity("dahua", "Dahua", "dahua", model, "2.800.0000000.16.R", f"D{n}", "1.00", mac)
    return Camera(
        id=f"cam-05{n:02d}",
        port=8000 + n,
        identity=ident,
        network=Network(address=f"{NET}.{n}", **net),  # type: ignore[arg-type]
        users=[User("admin", "not-logged")],
        scopes=scopes,
    )


def probe_xml(
    message_id: str | None = None,
    types: str | None = "dn:NetworkVideoTransmitter tds:Device",
    scopes: str | None = None,
    match_by: str | None = None,
) -> bytes:
    """A Probe as ONVIF clients send it (python WSDiscovery / onvif tools): SOAP 1.2, wsa 2004/08."""
    mid = message_id or f"urn:uuid:{uuid.uuid4()}"
    types_el = f"<d:Types>{types}</d:Types>" if types is not None else ""
    mb = f' MatchBy="{match_by}"' if match_by else ""
    scopes_el = f"<d:Scopes{mb}>{scopes}</d:Scopes>" if scopes is not None else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}" xmlns:dn="{NS_DN}"'
        f' xmlns:tds="{NS_TDS}">'
        f"<s:Header><a:Action>{NS_WSD}/Probe</a:Action><a:MessageID>{mid}</a:MessageID>"
        f"<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        f"<s:Body><d:Probe>{types_el}{scopes_el}</d:Probe></s:Body></s:Envelope>"
    ).encode()


def _multicast_on_lo() -> str | None:
    """Why multicast on lo cannot work here, or None when it can.

    Finding in this sandbox: lo lacks the MULTICAST flag, yet joining with interface 127.0.0.1 and sending
    with IP_MULTICAST_IF 127.0.0.1 works, so `ip link set lo multicast on` is not needed.
    """
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        r.bind((MULTICAST_GROUP, 0))
        mreq = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton("127.0.0.1"))
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError as exc:
        return f"cannot join {MULTICAST_GROUP} on lo: {exc}"
    finally:
        r.close()
    return None


MULTICAST_PROBLEM = _multicast_on_lo()
needs_multicast = pytest.mark.skipif(MULTICAST_PROBLEM is not None, reason=str(MULTICAST_PROBLEM))


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int], float]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait((data, (str(addr[0]), int(addr[1])), time.monotonic()))


class ProbeClient:
    """The test's own WS-Discovery client: one UDP socket on a source in NET, multicast pinned to lo."""

    def __init__(self, transport: asyncio.DatagramTransport, proto: _Collector) -> None:
        self.transport = transport
        self.proto = proto

    @classmethod
    async def open(cls, source_ip: str = CLIENT_IP) -> ProbeClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((source_ip, 0))
        # A multicast Probe makes every camera answer within APP_MAX_DELAY; the default ~200 KiB receive
        # buffer overflows at a few dozen replies when the loop is busy, as a real scanner's would.
        # (The kernel caps this at net.core.rmem_max, 4 MiB here.)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        # Hard rule: multicast leaves through lo only and can never be routed (TTL 0).
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(_Collector, sock=sock)
        return cls(transport, proto)

    def send(self, data: bytes, host: str, port: int = 3702) -> None:
        self.transport.sendto(data, (host, port))

    async def replies(
        self, window: float, relates_to: str | None = None, expect: int | None = None
    ) -> list[tuple[etree._Element, str]]:
        """Replies (parsed, sender ip) received within `window` s, for one Probe; stop early at `expect`."""
        return [(root, ip) for root, ip, _ in await self.timed_replies(window, relates_to, expect)]

    async def timed_replies(
        self, window: float, relates_to: str | None = None, expect: int | None = None
    ) -> list[tuple[etree._Element, str, float]]:
        out: list[tuple[etree._Element, str, float]] = []
        deadline = time.monotonic() + window
        while (left := deadline - time.monotonic()) > 0 and (expect is None or len(out) < expect):
            try:
                data, addr, at = await asyncio.wait_for(self.proto.queue.get(), timeout=left)
            except TimeoutError:
                break
            # Simulators of concurrent test runs share the multicast group; only cameras in NET are ours.
            if not addr[0].startswith(f"{NET}."):
                continue
            root = etree.fromstring(data)
            if relates_to is None or root.findtext("s:Header/a:RelatesTo", namespaces=NS) == relates_to:
                out.append((root, addr[0], at))
        return out

    def close(self) -> None:
        self.transport.close()


@pytest.fixture
async def client() -> AsyncIterator[ProbeClient]:
    c = await ProbeClient.open()
    yield c
    c.close()


async def running(cameras: list[Camera], **kw: object) -> DiscoveryResponder:
    kw.setdefault("multicast", MULTICAST_PROBLEM is None)
    kw.setdefault("max_delay_s", MAX_DELAY)
    responder = DiscoveryResponder(lambda: cameras, **kw)  # type: ignore[arg-type]
    await responder.start()
    return responder


def match_of(root: etree._Element) -> etree._Element:
    m = root.find("s:Body/d:ProbeMatches/d:ProbeMatch", namespaces=NS)
    assert m is not None
    return m


def new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


# ---- pure helpers --------------------------------------------------------------------------------


def test_parse_probe_resolves_type_prefixes_through_nsmap() -> None:
    data = (
        f'<e:Envelope xmlns:e="{NS_SOAP12}" xmlns:w="{NS_WSA}" xmlns:x="{NS_WSD}" xmlns:q="{NS_TDS}">'
        f"<e:Header><w:MessageID>uuid:1</w:MessageID></e:Header>"
        f"<e:Body><x:Probe><x:Types>q:Device</x:Types></x:Probe></e:Body></e:Envelope>"
    ).encode()
    probe = parse_probe(data)
    assert probe is not None
    assert probe.types == ((NS_TDS, "Device"),)
    assert types_match(probe.types)
    # Right local name in the wrong namespace is not a camera type.
    assert not types_match([("urn:other", "Device")])
    assert types_match([])
    # Sloppy clients send an unprefixed or undeclared prefix; firmware falls back to the local name.
    unprefixed = parse_probe(probe_xml(types="NetworkVideoTransmitter zz:Device"))
    assert unprefixed is not None
    assert unprefixed.types == ((None, "NetworkVideoTransmitter"), (None, "Device"))
    assert types_match(unprefixed.types)


def test_rfc3986_scope_rule() -> None:
    t = "onvif://www.onvif.org/location/city/hangzhou"
    assert scope_matches_rfc3986("onvif://www.onvif.org/location", t)
    assert scope_matches_rfc3986("ONVIF://WWW.ONVIF.ORG/location/city/", t)
    assert not scope_matches_rfc3986("onvif://www.onvif.org/loc", t)  # segment-wise, not string prefix
    assert not scope_matches_rfc3986("onvif://www.onvif.org/Location", t)  # path is case-sensitive
    assert not scope_matches_rfc3986("onvif://www.onvif.org/location?x=1", t)


def test_xaddr_leaves_out_the_default_port_like_real_cameras() -> None:
    cam = make_camera(1)
    assert xaddr(cam) == f"http://{NET}.1:8001/onvif/device_service"
    cam.port = 80
    assert xaddr(cam) == f"http://{NET}.1/onvif/device_service"
    # The endpoint uuid survives a factory reset (it is derived from id and MAC, not from settings).
    before = endpoint_uuid(cam)
    cam.factory_reset("Hard")
    assert endpoint_uuid(cam) == before


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff garbage",
        b"<not-closed",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><x>&a;</x>',
        probe_xml().replace(b"/Probe</a:Action>", b"/Hello</a:Action>"),
        probe_xml(message_id=" "),
        b"<x>" + b" " * MAX_PROBE_BYTES + b"</x>",
    ],
)
def test_parse_probe_rejects_non_probes(data: bytes) -> None:
    assert parse_probe(data) is None


# ---- over the wire --------------------------------------------------------------------------------


async def test_unicast_probe_gets_probe_matches(client: ProbeClient) -> None:
    cams = [make_camera(1), make_camera(2, "dahua")]
    responder = await running(cams)
    try:
        mid = new_id()
        client.send(probe_xml(mid), f"{NET}.2")
        replies = await client.replies(0.3)
        assert len(replies) == 1, "only the probed camera answers a unicast probe"
        root, sender = replies[0]
        assert sender == f"{NET}.2", "reply comes from the camera's own address"
        assert root.findtext("s:Header/a:RelatesTo", namespaces=NS) == mid
        assert root.findtext("s:Header/a:Action", namespaces=NS) == f"{NS_WSD}/ProbeMatches"
        reply_id = root.findtext("s:Header/a:MessageID", namespaces=NS)
        assert reply_id.startswith("urn:uuid:") and reply_id != mid
        m = match_of(root)
        cam = cams[1]
        assert m.findtext("d:Scopes", namespaces=NS).split() == cam.scopes
        assert m.findtext("d:XAddrs", namespaces=NS) == f"http://{NET}.2:8002/onvif/device_service"
        types_el = m.find("d:Types", namespaces=NS)
        resolved = {(types_el.nsmap[q.split(":")[0]], q.split(":")[1]) for q in types_el.text.split()}
        assert resolved == {(NS_DN, "NetworkVideoTransmitter"), (NS_TDS, "Device")}
        assert m.findtext("d:MetadataVersion", namespaces=NS) == "1"
        address = m.findtext("a:EndpointReference/a:Address", namespaces=NS)
        assert address.startswith("urn:uuid:")
        assert uuid.UUID(address[9:]).hex.endswith("2857be000502"), "endpoint uuid carries the MAC"

        # Stable: a second probe gets the same endpoint, a fresh MessageID and the next MessageNumber.
        mid2 = new_id()
        client.send(probe_xml(mid2), f"{NET}.2")
        (root2, _), *_ = await client.replies(REPLY_TIMEOUT, relates_to=mid2, expect=1)
        assert match_of(root2).findtext("a:EndpointReference/a:Address", namespaces=NS) == address
        assert root2.findtext("s:Header/a:MessageID", namespaces=NS) != reply_id
        seq1 = root.find("s:Header/d:AppSequence", namespaces=NS)
        seq2 = root2.find("s:Header/d:AppSequence", namespaces=NS)
        # Greater, not +1: concurrent runs of this file multicast probes that this camera answers too.
        assert int(seq2.get("MessageNumber")) > int(seq1.get("MessageNumber"))
        assert seq2.get("InstanceId") == str(cam.boots)
    finally:
        await responder.stop()


async def test_reply_has_the_elements_and_namespaces_of_the_recording(client: ProbeClient) -> None:
    responder = await running([make_camera(3)])
    try:
        mid = new_id()
        client.send(probe_xml(mid), f"{NET}.3")
        (root, _), *_ = await client.replies(REPLY_TIMEOUT, relates_to=mid, expect=1)
        recorded = etree.parse(str(FIXTURE)).getroot()
        assert {e.tag for e in root.iter()} == {e.tag for e in recorded.iter()}
    finally:
        await responder.stop()


@needs_multicast
async def test_multicast_probe_every_discoverable_camera_replies_from_its_own_address(
    client: ProbeClient,
) -> None:
    cams = [make_camera(n) for n in (11, 12, 13)] + [make_camera(14, discovery_mode="NonDiscoverable")]
    down = make_camera(15)
    down.down_until = time.time() + 60
    cams.append(down)
    responder = await running(cams)
    try:
        mid = new_id()
        client.send(probe_xml(mid), MULTICAST_GROUP)
        replies = await client.replies(MAX_DELAY + 0.5, relates_to=mid)
        senders = sorted(sender for _, sender in replies)
        assert senders == [f"{NET}.11", f"{NET}.12", f"{NET}.13"]
        for root, sender in replies:
            n = int(sender.rsplit(".", 1)[1])
            assert match_of(root).findtext("d:XAddrs", namespaces=NS) == (
                f"http://{sender}:{8000 + n}/onvif/device_service"
            )
        # A probe with no Types at all matches every device.
        mid = new_id()
        client.send(probe_xml(mid, types=None), MULTICAST_GROUP)
        assert len(await client.replies(MAX_DELAY + 0.5, relates_to=mid)) == 3
    finally:
        await responder.stop()


async def test_non_discoverable_and_down_cameras_are_silent_to_unicast(client: ProbeClient) -> None:
    hidden = make_camera(21, discovery_mode="NonDiscoverable")
    down = make_camera(22)
    down.down_until = time.time() + 60
    responder = await running([hidden, down])
    try:
        for host in (f"{NET}.21", f"{NET}.22"):
            client.send(probe_xml(), host)
        assert await client.replies(0.4) == []
        # SetDiscoveryMode back to Discoverable and the end of the reboot take effect on the next probe.
        hidden.network.discovery_mode = "Discoverable"
        down.down_until = 0.0
        for host in (f"{NET}.21", f"{NET}.22"):
            client.send(probe_xml(), host)
        assert sorted(s for _, s in await client.replies(0.4)) == [f"{NET}.21", f"{NET}.22"]
    finally:
        await responder.stop()


@needs_multicast
async def test_scope_and_type_filtered_probes(client: ProbeClient) -> None:
    cams = [make_camera(31), make_camera(32, "dahua")]
    responder = await running(cams)
    try:

        async def who(**kw: str | None) -> list[str]:
            mid = new_id()
            client.send(probe_xml(mid, **kw), MULTICAST_GROUP)
            return sorted(s for _, s in await client.replies(MAX_DELAY + 0.25, relates_to=mid))

        assert await who(scopes="onvif://www.onvif.org/name/Dahua") == [f"{NET}.32"]
        assert await who(scopes="onvif://www.onvif.org/location") == [f"{NET}.31", f"{NET}.32"]
        assert await who(scopes="onvif://www.onvif.org/location/city") == [f"{NET}.31"]
        # Every probe scope must match: hikvision is not in china.
        assert await who(
            scopes="onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/location/country"
        ) == [f"{NET}.32"]
        assert await who(scopes="onvif://www.onvif.org/name/Dah") == []  # segment-wise, not string prefix
        strcmp0 = f"{NS_WSD}/strcmp0"
        assert await who(scopes="onvif://www.onvif.org/name/Dahua", match_by=strcmp0) == [f"{NET}.32"]
        assert await who(scopes="onvif://www.onvif.org/name", match_by=strcmp0) == []
        assert await who(scopes="onvif://www.onvif.org/name", match_by="urn:unknown-rule") == []
        assert await who(types="tds:Device") == [f"{NET}.31", f"{NET}.32"]
        assert await who(types="dn:NetworkVideoTransmitter tds:PTZ") == []
    finally:
        await responder.stop()


async def test_malformed_and_oversized_datagrams_are_ignored(client: ProbeClient) -> None:
    responder = await running([make_camera(41)])
    try:
        junk = [b"", b"\xff" * 100, b"<s:Envelope", probe_xml()[:-20], b"<a/>" * (MAX_PROBE_BYTES // 4 + 1)]
        for data in junk:
            client.send(data, f"{NET}.41")
            client.send(data, MULTICAST_GROUP)
        assert await client.replies(0.3) == []
        # asyncio's sendto() drops an empty payload before it reaches the wire, so b"" is never counted.
        # (>=: junk multicast by a concurrent run of this file lands here as well.)
        assert responder.stats.ignored >= len([d for d in junk if d]) * 2
        mid = new_id()
        client.send(probe_xml(mid), f"{NET}.41")
        assert len(await client.replies(REPLY_TIMEOUT, relates_to=mid, expect=1)) == 1
    finally:
        await responder.stop()


async def test_retransmitted_probe_is_answered_once(client: ProbeClient) -> None:
    responder = await running([make_camera(42)])
    try:
        mid = new_id()
        for _ in range(3):  # SOAP-over-UDP repeats a message with the same MessageID
            client.send(probe_xml(mid), f"{NET}.42")
        assert len(await client.replies(0.3, relates_to=mid)) == 1
    finally:
        await responder.stop()


async def test_ip_filter_hides_camera_from_other_sources(client: ProbeClient) -> None:
    cam = make_camera(51, ip_filter=IPFilter("Allow", [(CLIENT_IP, 32)]))
    responder = await running([cam])
    other = await ProbeClient.open(OTHER_CLIENT_IP)
    try:
        other.send(probe_xml(), f"{NET}.51")
        assert await other.replies(0.3) == []
        client.send(probe_xml(), f"{NET}.51")
        assert len(await client.replies(REPLY_TIMEOUT, expect=1)) == 1
    finally:
        other.close()
        await responder.stop()


async def test_refresh_follows_the_camera_list_and_stop_releases_ports(client: ProbeClient) -> None:
    cams = [make_camera(61)]
    responder = await running(cams)
    try:
        cams.append(make_camera(62))
        await responder.refresh()
        assert responder.bound_addresses == [f"{NET}.61", f"{NET}.62"]
        mid = new_id()
        client.send(probe_xml(mid), f"{NET}.62")
        assert len(await client.replies(REPLY_TIMEOUT, relates_to=mid, expect=1)) == 1
        # A second responder for the same camera addresses must fail loudly, not split the probes.
        with pytest.raises(DiscoveryError) as err:
            await running(cams)
        assert isinstance(err.value, OSError)  # SimServer treats discovery bind failures as OSError
        assert f"{NET}.61:3702" in str(err.value)
    finally:
        await responder.stop()
    again = await running(cams)  # ports were released
    await again.stop()


@needs_multicast
async def test_multicast_probe_to_many_cameras_is_spread_over_the_delay(client: ProbeClient) -> None:
    cams = [make_camera(n) for n in range(100, 160)]
    responder = await running(cams, max_delay_s=0.2)
    try:
        mid = new_id()
        t0 = time.monotonic()
        client.send(probe_xml(mid), MULTICAST_GROUP)
        got = await client.timed_replies(0.2 + 2.0, relates_to=mid)
        assert sorted(ip for _, ip, _ in got) == sorted(c.network.address for c in cams)
        arrivals = sorted(at - t0 for _, _, at in got)
        # Random delays up to APP_MAX_DELAY: spread out, yet all within it (plus scheduling slack).
        assert arrivals[-1] - arrivals[0] > 0.05
        # Bounded by the delay window plus scheduling slack; a loaded CI machine needs generous slack.
        assert arrivals[-1] < 0.2 + 2.0
    finally:
        await responder.stop()


@needs_multicast
async def test_stop_cancels_pending_delayed_replies(client: ProbeClient) -> None:
    # Replies spread over 10 s: however loaded the machine, they cannot all fire before stop().
    responder = await running([make_camera(n) for n in (71, 72, 73)], max_delay_s=10.0)
    mid = new_id()
    client.send(probe_xml(mid), MULTICAST_GROUP)
    await until(lambda: responder.has_seen(mid), 10, "the probe to arrive", step=0.001)
    await responder.stop()
    fired = responder.stats.replies
    assert fired < 3, "replies spread over 10 s cannot all have fired before stop()"
    # Whatever had fired before stop() arrives; nothing scheduled after it does.
    # (<=: `fired` may include answers to a concurrent run's multicast probes.)
    assert len(await client.replies(1.2, relates_to=mid)) <= fired
    assert responder.stats.replies == fired


async def test_fleet_in_simserver_discovered_then_hidden_over_onvif(client: ProbeClient) -> None:
    """End to end: a generated fleet in SimServer, found by Probe, its XAddr used by onvif-zeep-async."""
    cams = generate_fleet(
        3, {"hikvision": 1, "dahua": 1, "axis": 1}, seed=7, base_address=f"{NET}.230", port=0
    )
    async with run_sim(cams, discovery=True) as server:
        assert server.discovery_error is None
        found: dict[str, etree._Element] = {}
        for cam in cams:
            mid = new_id()
            client.send(probe_xml(mid), cam.network.address)
            (root, sender), *_ = await client.replies(REPLY_TIMEOUT, relates_to=mid, expect=1)
            assert sender == cam.network.address
            found[cam.id] = match_of(root)
        target = cams[0]
        m = found[target.id]
        xaddr = urlsplit(m.findtext("d:XAddrs", namespaces=NS))
        assert (xaddr.hostname, xaddr.port or 80) == (target.network.address, target.port)
        async with device(target, password=target.users[0].password) as dm:
            # What discovery advertised is what the device service reports.
            scopes = await call(dm, "GetScopes")
            assert [s.ScopeItem for s in scopes] == m.findtext("d:Scopes", namespaces=NS).split()
            await call(dm, "SetDiscoveryMode", {"DiscoveryMode": "NonDiscoverable"})
        assert target.writes.get("discovery_mode") == 1
        mid = new_id()
        client.send(probe_xml(mid), MULTICAST_GROUP if MULTICAST_PROBLEM is None else target.network.address)
        others = sorted(c.network.address for c in cams[1:]) if MULTICAST_PROBLEM is None else []
        assert sorted(s for _, s in await client.replies(0.6, relates_to=mid)) == others
