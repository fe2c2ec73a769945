"""WS-Discovery probe client against camsim's responder over loopback (unicast and lo multicast)."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from agent.discovery import (
    MULTICAST_GROUP,
    NS_DN,
    NS_TDS,
    DiscoveryError,
    ProbeStats,
    build_probe,
    parse_probe_matches,
    probe,
)
from camsim.discovery import DiscoveryResponder, build_probe_matches, endpoint_uuid, parse_probe, xaddr
from camsim.fleet import generate_fleet
from camsim.model import Camera
from tests.fixtures import SHARED_FIXTURES

pytestmark = pytest.mark.integration

FIXTURE = SHARED_FIXTURES / "onvif_agsh_v0.8.2" / "Probe.xml"
NVT = f"{{{NS_DN}}}NetworkVideoTransmitter"
DEVICE = f"{{{NS_TDS}}}Device"
# 127.0.6.x is this module's; a private UDP port per test keeps concurrent runs (and camsim's own tests on
# 3702) from hearing each other's multicast probes.
WINDOW = 0.6
Start = Callable[[list[Camera]], Awaitable[tuple[DiscoveryResponder, int]]]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _multicast_on_lo() -> str | None:
    """None when lo can carry multicast here (joining with interface 127.0.0.1 works without the
    MULTICAST flag on lo, as camsim's discovery tests found), else why not."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((MULTICAST_GROUP, 0))
        mreq = struct.pack("4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton("127.0.0.1"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except OSError as exc:
        return f"cannot join {MULTICAST_GROUP} on lo: {exc}"
    finally:
        s.close()
    return None


MULTICAST_PROBLEM = _multicast_on_lo()
needs_multicast = pytest.mark.skipif(MULTICAST_PROBLEM is not None, reason=str(MULTICAST_PROBLEM))


def fleet(n: int, first: int) -> list[Camera]:
    """Realistic cameras (catalog models, scopes, MACs) on 127.0.6.<first>..."""
    cams = generate_fleet(n, {"hikvision": 1, "dahua": 1, "axis": 1}, seed=4, base_address=f"127.0.6.{first}")
    for i, cam in enumerate(cams):
        cam.port = 8000 + first + i
    return cams


@pytest.fixture
async def responder() -> AsyncIterator[Start]:
    """`await start(cameras)` -> (responder, port); every started responder is stopped at the end."""
    started: list[DiscoveryResponder] = []

    async def start(cameras: list[Camera]) -> tuple[DiscoveryResponder, int]:
        port = free_udp_port()
        r = DiscoveryResponder(
            lambda: cameras, port=port, multicast=MULTICAST_PROBLEM is None, max_delay_s=0.05
        )
        await r.start()
        started.append(r)
        return r, port

    yield start
    for r in started:
        await r.stop()


# ---- pure ------------------------------------------------------------------------------------------


def test_probe_is_what_a_camera_understands() -> None:
    for prefix, ns, local in (("dn", NS_DN, "NetworkVideoTransmitter"), ("tds", NS_TDS, "Device")):
        p = build_probe(prefix, ns, local)
        assert p.message_id.startswith("urn:uuid:")
        parsed = parse_probe(p.data)  # camsim's strict parser: SOAP 1.2, Action Probe, MessageID
        assert parsed is not None
        assert parsed.message_id == p.message_id
        assert parsed.types == ((ns, local),)
        assert b'<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>' in p.data
    assert build_probe("dn", NS_DN, "X").message_id != build_probe("dn", NS_DN, "X").message_id


def test_recorded_probe_matches_parses() -> None:
    data = FIXTURE.read_bytes().replace(b"RELATES_TO", b"urn:uuid:ours")
    (dev,) = parse_probe_matches(data, {"urn:uuid:ours"}, "127.0.6.77")
    assert dev.endpoint == "uuid:c9790c3a-701b-464d-a189-0060351c8ada"
    assert dev.types == (NVT, DEVICE)
    assert dev.xaddrs == ("SERVICE_URI",)
    assert "onvif://www.onvif.org/name/PREDATOR" in dev.scopes and len(dev.scopes) == 7
    assert dev.source_address == "127.0.6.77"
    assert dev.metadata_version == 1
    assert parse_probe_matches(data, {"urn:uuid:other"}, "127.0.6.77") == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe garbage",
        b"<s:Envelope",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><x>&a;</x>',
        b"<Envelope>urn:uuid:ours</Envelope>",
        b"<x>" + b" " * 70_000 + b"</x>",
    ],
)
def test_malformed_replies_parse_to_nothing(data: bytes) -> None:
    assert parse_probe_matches(data, {"urn:uuid:ours"}, "127.0.6.1") == []


def test_doctype_is_refused_even_when_the_rest_is_valid() -> None:
    good = FIXTURE.read_bytes().replace(b"RELATES_TO", b"urn:uuid:ours")
    assert parse_probe_matches(good, {"urn:uuid:ours"}, "h")
    bad = good.replace(b"<SOAP-ENV:Envelope", b"<!DOCTYPE SOAP-ENV:Envelope []><SOAP-ENV:Envelope", 1)
    assert parse_probe_matches(bad, {"urn:uuid:ours"}, "h") == []


