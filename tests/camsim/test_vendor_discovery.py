"""SADP, DHIP and SSDP answered over lo multicast from each camera's own address; RTSP and TLS banners."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import struct
import xml.etree.ElementTree as ET

import aiohttp
import pytest
from cryptography import x509

from camsim import dhip
from camsim.fleet import generate_fleet
from camsim.model import Camera
from tests.camsim.conftest import find_free_port, run_sim

pytestmark = pytest.mark.integration

# Other helpers run camsim fleets at the same time: filter every reply by the block this process owns.
NET = f"127.7.{os.getpid() % 250 + 1}"
WINDOW_S = 1.0
SADP_PROBE = (
    b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>CAFE-0001</Uuid><Types>inquiry</Types></Probe>'
)
DHIP_SEARCH = dhip.frame(b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\n')
M_SEARCH = b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n'


def fleet() -> list[Camera]:
    mix = {"hikvision": 40, "dahua": 30, "axis": 15, "generic": 10, "oem": 5}
    return generate_fleet(24, mix, 11, base_address=f"{NET}.1", port=find_free_port(), recorders=2,
                          unactivated_share=0.25)  # fmt: skip


async def probe(group: str, port: int, payload: bytes) -> dict[str, bytes]:
    """Send one probe on lo multicast; replies by source address (ours only), collected for WINDOW_S."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    replies: dict[str, bytes] = {}
    try:
        await loop.sock_sendto(sock, payload, (group, port))
        deadline = loop.time() + WINDOW_S
        while (left := deadline - loop.time()) > 0:
            try:
                data, (addr, _) = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), left)
            except TimeoutError:
                break
            if addr.startswith(f"{NET}."):
                replies[addr] = data
    finally:
        sock.close()
    return replies


async def test_sadp_dhip_ssdp_answer_from_each_camera() -> None:
    cams = fleet()
    reachable = [c for c in cams if c.reachable]
    async with run_sim(cams, discovery=True) as server:
        assert not server.multicast_errors, server.multicast_errors
        sadp = await probe("239.255.255.250", 37020, SADP_PROBE)
        hik = {c.network.address: c for c in reachable if c.identity.personality == "hikvision"}
        assert set(sadp) == set(hik)
        for addr, data in sadp.items():
            root = ET.fromstring(data)
            cam = hik[addr]
            assert root.findtext("Uuid") == "CAFE-0001"
            assert root.findtext("DeviceSN") == cam.identity.serial
            assert root.findtext("IPv4Address") == addr
            assert root.findtext("Activated") == ("true" if cam.activated else "false")
            assert root.findtext("MAC") == cam.identity.mac.replace(":", "-")
        assert any(not c.activated for c in hik.values())

        found = await probe(dhip.GROUP, dhip.PORT, DHIP_SEARCH)
        dahua = {c.network.address: c for c in reachable if c.identity.personality == "dahua"}
        assert set(found) == set(dahua)
        for addr, data in found.items():
            body = dhip.unframe(data)
            assert body is not None
            info = json.loads(body)["params"]["deviceInfo"]
            assert info["SerialNo"] == dahua[addr].identity.serial
            assert info["DeviceClass"] == ("NVR" if dahua[addr].is_recorder else "IPC")

        ssdp = await probe("239.255.255.250", 1900, M_SEARCH)
        upnp = {
            c.network.address: c
            for c in reachable
            if c.features.get("upnp") and c.identity.personality != "generic"
        }
        assert set(ssdp) == set(upnp)
        addr, reply = next(iter(ssdp.items()))
        location = next(line.split(":", 1)[1].strip() for line in reply.decode().split("\r\n")
                        if line.upper().startswith("LOCATION:"))  # fmt: skip
        async with aiohttp.ClientSession() as s, s.get(location) as r:
            assert r.status == 200
            desc = ET.fromstring(await r.read())
        ns = "{urn:schemas-upnp-org:device-1-0}"
        assert desc.findtext(f"{ns}device/{ns}serialNumber") == upnp[addr].identity.serial
        assert server.traffic and all(t.get("credentials", 0) == 0 for t in server.traffic.values())


async def test_disabling_upnp_silences_ssdp() -> None:
    cams = fleet()
    for c in cams:
        c.features["upnp"] = bool(c.features.get("upnp")) and c.identity.personality == "axis"
    async with run_sim(cams, discovery=True):
        ssdp = await probe("239.255.255.250", 1900, M_SEARCH)
    assert ssdp and all(
        next(c for c in cams if c.network.address == a).identity.personality == "axis" for a in ssdp
    )


async def test_rtsp_and_tls_banners() -> None:
    cams = [c for c in fleet() if c.reachable][:3]
    rtsp_port, tls_port = find_free_port(), find_free_port()
    async with run_sim(cams, rtsp_port=rtsp_port, tls_port=tls_port) as server:
        cam = cams[0]
        reader, writer = await asyncio.open_connection(cam.network.address, rtsp_port)
        writer.write(
            f"OPTIONS rtsp://{cam.network.address}:{rtsp_port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
        )
        writer.write(
            f"DESCRIBE rtsp://{cam.network.address}:{rtsp_port}/ RTSP/1.0\r\nCSeq: 2\r\n\r\n".encode()
        )
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        second = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        assert first.startswith(b"RTSP/1.0 200") and b"CSeq: 1" in first
        assert second.startswith(b"RTSP/1.0 401") and f'realm="{cam.auth.realm}"'.encode() in second
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(cam.network.address, tls_port, ssl=ctx)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        assert f"CN={cam.network.address}" in subject
        assert server.traffic[cam.id]["rtsp_requests"] == 2 and server.traffic[cam.id]["credentials"] == 0


def test_dhip_framing_rejects_garbage() -> None:
    assert dhip.unframe(b"DHIP") is None
    good = dhip.frame(b"{}")
    assert dhip.unframe(good) == b"{}"
    bad = good[:16] + struct.pack("<I", 9) + good[20:]
    assert dhip.unframe(bad) is None
    assert dhip.parse_search(dhip.frame(b'{"method": "other"}')) is None
