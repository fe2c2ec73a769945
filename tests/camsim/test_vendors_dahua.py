"""Dahua CGI over real HTTP + digest against a running SimServer: magicBox, configManager get/set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import pytest

from camsim.fleet import make_camera
from camsim.model import Camera
from camsim.server import SimServer
from tests.camsim.conftest import find_free_port
from tests.camsim.onvif_helpers import call, device

pytestmark = pytest.mark.integration

TIMEOUT = aiohttp.ClientTimeout(total=10)
Sim = Callable[..., AbstractAsyncContextManager[SimServer]]


def dahua_camera(
    model: str = "IPC-HDW5831R-ZE", *, port: int, address: str = "127.0.1.1", index: int = 0
) -> Camera:
    cam = make_camera(index, "dahua", 7, address, port=port, model_name=model)
    cam.features = {k: True for k in cam.features}
    cam.auth.modes = ["digest", "wsse"]
    cam.defaults = cam._config_dict()
    return cam


@pytest.fixture
def port() -> int:
    return find_free_port()


@asynccontextmanager
async def cgi(
    cam: Camera,
) -> AsyncIterator[Callable[[str], AbstractAsyncContextManager[aiohttp.ClientResponse]]]:
    mw = aiohttp.DigestAuthMiddleware(login="admin", password=cam.users[0].password)
    async with aiohttp.ClientSession(middlewares=(mw,), timeout=TIMEOUT) as s:
        base = f"http://{cam.network.address}:{cam.port}"

        def get(path_qs: str) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
            return s.get(base + path_qs)

        yield get


async def fetch(
    get: Callable[[str], AbstractAsyncContextManager[aiohttp.ClientResponse]], q: str
) -> tuple[int, str]:
    async with get(q) as r:
        raw = await r.read()
        return r.status, raw.decode()


def kv(body: str) -> dict[str, str]:
    assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")  # CRLF lines like the fixtures
    return dict(line.split("=", 1) for line in body.split("\r\n") if line)


async def test_magicbox_inventory(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    async with sim([cam]), cgi(cam) as get:
        status, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getSystemInfo")
        info = kv(body)
        assert status == 200
        # key order and values as in the recorded IPC-HDW5831R-ZE reply
        assert list(info) == [
            "appAutoStart", "deviceType", "hardwareVersion", "processor", "serialNumber", "updateSerial",
            "updateSerialCloudUpgrade",
        ]  # fmt: skip
        assert info["deviceType"] == "IPC-HDW5831R-ZE" and info["updateSerial"] == "IPC-HDW5830R-Z"
        assert info["serialNumber"] == cam.identity.serial
        _, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getSoftwareVersion")
        assert kv(body) == {"version": "2.800.0000016.0.R,build:2020-06-05"}
        _, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getDeviceType")
        assert kv(body) == {"type": "IPC-HDW5831R-ZE"}
        _, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getVendor")
        assert kv(body) == {"vendor": "Dahua"}
        _, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getSerialNo")
        assert kv(body) == {"sn": cam.identity.serial}
        status, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=reboot-now")
        assert (status, body) == (400, "Error\r\nBad Request!\r\n")


async def test_oem_vendor_and_base_model(sim: Sim, port: int) -> None:
    cams = [
        dahua_camera("IP4M-1026B", port=port, index=0),
        dahua_camera("CP-UNC-TA21PL3", port=port, address="127.0.1.2", index=1),
    ]
    async with sim(cams):
        for cam, vendor in zip(cams, ["Amcrest", "CP PLUS"], strict=True):
            async with cgi(cam) as get:
                _, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getVendor")
                assert kv(body) == {"vendor": vendor}
                _, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getSystemInfo")
                info = kv(body)
                assert info["deviceType"] == cam.identity.model
                assert info["updateSerial"] == cam.identity.base_model and info["updateSerial"].startswith(
                    "IPC-"
                )
                _, body = await fetch(get, "/cgi-bin/magicBox.cgi?action=getSoftwareVersion")
                assert kv(body)["version"].startswith("2.") and ",build:" in kv(body)["version"]


async def test_realm_and_auth_required(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    url = f"http://{cam.network.address}:{cam.port}/cgi-bin/magicBox.cgi?action=getVendor"
    async with sim([cam]), aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(url) as r:
        assert r.status == 401
        assert f'realm="Login to {cam.identity.serial}"' in r.headers["WWW-Authenticate"]
        assert "Server" not in r.headers


CONFIGS = [
    ("T2UServer", "T2UServer.Enable", "table.T2UServer.Enable", "t2u"),
    ("UPnP", "UPnP.Enable", "table.UPnP.Enable", "upnp"),
    ("DDNS", "DDNS[0].Enable", "table.DDNS[0].Enable", "ddns"),
    ("Telnet", "Telnet.Enable", "table.Telnet.Enable", "telnet"),
]


async def test_config_get_set_get(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    async with sim([cam]) as server, cgi(cam) as get:
        live = server.camera(cam.id)
        assert live.cloud_reachable()
        for name, set_key, table_key, feature in CONFIGS:
            status, body = await fetch(get, f"/cgi-bin/configManager.cgi?action=getConfig&name={name}")
            assert status == 200 and kv(body)[table_key] == "true", name
            status, body = await fetch(get, f"/cgi-bin/configManager.cgi?action=setConfig&{set_key}=false")
            assert (status, body) == (200, "OK\r\n"), name
            _, body = await fetch(get, f"/cgi-bin/configManager.cgi?action=getConfig&name={name}")
            assert kv(body)[table_key] == "false", name
            assert live.features[feature] is False and live.writes[f"feature.{feature}"] == 1
            await fetch(get, f"/cgi-bin/configManager.cgi?action=setConfig&{set_key}=false")
            assert live.writes[f"feature.{feature}"] == 1  # idempotent: not written twice
        # the MapTable entries stay on, but with UPnP off no mapping is made
        assert live.features["upnp_portmap"] is True
        assert not live.cloud_reachable() and live.cloud_features_on() == []
        assert "telnet" not in live.exposed_services() and "upnp_port_mapping" not in live.exposed_services()
        # the older indexed spelling of the P2P switch works too
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=setConfig&T2UServer[0].Enable=true")
        assert body == "OK\r\n" and live.features["t2u"] is True


async def test_upnp_map_table(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    async with sim([cam]) as server, cgi(cam) as get:
        live = server.camera(cam.id)
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=getConfig&name=UPnP")
        table = kv(body)
        assert table["table.UPnP.MapTable[2].InnerPort"] == "37777"
        assert all(table[f"table.UPnP.MapTable[{i}].Enable"] == "true" for i in range(3))
        q = "&".join(f"UPnP.MapTable[{i}].Enable=false" for i in range(3))
        _, body = await fetch(get, f"/cgi-bin/configManager.cgi?action=setConfig&{q}")
        assert body == "OK\r\n"
        assert live.features["upnp_portmap"] is False and "upnp_port_mapping" not in live.exposed_services()
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=getConfig&name=UPnP")
        assert kv(body)["table.UPnP.MapTable[0].Enable"] == "false"


async def test_ntp_via_cgi_is_visible_via_onvif(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    async with sim([cam]) as server, cgi(cam) as get:
        live = server.camera(cam.id)
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=getConfig&name=NTP")
        assert kv(body)["table.NTP.Address"] == "clock.isc.org" and kv(body)["table.NTP.Enable"] == "true"
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=setConfig&NTP.Address=10.1.2.3")
        assert body == "OK\r\n" and live.network.ntp == ["10.1.2.3"] and live.writes["ntp"] == 1
        async with device(live, password=live.users[0].password) as dm:
            info = await call(dm, "GetNTP")
            assert info.NTPManual[0].IPv4Address == "10.1.2.3" or info.NTPManual[0].DNSname == "10.1.2.3"
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=setConfig&NTP.Enable=false")
        assert live.network.ntp == [] and live.writes["ntp"] == 2
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=getConfig&name=NTP")
        assert kv(body)["table.NTP.Enable"] == "false" and kv(body)["table.NTP.Address"] == "10.1.2.3"
        _, body = await fetch(get, "/cgi-bin/configManager.cgi?action=setConfig&NTP.Enable=true")
        assert live.network.ntp == ["10.1.2.3"]


async def test_bad_requests_change_nothing(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    async with sim([cam]) as server, cgi(cam) as get:
        live = server.camera(cam.id)
        bad = [
            "/cgi-bin/configManager.cgi?action=getConfig&name=Nope",
            "/cgi-bin/configManager.cgi?action=getConfig",
            "/cgi-bin/configManager.cgi?action=setConfig",
            "/cgi-bin/configManager.cgi?action=setConfig&Telnet.Enable=off",
            "/cgi-bin/configManager.cgi?action=setConfig&t2userver.enable=false",  # keys are case-sensitive
            # one bad key spoils the whole request
            "/cgi-bin/configManager.cgi?action=setConfig&T2UServer.Enable=false&Foo.Bar=1",
            "/cgi-bin/configManager.cgi?action=setConfig&UPnP.MapTable[9].Enable=false",
            "/cgi-bin/configManager.cgi?action=setConfig&NTP.Address=bad host!",
            "/cgi-bin/configManager.cgi?action=explode",
        ]
        for q in bad:
            status, body = await fetch(get, q)
            assert (status, body) == (400, "Error\r\nBad Request!\r\n"), q
        assert live.writes == {} and live.features["t2u"] is True
        async with get("/cgi-bin/configManager.cgi?action=getConfig&name=Telnet") as r:
            assert r.status == 200


async def test_config_missing_feature_is_bad_request(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    del cam.features["telnet"]
    async with sim([cam]), cgi(cam) as get:
        status, body = await fetch(get, "/cgi-bin/configManager.cgi?action=getConfig&name=Telnet")
        assert (status, body) == (400, "Error\r\nBad Request!\r\n")
        status, _ = await fetch(get, "/cgi-bin/configManager.cgi?action=setConfig&Telnet.Enable=false")
        assert status == 400 and cam.features == {k: True for k in cam.features}


async def test_lockout_after_five_failures(sim: Sim, port: int) -> None:
    cam = dahua_camera(port=port)
    url = f"http://{cam.network.address}:{cam.port}/cgi-bin/magicBox.cgi?action=getVendor"
    async with sim([cam]) as server:
        live = server.camera(cam.id)
        mw = aiohttp.DigestAuthMiddleware(login="admin", password="not-the-password")
        async with aiohttp.ClientSession(middlewares=(mw,), timeout=TIMEOUT) as s:
            for _ in range(5):
                async with s.get(url) as r:
                    assert r.status == 401
        assert live.is_locked("127.0.0.1")
        async with cgi(live) as get:
            status, _ = await fetch(get, "/cgi-bin/magicBox.cgi?action=getVendor")
            assert status == 401
