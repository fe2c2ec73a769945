"""Axis VAPIX param.cgi over real HTTP + digest against a running SimServer: list, update, filter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest

from camsim.fleet import make_camera
from camsim.model import Camera
from camsim.server import SimServer
from tests.camsim.conftest import find_free_port
from tests.camsim.onvif_helpers import call, device
from tests.fixtures import SHARED_FIXTURES

pytestmark = pytest.mark.integration

TIMEOUT = aiohttp.ClientTimeout(total=10)
Sim = Callable[..., AbstractAsyncContextManager[SimServer]]
_FIXTURE = SHARED_FIXTURES / "axis_M1065-LW_param_list.txt"
RECORDED = _FIXTURE.read_text() if _FIXTURE.exists() else ""  # read once, outside the event loop
PATH = "/axis-cgi/param.cgi"


def axis_camera(model: str = "M1065-LW", *, port: int, address: str = "127.0.1.1") -> Camera:
    cam = make_camera(0, "axis", 3, address, port=port, model_name=model)
    cam.features = {k: True for k in cam.features}
    cam.auth.modes = ["digest", "wsse"]
    cam.defaults = cam._config_dict()
    return cam


@pytest.fixture
def port() -> int:
    return find_free_port()


@dataclass
class Vapix:
    session: aiohttp.ClientSession
    base: str

    async def get(self, query: str) -> tuple[int, str]:
        async with self.session.get(f"{self.base}{PATH}?{query}") as r:
            return r.status, (await r.read()).decode()

    async def post(self, form: dict[str, str]) -> tuple[int, str]:
        async with self.session.post(self.base + PATH, data=form) as r:
            return r.status, (await r.read()).decode()


@asynccontextmanager
async def vapix(cam: Camera, local: str | None = None) -> AsyncIterator[Vapix]:
    mw = aiohttp.DigestAuthMiddleware(login="admin", password=cam.users[0].password)
    conn = aiohttp.TCPConnector(local_addr=(local, 0) if local else None, force_close=True)
    async with aiohttp.ClientSession(middlewares=(mw,), timeout=TIMEOUT, connector=conn) as s:
        yield Vapix(s, f"http://{cam.network.address}:{cam.port}")


def parse(body: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in body.splitlines() if line)


async def test_list_all_matches_fixture_names_and_identity(sim: Sim, port: int) -> None:
    cam = axis_camera(port=port)
    async with sim([cam]), vapix(cam) as v:
        status, body = await v.get("action=list")
        assert status == 200
        params = parse(body)
        assert all(k.startswith("root.") for k in params)
        # every parameter we serve exists under the same name on the recorded M1065-LW
        if RECORDED:
            recorded = parse(RECORDED)
            missing = set(params) - set(recorded) - {"root.Properties.API.HTTP.Version"}
            assert not missing, missing
            assert (
                params["root.Properties.Firmware.BuildDate"] == recorded["root.Properties.Firmware.BuildDate"]
            )
        assert params["root.Brand.ProdNbr"] == "M1065-LW"
        assert params["root.Properties.Firmware.Version"] == "9.10.1"
        assert params["root.Properties.System.SerialNumber"] == cam.identity.serial
        assert params["root.Network.eth0.MACAddress"] == cam.identity.mac.upper()
        assert params["root.RemoteService.Enabled"] == "oneclick"
        assert params["root.Network.UPnP.Enabled"] == "yes"
        assert params["root.Network.Filter.Enabled"] == "no"


async def test_list_groups_get_and_post(sim: Sim, port: int) -> None:
    cam = axis_camera(port=port)
    async with sim([cam]), vapix(cam) as v:
        status, body = await v.get("action=list&group=root.Network.UPnP")
        assert status == 200 and body.endswith("\n")
        assert set(parse(body)) >= {"root.Network.UPnP.Enabled", "root.Network.UPnP.NATTraversal.Enabled"}
        assert all(k.startswith("root.Network.UPnP.") for k in parse(body))
        # Kane610/axis style: POST form, group without the root. prefix, several groups
        status, body = await v.post({"action": "list", "group": "RemoteService,Network.Filter"})
        keys = set(parse(body))
        assert "root.RemoteService.Enabled" in keys and "root.Network.Filter.Input.Policy" in keys
        status, body = await v.get("action=list&group=root.Nope")
        assert status == 200 and body == "# Error: Error -1 getting param in group 'root.Nope'\n"


async def test_update_remote_service_and_upnp(sim: Sim, port: int) -> None:
    cam = axis_camera(port=port)
    async with sim([cam]) as server, vapix(cam) as v:
        live = server.camera(cam.id)
        assert live.cloud_reachable()
        status, body = await v.get(
            "action=update&RemoteService.Enabled=no&Network.UPnP.Enabled=no&Network.UPnP.NATTraversal.Enabled=no"
        )
        assert (status, body) == (200, "OK\n")
        _, body = await v.get("action=list&group=RemoteService,Network.UPnP")
        p = parse(body)
        assert p["root.RemoteService.Enabled"] == "no" and p["root.Network.UPnP.Enabled"] == "no"
        assert live.features == {"remote_service": False, "upnp": False, "upnp_portmap": False}
        assert not live.cloud_reachable()
        writes = dict(live.writes)
        assert writes == {"feature.remote_service": 1, "feature.upnp": 1, "feature.upnp_portmap": 1}
        _, body = await v.post({"action": "update", "root.RemoteService.Enabled": "no"})
        assert body == "OK\n" and live.writes == writes  # idempotent
        # oneclick and yes both mean "on"
        _, body = await v.get("action=update&RemoteService.Enabled=yes")
        assert live.features["remote_service"] is True
        _, body = await v.get("action=list&group=RemoteService.Enabled")
        assert parse(body)["root.RemoteService.Enabled"] == "yes"


async def test_update_errors_change_nothing(sim: Sim, port: int) -> None:
    cam = axis_camera(port=port)
    async with sim([cam]) as server, vapix(cam) as v:
        live = server.camera(cam.id)
        cases = {
            "action=update&RemoteService.Enabled=maybe": "# Error: Error setting 'root.RemoteService.Enabled' to 'maybe'!\n",
            "action=update&Network.UPnP.Enabled=no&Brand.Brand=ACME": "# Error: Error setting 'root.Brand.Brand' to 'ACME'!\n",
            "action=update&Network.Nope=1": "# Error: Error setting 'root.Network.Nope' to '1'!\n",
            "action=update&Network.Filter.Input.AcceptAddresses=300.1.1.1": (
                "# Error: Error setting 'root.Network.Filter.Input.AcceptAddresses' to '300.1.1.1'!\n"
            ),
            "action=update": "# Error: No parameters to update\n",
            "action=explode": "# Error: Invalid action 'explode'\n",
        }
        for query, expected in cases.items():
            status, body = await v.get(query)
            assert (status, body) == (200, expected), query
        assert live.writes == {} and live.features["upnp"] is True


async def test_filter_update_is_enforced_and_visible_via_onvif(sim: Sim, port: int) -> None:
    cam = axis_camera(port=port)
    async with sim([cam]) as server, vapix(cam) as v:
        live = server.camera(cam.id)
        status, body = await v.post(
            {
                "action": "update",
                "Network.Filter.Enabled": "yes",
                "Network.Filter.Input.Policy": "allow",
                "Network.Filter.Input.AcceptAddresses": "127.0.0.1 10.0.0.0/8",
            }
        )
        assert body == "OK\n"
        assert live.network.ip_filter.type == "Allow"
        assert live.network.ip_filter.ipv4 == [("127.0.0.1", 32), ("10.0.0.0", 8)]
        assert live.writes == {"ip_filter": 1}
        _, body = await v.get("action=list&group=Network.Filter")
        p = parse(body)
        assert p["root.Network.Filter.Enabled"] == "yes"
        assert p["root.Network.Filter.Input.AcceptAddresses"] == "127.0.0.1 10.0.0.0/8"
        # the same state through ONVIF GetIPAddressFilter
        async with device(live, password=live.users[0].password) as dm:
            flt = await call(dm, "GetIPAddressFilter")
            assert flt.Type == "Allow"
            assert [(a.Address, a.PrefixLength) for a in flt.IPv4Address] == [
                ("127.0.0.1", 32),
                ("10.0.0.0", 8),
            ]
        # a second source address is refused for real
        async with vapix(cam, local="127.0.0.2") as other:
            try:
                status, _ = await other.get("action=list&group=Brand")
            except aiohttp.ClientError:
                status = 403  # the camera may also just drop the connection
            assert status == 403
        # switching the filter off keeps the list for later, as the camera does
        _, body = await v.get("action=update&Network.Filter.Enabled=no")
        assert body == "OK\n" and live.network.ip_filter.ipv4 == [] and live.writes == {"ip_filter": 2}
        _, body = await v.get("action=list&group=Network.Filter")
        assert parse(body)["root.Network.Filter.Input.AcceptAddresses"] == "127.0.0.1 10.0.0.0/8"
        async with vapix(cam, local="127.0.0.2") as other:
            status, _ = await other.get("action=list&group=Brand")
            assert status == 200
        _, body = await v.get("action=update&Network.Filter.Enabled=yes")
        assert live.network.ip_filter.ipv4 == [("127.0.0.1", 32), ("10.0.0.0", 8)]


async def test_no_server_banner_and_generic_has_no_vendor_api(sim: Sim, port: int) -> None:
    cam = axis_camera(port=port)
    generic = make_camera(1, "generic", 3, "127.0.1.2", port=port)
    async with sim([cam, generic]), vapix(cam) as v:
        async with v.session.get(f"{v.base}{PATH}?action=list&group=Brand") as r:
            assert r.status == 200 and "Server" not in r.headers
            assert r.headers["Content-Type"].startswith("text/plain")
        async with v.session.get(f"http://127.0.1.2:{port}{PATH}?action=list") as r:
            assert r.status == 404
