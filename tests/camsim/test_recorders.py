"""Recorder personalities: channel lists over ISAPI, Dahua CGI and ONVIF; hidden PoE cameras; truth and targets."""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest

from camsim import catalog
from camsim.export import export
from camsim.fleet import generate_fleet
from camsim.model import Camera
from tests.camsim.conftest import find_free_port, run_sim

pytestmark = pytest.mark.integration

ISAPI = "{http://www.isapi.org/ver20/XMLSchema}"
TIMEOUT = aiohttp.ClientTimeout(total=10)
MIX = {"hikvision": 40, "dahua": 30, "axis": 15, "generic": 10, "oem": 5}
BASE = f"127.6.{os.getpid() % 250 + 1}.1"


def fleet(n: int = 30, recorders: int = 4, **kw: float) -> list[Camera]:
    return generate_fleet(n, MIX, 7, base_address=BASE, port=find_free_port(), recorders=recorders, **kw)


def test_recorders_channels_and_hidden_cameras_are_deterministic() -> None:
    a, b = fleet(unactivated_share=0.3), fleet(unactivated_share=0.3)
    assert [c.id for c in a] == [c.id for c in b]
    recs = [c for c in a if c.is_recorder]
    assert len(recs) == 4
    fed: dict[str, str] = {}
    by_id = {c.id: c for c in a}
    for rec in recs:
        model = catalog.find_model(rec.identity.model)
        assert 4 <= model.channels <= 32 and 1 <= len(rec.channels) <= model.channels
        assert rec.network.address.startswith("127.") and rec.poe_address
        for ch in rec.channels:
            assert ch.camera_id not in fed, "a camera feeds one recorder"
            fed[ch.camera_id] = rec.id
            cam = by_id[ch.camera_id]
            assert cam.activated
            assert ch.address == cam.network.address
            # Same maker: the recorder's own protocol; another maker's camera is added over ONVIF.
            same = cam.identity.personality == rec.identity.personality
            assert (ch.protocol in ("HIKVISION", "Private")) is same
    hidden = [c for c in a if not c.reachable]
    assert hidden and all(c.id in fed for c in hidden)
    assert any(c.reachable and c.id in fed for c in a), "some cameras on the site LAN feed a recorder too"
    unactivated = [c for c in a if not c.activated]
    assert unactivated and all(c.identity.personality == "hikvision" and not c.users for c in unactivated)


def test_truth_and_targets(tmp_path: Path) -> None:
    cams = fleet(unactivated_share=0.3)
    targets, truth_path = export(cams, tmp_path)
    truth = {t["id"]: t for t in json.loads(truth_path.read_text())}
    rows = list(csv.DictReader(targets.open()))
    listed = {r["host"] for r in rows}
    for cam in cams:
        t = truth[cam.id]
        assert t["reachable"] is cam.reachable and t["activated"] is cam.activated
        # Only what an installer could have written down: no hidden camera, no unactivated one (no password).
        assert (cam.network.address in listed) is (cam.reachable and cam.activated)
    for rec in (c for c in cams if c.is_recorder):
        assert truth[rec.id]["kind"] == "recorder"
        for ch in rec.channels:
            t = truth[ch.camera_id]
            assert (t["recorder"], t["channel"], t["recorder_host"]) == (
                rec.id,
                ch.number,
                rec.network.address,
            )


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as r:
        return r.status, await r.read()


def _digest(cam: Camera) -> aiohttp.ClientSession:
    mw = aiohttp.DigestAuthMiddleware(login="admin", password=cam.users[0].password)
    return aiohttp.ClientSession(middlewares=(mw,), timeout=TIMEOUT)


async def test_hikvision_input_proxy_channels_and_status_follow_the_cameras() -> None:
    cams = fleet(recorders=6)
    by_id = {c.id: c for c in cams}

    def fenceable(ch_cam: Camera) -> bool:
        return (
            ch_cam.reachable
            and ch_cam.identity.personality == "hikvision"
            and "IPFilter" in ch_cam.capabilities
        )

    rec, direct = next(
        (r, ch)
        for r in cams
        if r.is_recorder and r.identity.personality == "hikvision"
        for ch in r.channels
        if fenceable(by_id[ch.camera_id])
    )
    async with run_sim(cams), _digest(rec) as s:
        base = f"http://{rec.network.address}:{rec.port}/ISAPI/ContentMgmt/InputProxy/channels"
        status, body = await _get(s, base)
        assert status == 200
        items = ET.fromstring(body).findall(f"{ISAPI}InputProxyChannel")
        assert [int(i.findtext(f"{ISAPI}id") or 0) for i in items] == [ch.number for ch in rec.channels]
        for item, ch in zip(items, rec.channels, strict=True):
            src = item.find(f"{ISAPI}sourceInputPortDescriptor")
            assert src is not None
            assert src.findtext(f"{ISAPI}ipAddress") == ch.address
            assert src.findtext(f"{ISAPI}serialNumber") == by_id[ch.camera_id].identity.serial
            assert src.findtext(f"{ISAPI}proxyProtocol") == ch.protocol
        # A camera on the LAN that fences itself off from the recorder (through its own ISAPI) goes dark.
        cam = by_id[direct.camera_id]
        fence = (
            "<IPFilter><enabled>true</enabled><permissionType>allow</permissionType><IPFilterAddressList>"
            "<IPFilterAddress><id>1</id><permissionType>allow</permissionType><addressFilterType>mask"
            "</addressFilterType><AddressMask><ipAddress>127.0.0.1</ipAddress><ipAddressMask>255.255.255.255"
            "</ipAddressMask></AddressMask></IPFilterAddress></IPFilterAddressList></IPFilter>"
        )
        async with _digest(cam) as cs:
            url = f"http://{cam.network.address}:{cam.port}/ISAPI/System/Network/ipFilter"
            async with cs.put(url, data=fence, headers={"Content-Type": "application/xml"}) as r:
                assert r.status == 200
        status, body = await _get(s, base + "/status")
        assert status == 200
        states = {
            int(e.findtext(f"{ISAPI}id") or 0): (
                e.findtext(f"{ISAPI}online"),
                e.findtext(f"{ISAPI}chanDetectResult"),
            )
            for e in ET.fromstring(body).findall(f"{ISAPI}InputProxyChannelStatus")
        }
        for ch in rec.channels:
            dark = ch.number == direct.number
            assert states[ch.number] == (("false", "netUnreachable") if dark else ("true", "connect"))


