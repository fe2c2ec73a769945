"""camsim's foreign profiles behave like the independent servers of issue 12, over raw HTTP."""

from __future__ import annotations

import aiohttp
import pytest
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim import catalog
from camsim.cli import DEFAULT_MIX
from camsim.fleet import apply_profile, generate_fleet, make_camera, parse_mix
from camsim.model import Camera
from tests.camsim.conftest import find_free_port, run_sim
from tests.camsim.onvif_helpers import SOAP11, envelope, fault_of, post, wsse_header

pytestmark = pytest.mark.integration

TIMEOUT = aiohttp.ClientTimeout(total=10)
DIGEST = 'Digest username="admin", realm="x", nonce="n", uri="/", response="r"'


def foreign(profile: str, n: int, port: int) -> Camera:
    model = next(m for m in catalog.FOREIGN_MODELS if m.profile == profile)
    return make_camera(n, "foreign", 3, f"127.0.73.{n + 1}", port=port, model_name=model.name)


def url(cam: Camera, path: str) -> str:
    return f"http://{cam.network.address}:{cam.port}{path}"


async def test_each_profile_answers_foreign_paths_its_own_way() -> None:
    port = find_free_port()
    cams = {p: foreign(p, i, port) for i, p in enumerate(sorted(catalog.FOREIGN))}
    async with run_sim(list(cams.values())) as server, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        cgi = cams["cgi_forbidden"]
        for hdrs in ({}, {"Authorization": DIGEST}):
            async with s.get(url(cgi, "/cgi-bin/magicBox.cgi?action=getSystemInfo"), headers=hdrs) as r:
                assert r.status == 403  # with or without credentials
        async with s.get(url(cgi, "/ISAPI/System/deviceInfo")) as r:
            assert r.status == 404
        assert r.headers["Server"] == "lighttpd/1.4.59"
        basic = cams["basic_only"]
        async with s.get(url(basic, "/ISAPI/System/deviceInfo")) as r:
            assert r.status == 401 and r.headers.getall("WWW-Authenticate") == [
                f'Basic realm="{basic.auth.realm}"'
            ]
        drop = cams["soap11"]
        with pytest.raises(aiohttp.ClientError):
            async with s.post(url(drop, "/axis-cgi/param.cgi"), data=b"action=list&group=root.Brand") as r:
                await r.read()
        async with s.get(url(drop, "/axis-cgi/param.cgi")) as r:
            assert r.status == 404
        async with s.put(url(cams["minimal"], "/ISAPI/System/Network/EZVIZ")) as r:
            assert r.status == 405
        assert server.traffic[cgi.id]["credentials_to_foreign_path"] == 1  # the one request that carried some


async def test_soap11_firmware_answers_soap11_faults_included() -> None:
    cam = foreign("soap11", 0, find_free_port())
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, resp = await post(s, cam, envelope("<tds:GetSystemDateAndTime/>"))
        assert status == 200 and resp.content_type == "text/xml"
        assert etree.QName(etree.fromstring(body)).namespace == SOAP11
        # A request it cannot read: a SOAP 1.1 fault, the ONVIF code in <detail> as gSOAP puts it.
        status, body, _ = await post(s, cam, b"<not-soap/>")
        fault = etree.fromstring(body).find(f".//{{{SOAP11}}}Fault")
        assert status == 400 and fault is not None
        assert fault.findtext("faultcode").endswith("Client")
        assert [etree.QName(c).localname for c in fault.find("detail")] == ["Namespace"]


async def test_basic_only_profile_wants_a_token_even_for_the_clock() -> None:
    cam = foreign("basic_only", 0, find_free_port())
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, _ = await post(s, cam, envelope("<tds:GetSystemDateAndTime/>"))
        assert status == 400 and fault_of(body)[1] == ["NotAuthorized"]
        header = wsse_header("admin", cam.users[0].password)
        status, body, _ = await post(s, cam, envelope("<tds:GetSystemDateAndTime/>", header))
        assert status == 200
        assert cam.failed_logins == 0  # asking without credentials is not a failed login


async def test_minimal_device_faults_what_it_does_not_implement() -> None:
    cam = foreign("minimal", 0, find_free_port())
    token = wsse_header("admin", cam.users[0].password)
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, _ = await post(
            s, cam, envelope("<tds:SetDiscoveryMode><tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>"
                             "</tds:SetDiscoveryMode>", wsse_header("admin", cam.users[0].password))
        )  # fmt: skip
        assert status == 500 and fault_of(body) == ("Receiver", ["ActionNotSupported"])
        assert cam.network.discovery_mode == "Discoverable"
        status, body, _ = await post(s, cam, envelope("<tds:GetServiceCapabilities/>"))
        assert status == 200 and b'NTP="0"' in body and b'IPFilter="false"' in body
        status, body, _ = await post(s, cam, envelope("<tds:GetNTP/>", token))
        assert status == 200 and cam.network.ntp[0].encode() in body


async def test_routed_client_is_answered_only_through_the_gateway() -> None:
    """A client on another subnet: without a default gateway the camera still gets the request (it was
    routed to it) but cannot answer; a request that restores the gateway is answered."""
    cam = make_camera(0, "generic", 4, "127.0.74.1", port=find_free_port())
    cam.routed_sources = ["127.0.75.0/24"]
    cam.auth.modes = ["wsse"]
    token = lambda: wsse_header("admin", cam.users[0].password)  # noqa: E731
    connector = aiohttp.TCPConnector(local_addr=("127.0.75.9", 0), force_close=True)
    async with run_sim([cam]) as server, aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as s:
        status, _, _ = await post(s, cam, envelope("<tds:GetSystemDateAndTime/>"))
        assert status == 200
        with pytest.raises(aiohttp.ClientError):
            await post(s, cam, envelope("<tds:SetNetworkDefaultGateway/>", token()))
        assert cam.network.gateway == []  # applied, though its answer could not come back
        with pytest.raises(aiohttp.ClientError):
            await post(s, cam, envelope("<tds:GetSystemDateAndTime/>"))
        assert server.traffic[cam.id]["no_route"] >= 1
        gw = "<tds:SetNetworkDefaultGateway><tds:IPv4Address>192.0.2.1</tds:IPv4Address></tds:SetNetworkDefaultGateway>"
        with pytest.raises(aiohttp.ClientError):
            await post(s, cam, envelope("<tds:GetNetworkDefaultGateway/>", token()))
        status, _, _ = await post(s, cam, envelope(gw, token()))
        assert status == 200 and cam.network.gateway == ["192.0.2.1"]


def test_foreign_profiles_are_in_the_default_mix() -> None:
    mix = parse_mix(DEFAULT_MIX)
    assert mix.get("foreign", 0) > 0
    cams = generate_fleet(300, mix, 2022)
    profiles = {c.identity.model for c in cams if c.onvif_ops is not None or c.web != "not_found"}
    assert profiles == {m.name for m in catalog.FOREIGN_MODELS}


def test_profile_is_a_fleet_file_override() -> None:
    cam = make_camera(0, "generic", 1, "127.0.73.1")
    apply_profile(cam, "minimal")
    assert cam.onvif_ops is not None and "SetDiscoveryMode" not in cam.onvif_ops and cam.ntp_count == 0
    with pytest.raises(ValueError):
        apply_profile(cam, "nonsense")