async def test_argument_errors() -> None:
    with pytest.raises(DiscoveryError, match="nothing to probe"):
        await probe([])
    with pytest.raises(DiscoveryError, match="only IPv4"):
        await probe(["::1"])
    with pytest.raises(DiscoveryError, match="not an IP address"):
        await probe(["camera.local"])
    with pytest.raises(DiscoveryError, match="TTL"):
        await probe(multicast_interface="127.0.0.1", ttl=300)


# ---- over the wire ---------------------------------------------------------------------------------


async def test_unicast_finds_exactly_the_probed_cameras(responder: Start) -> None:
    cams = fleet(3, 1)
    _, port = await responder(cams)
    stats = ProbeStats()
    t0 = time.monotonic()
    # A window far longer than any loaded machine needs: returning well inside it shows the probe stopped
    # once every address had answered.
    found = await probe(["127.0.6.1", "127.0.6.3"], port=port, window_s=30.0, stats=stats)
    assert time.monotonic() - t0 < 15, "a unicast probe returns once every address answered"
    assert sorted(d.source_address for d in found) == ["127.0.6.1", "127.0.6.3"]
    for dev in found:
        cam = next(c for c in cams if c.network.address == dev.source_address)
        assert dev.endpoint == f"urn:uuid:{endpoint_uuid(cam)}"
        assert dev.xaddrs == (xaddr(cam),)
        assert dev.scopes == tuple(cam.scopes)
        assert dev.types == (NVT, DEVICE)
    assert stats.ignored == 0
    assert stats.sent >= 4  # two probe types to two addresses


async def test_unicast_to_a_silent_address_waits_the_window_only(responder: Start) -> None:
    _, port = await responder(fleet(1, 10))
    t0 = time.monotonic()
    found = await probe(["127.0.6.10", "127.0.6.11"], port=port, window_s=0.4)
    elapsed = time.monotonic() - t0
    assert [d.source_address for d in found] == ["127.0.6.10"]
    assert 0.35 < elapsed < 2.5, "the 0.4 s window, not the 3 s default"


async def test_non_discoverable_camera_is_not_found(responder: Start) -> None:
    cams = fleet(2, 20)
    cams[1].network.discovery_mode = "NonDiscoverable"
    _, port = await responder(cams)
    found = await probe(["127.0.6.20", "127.0.6.21"], port=port, window_s=WINDOW)
    assert [d.source_address for d in found] == ["127.0.6.20"]


@needs_multicast
@pytest.mark.parametrize("ttl", [0, 1])
async def test_multicast_on_lo_finds_every_discoverable_camera(responder: Start, ttl: int) -> None:
    cams = fleet(5, 30)
    cams[2].network.discovery_mode = "NonDiscoverable"
    r, port = await responder(cams)
    stats = ProbeStats()
    found = await probe(multicast_interface="127.0.0.1", ttl=ttl, port=port, window_s=WINDOW, stats=stats)
    assert sorted(d.source_address for d in found) == ["127.0.6.30", "127.0.6.31", "127.0.6.33", "127.0.6.34"]
    assert len({d.endpoint for d in found}) == 4, "deduplicated by endpoint"
    # Each camera answered both probe types (and nothing else); the duplicates were merged.
    assert stats.matches == 8
    assert r.stats.probes == 2, "the repeat carries the same MessageIDs, so each probe is answered once"


@needs_multicast
async def test_unicast_and_multicast_together_deduplicate(responder: Start) -> None:
    cams = fleet(2, 40)
    _, port = await responder(cams)
    found = await probe(["127.0.6.40"], multicast_interface="127.0.0.1", ttl=0, port=port, window_s=WINDOW)
    assert sorted(d.source_address for d in found) == ["127.0.6.40", "127.0.6.41"]


class _Impostor(asyncio.DatagramProtocol):
    """A hostile or broken device on 127.0.6.200: answers every probe with junk first, then one good reply."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.cam = fleet(1, 200)[0]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        assert self.transport is not None
        p = parse_probe(data)
        if p is None:
            return
        dest = (str(addr[0]), int(addr[1]))
        good = build_probe_matches(self.cam, p.message_id, 1)
        wrong_id = build_probe_matches(self.cam, "urn:uuid:00000000-0000-0000-0000-000000000000", 2)
        xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
        for junk in (b"\x00garbage", good[:-40], wrong_id, xxe, good.replace(b"ProbeMatches<", b"Hello<")):
            self.transport.sendto(junk, dest)
        # Advertises an address that is not where it answers from (NAT, stale config): kept as advertised.
        nat = good.replace(xaddr(self.cam).encode(), b"http://192.0.2.64/onvif/device_service")
        self.transport.sendto(nat, dest)


async def test_malformed_and_unrelated_replies_are_ignored() -> None:
    port = free_udp_port()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Impostor, local_addr=("127.0.6.200", port))
    try:
        stats = ProbeStats()
        found = await probe(["127.0.6.200"], port=port, window_s=WINDOW, repeats=0, stats=stats)
    finally:
        transport.close()
    (dev,) = found
    assert dev.source_address == "127.0.6.200"
    assert dev.xaddrs == ("http://192.0.2.64/onvif/device_service",)
    assert stats.ignored >= 5


@needs_multicast
async def test_device_count_is_bounded(responder: Start) -> None:
    _, port = await responder(fleet(4, 90))
    found = await probe(multicast_interface="127.0.0.1", ttl=0, port=port, window_s=WINDOW, max_devices=2)
    assert len(found) == 2
    assert {d.source_address for d in found} <= {f"127.0.6.{i}" for i in range(90, 94)}