async def test_dahua_remote_devices_and_camera_state() -> None:
    cams = fleet(recorders=8)
    rec = next(c for c in cams if c.is_recorder and c.identity.personality == "dahua")
    by_id = {c.id: c for c in cams}
    async with run_sim(cams), _digest(rec) as s:
        url = f"http://{rec.network.address}:{rec.port}/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice"
        status, body = await _get(s, url)
        assert status == 200
        table = dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)
        slots = catalog.find_model(rec.identity.model).channels
        assert len({k.split(".")[2] for k in table}) == slots  # one slot per channel, used or not
        for ch in rec.channels:
            p = f"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_{ch.number - 1}"
            assert table[f"{p}.Address"] == ch.address and table[f"{p}.Enable"] == "true"
            assert table[f"{p}.SerialNo"] == by_id[ch.camera_id].identity.serial
            assert (
                f"{p}.Password" in table
            )  # real recorders hand out camera passwords: the agent must drop them
        state_url = f"http://{rec.network.address}:{rec.port}/cgi-bin/LogicDeviceManager.cgi"
        async with s.get(state_url, params={"action": "getCameraState", "uniqueChannels[0]": "-1"}) as r:
            lines = (await r.read()).decode().splitlines()
        assert sum(1 for x in lines if x.endswith("connectionState=Connected")) == len(rec.channels)
        # Cameras are not recorders: the same request is a Bad Request there.
        cam = next(c for c in cams if c.reachable and c.identity.personality == "dahua" and not c.is_recorder)
        async with _digest(cam) as cs:
            status, body = await _get(cs, f"http://{cam.network.address}:{cam.port}/cgi-bin/configManager.cgi"
                                          "?action=getConfig&name=RemoteDevice")  # fmt: skip
            assert status == 400 and body.startswith(b"Error")


async def test_onvif_video_sources_and_profile_g_recordings() -> None:
    cams = fleet(recorders=3)
    rec = next(c for c in cams if c.is_recorder)
    env = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>{}</s:Body></s:Envelope>'
    async with run_sim(cams), _digest(rec) as s:
        url = f"http://{rec.network.address}:{rec.port}/onvif/device_service"
        body = env.format('<GetVideoSources xmlns="http://www.onvif.org/ver10/media/wsdl"/>')
        async with s.post(url, data=body, headers={"Content-Type": "application/soap+xml"}) as r:
            assert r.status == 200
            root = ET.fromstring(await r.read())
        sources = root.findall(".//{http://www.onvif.org/ver10/media/wsdl}VideoSources")
        assert len(sources) == len(rec.channels)
        body = env.format('<GetRecordings xmlns="http://www.onvif.org/ver10/recording/wsdl"/>')
        async with s.post(url, data=body, headers={"Content-Type": "application/soap+xml"}) as r:
            assert r.status == 200
            root = ET.fromstring(await r.read())
        addresses = [a.text for a in root.iter("{http://www.onvif.org/ver10/schema}Address")]
        assert addresses == [f"rtsp://{ch.address}:554/" for ch in rec.channels]


async def test_hidden_cameras_have_no_socket_and_credentials_are_counted() -> None:
    cams = fleet(recorders=2)
    hidden = next(c for c in cams if not c.reachable)
    cam = next(c for c in cams if c.reachable and c.activated and c.identity.personality == "hikvision")
    async with run_sim(cams) as server, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        assert (hidden.network.address, hidden.port) not in {
            (c.network.address, c.port) for c in server.reachable()
        }
        status, page = await _get(s, f"http://{cam.network.address}:{cam.port}/")
        assert status == 200 and b"/doc/" in page  # Hikvision's landing page sends browsers to /doc/...
        async with aiohttp.ClientSession(timeout=TIMEOUT) as plain:
            await _get(plain, f"http://{cam.network.address}:{cam.port}/ISAPI/System/deviceInfo")
        assert server.traffic[cam.id]["credentials"] == 0
        async with _digest(cam) as ds:
            assert (await _get(ds, f"http://{cam.network.address}:{cam.port}/ISAPI/System/deviceInfo"))[
                0
            ] == 200
        assert server.traffic[cam.id]["credentials"] >= 1
