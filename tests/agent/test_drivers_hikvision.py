"""Hikvision ISAPI driver against camsim over real HTTP digest: identity, settings, writes, reboot, reset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.drivers import DRIVERS
from agent.drivers.base import AccessProtocol, IPFilterConfig, WriteRejected, setting_matches
from agent.drivers.hikvision import HikvisionDriver
from agent.errors import AuthFailed, ProtocolError, Unreachable, Unsupported
from camsim.model import Camera
from tests.agent.drivers_support import evidence_of, fleet, found, of, present, sim_with_http
from tests.timing import until

pytestmark = pytest.mark.integration

DRV = HikvisionDriver()
BOOL_SETTINGS = ("ezviz", "ehome", "upnp", "upnp_portmap", "ddns", "telnet", "ssh")


def _hik_fleet() -> tuple[Camera, Camera, Camera, Camera]:
    """A Hikvision camera with every feature, a rebrand (LTS/Annke/HiWatch...), a Dahua and an Axis."""
    cams = fleet({"hikvision": 2, "oem": 2, "dahua": 1, "axis": 1}, 14, seed=5)
    hik = next(c for c in of(cams, "hikvision") if not c.identity.oem_brand)
    oem = next(c for c in of(cams, "hikvision") if c.identity.oem_brand)
    dahua = of(cams, "dahua")[0]
    axis = of(cams, "axis")[0]
    return hik, oem, dahua, axis


async def test_probe_identity_and_attribution_evidence() -> None:
    hik, oem, dahua, axis = _hik_fleet()
    async with sim_with_http([hik, oem, dahua, axis]) as (_, https):
        assert await present(https[hik.id], DRV, evidence_of(hik)) is True
        # A rebrand answers ISAPI whatever its Manufacturer string says: that is the evidence.
        assert await present(https[oem.id], DRV, evidence_of(oem)) is True
        assert await present(https[dahua.id], DRV, evidence_of(dahua)) is False
        assert await present(https[axis.id], DRV, evidence_of(axis)) is False
        assert await found(https[oem.id], evidence_of(oem)) == ["hikvision"]
        # Without evidence that points at Hikvision the credential is never sent to /ISAPI/ at all.
        before = sum(oem.auth_failures.values())
        assert await found(https[oem.id]) == []
        assert sum(oem.auth_failures.values()) == before

        ident = await DRV.read_identity(https[hik.id])
        fw, _, build = hik.identity.firmware.partition(" build ")
        assert ident["model"] == hik.identity.model
        assert ident["firmwareVersion"] == fw
        assert ident["firmwareReleasedDate"] == f"build {build}"
        assert ident["serialNumber"] == hik.identity.serial
        assert ident["manufacturer"] == "hikvision"
        assert ident["OEMCode"] == "1"

        oem_ident = await DRV.read_identity(https[oem.id])
        assert oem_ident["manufacturer"] == oem.identity.oem_brand
        assert oem_ident["OEMCode"] != "1"
        assert oem_ident["macAddress"] == oem.identity.mac


async def test_read_settings_can_read_only_the_named_ones() -> None:
    """The inventory asks for the settings its record holds; the others cost no request."""
    hik, *_ = _hik_fleet()
    async with sim_with_http([hik]) as (sim, https):
        before = sim.traffic.get(hik.id, {}).get("requests", 0)
        settings = await DRV.read_settings(https[hik.id], names={"ezviz", "ssh"})
        spent = sim.traffic[hik.id]["requests"] - before
    assert set(settings) == {"ezviz", "ssh"}
    assert settings["ezviz"].value is hik.features["ezviz"]
    assert spent <= 4  # capabilities, the two settings, at most one digest challenge (all nine: 10-11)


async def test_read_settings_match_camera_state() -> None:
    hik, *_ = _hik_fleet()
    async with sim_with_http([hik]) as (_, https):
        settings = await DRV.read_settings(https[hik.id])
    assert set(settings) == set(DRV.setting_names)
    for name in BOOL_SETTINGS:
        assert settings[name].supported, name
        assert settings[name].value is hik.features[name], name
    assert settings["ip_filter"].value == IPFilterConfig(False, "allow", ())
    access = settings["admin_accesses"].value
    assert isinstance(access, tuple)
    assert AccessProtocol("HTTP", True, hik.port) in access
    assert AccessProtocol("DEV_MANAGE", True, 8000) in access
    if hik.features["ezviz"]:
        assert dict(settings["ezviz"].detail)["serverAddress"].endswith("hik-connect.com")


@pytest.mark.parametrize("name", BOOL_SETTINGS)
async def test_write_each_bool_setting_sticks_and_second_write_is_already(name: str) -> None:
    hik, *_ = _hik_fleet()
    before = hik.features[name]
    async with sim_with_http([hik]) as (_, https):
        http = https[hik.id]
        res = await DRV.write_setting(http, name, not before)
        assert (res.outcome, res.previous, res.value) == ("changed", before, not before)
        assert hik.features[name] is (not before)
        writes = hik.writes.get(f"feature.{name}")
        assert writes == 1
        again = await DRV.write_setting(http, name, not before)
        assert again.outcome == "already"
        assert hik.writes.get(f"feature.{name}") == 1  # no duplicate write reached the camera
        back = await DRV.read_setting(http, name)
        assert back.value is (not before)
        assert setting_matches(back, not before) and not setting_matches(back, before)
        # Rollback restores the exact prior value.
        assert (await DRV.write_setting(http, name, before)).outcome == "changed"
        assert hik.features[name] is before


async def test_put_keeps_the_live_body() -> None:
    """GET-modify-PUT: the DDNS provider the camera reported survives a write of <enabled>."""
    hik, *_ = _hik_fleet()
    hik.feature_detail["ddns.provider"] = "NoIpDns"
    async with sim_with_http([hik]) as (_, https):
        await DRV.write_setting(https[hik.id], "ddns", not hik.features["ddns"])
    assert hik.feature_detail["ddns.provider"] == "NoIpDns"
    assert "ddns.provider" not in hik.writes


async def test_ip_filter_write_readback_and_rollback() -> None:
    hik, *_ = _hik_fleet()
    # Loopback is in the allow list: the agent's own address must always stay allowed.
    want = IPFilterConfig.build(True, "allow", ["127.0.0.0/8", "192.0.2.10"])
    async with sim_with_http([hik]) as (_, https):
        http = https[hik.id]
        prior = (await DRV.read_setting(http, "ip_filter")).value
        res = await DRV.write_setting(http, "ip_filter", want)
        assert res.outcome == "changed"
        assert hik.network.ip_filter.ipv4 == [("127.0.0.0", 8), ("192.0.2.10", 32)]
        assert hik.network.ip_filter.type == "Allow"
        assert (await DRV.read_setting(http, "ip_filter")).value == want
        assert (await DRV.write_setting(http, "ip_filter", want)).outcome == "already"
        assert hik.writes["ip_filter"] == 1
        assert prior is not None
        assert (await DRV.write_setting(http, "ip_filter", prior)).outcome == "changed"
        assert hik.network.ip_filter.ipv4 == []
        # The firmware refuses to enable an empty list: a rejection, not a crash or a false "changed".
        with pytest.raises(WriteRejected):
            await DRV.write_setting(http, "ip_filter", IPFilterConfig(True, "allow", ()))


async def test_admin_accesses_write() -> None:
    hik, *_ = _hik_fleet()
    async with sim_with_http([hik]) as (_, https):
        http = https[hik.id]
        res = await DRV.write_setting(http, "admin_accesses", (AccessProtocol("DEV_MANAGE", False, 8000),))
        assert res.outcome == "changed" and not res.reboot_required
        assert next(p for p in hik.network.protocols if p.name == "DEV_MANAGE").enabled is False
        again = await DRV.write_setting(http, "admin_accesses", (AccessProtocol("DEV_MANAGE", False, 8000),))
        assert again.outcome == "already"
        # A port move needs a reboot on real firmware: statusCode 7 is success-with-reboot.
        moved = await DRV.write_setting(http, "admin_accesses", (AccessProtocol("RTSP", True, 8554),))
        assert moved.outcome == "changed" and moved.reboot_required
        # The web server cannot switch off the HTTP port it answers on: statusCode 4 invalidOperation.
        with pytest.raises(WriteRejected):
            await DRV.write_setting(http, "admin_accesses", (AccessProtocol("HTTP", False, hik.port),))
        with pytest.raises(WriteRejected):
            await DRV.write_setting(http, "admin_accesses", (AccessProtocol("TELNET", False, 23),))


async def test_unsupported_endpoints_are_answers() -> None:
    hik, _, dahua, axis = _hik_fleet()
    # A model without Ehome/telnet/UPnP port mapping and without an IP filter (isSupportIPFilter=false).
    for feature in ("ehome", "telnet", "upnp_portmap"):
        hik.features.pop(feature)
    hik.capabilities = [c for c in hik.capabilities if c != "IPFilter"]
    async with sim_with_http([hik, dahua, axis]) as (_, https):
        settings = await DRV.read_settings(https[hik.id])
        assert not settings["ehome"].supported and "isSupportEhome=false" in settings["ehome"].reason
        assert not settings["ip_filter"].supported
        assert not settings["telnet"].supported and settings["telnet"].value is None
        assert not settings["upnp_portmap"].supported  # capability says UPnP yes, endpoint says notSupport
        assert settings["ssh"].supported
        with pytest.raises(Unsupported):
            await DRV.write_setting(https[hik.id], "telnet", False)
        with pytest.raises(Unsupported):
            await DRV.write_setting(https[hik.id], "no_such_setting", False)
        # Other personalities: ISAPI is simply absent.
        for other in (dahua, axis):
            other_settings = await DRV.read_settings(https[other.id])
            assert not any(s.supported for s in other_settings.values())
            with pytest.raises(Unsupported):
                await DRV.read_identity(https[other.id])


async def test_reboot_and_factory_reset() -> None:
    hik, *_ = _hik_fleet()
    async with sim_with_http([hik]) as (_, https):
        http = https[hik.id]
        boots = hik.boots
        status = await DRV.reboot(http)
        assert status.ok and status.status_code == 1
        assert hik.boots == boots + 1 and hik.writes["reboot"] == 1
        await until(lambda: not hik.is_down(), 10, "the camera back from its reboot")
        await DRV.write_setting(http, "ezviz", not hik.features["ezviz"])
        status = await DRV.factory_reset(http, "basic")
        assert status.ok
        assert hik.writes["factory_default.soft"] == 1
        assert hik.features["ezviz"] == hik.defaults["features"]["ezviz"]  # type: ignore[index]


async def test_wrong_password_is_one_auth_failure() -> None:
    hik, *_ = _hik_fleet()
    async with sim_with_http([hik], password="wrong-password") as (_, https):
        with pytest.raises(AuthFailed):
            await DRV.read_identity(https[hik.id])
    assert sum(hik.auth_failures.values()) == 1  # never retried


async def test_malformed_and_failing_replies_are_classified() -> None:
    hik, *_ = _hik_fleet()
    async with sim_with_http([hik]) as (_, https):
        hik.faults.malformed_rate = 1.0
        with pytest.raises(ProtocolError) as ei:
            await DRV.read_identity(https[hik.id])
        assert ei.value.raw and ei.value.raw.startswith(b"<?xml")
        assert await present(https[hik.id], DRV, evidence_of(hik)) is False
        hik.faults.malformed_rate = 0.0
        hik.faults.http500_rate = 1.0
        with pytest.raises(Unreachable):
            await DRV.read_identity(https[hik.id])


def test_registry() -> None:
    assert set(DRIVERS) == {"hikvision", "dahua", "axis"}
    assert DRIVERS["hikvision"].setting_names == (
        "ezviz",
        "ehome",
        "upnp",
        "upnp_portmap",
        "ddns",
        "telnet",
        "ssh",
        "ip_filter",
        "admin_accesses",
    )


# ---- status mapping with a tiny canned transport (firmware replies camsim does not produce) -------------


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class _CannedHttp:
    """A tiny leaf stand-in: replies by (method, path), recording every request."""

    base_url = "http://127.0.0.9"

    def __init__(self, replies: dict[tuple[str, str], _Reply]) -> None:
        self.replies = replies
        self.sent: list[tuple[str, str, bytes | str | None]] = []

    async def request(self, method: str, path: str, **kw: Any) -> _Reply:
        self.sent.append((method, path, kw.get("data")))
        return self.replies.get((method, path), _Reply(404, b""))


def _status(code: int, sub: str, ns: str = "http://www.isapi.org/ver20/XMLSchema") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" xmlns="{ns}">'
        f"<statusCode>{code}</statusCode><statusString>s</statusString><subStatusCode>{sub}</subStatusCode>"
        "</ResponseStatus>"
    ).encode()


_EZVIZ = (
    b'<?xml version="1.0" encoding="UTF-8"?><EZVIZ version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
    b"<enabled>true</enabled><verificationCode>ABCDEF</verificationCode></EZVIZ>"
)


async def test_isapi_status_mapping_on_newer_namespace() -> None:
    path = "/ISAPI/System/Network/EZVIZ"
    http = _CannedHttp(
        {
            ("GET", path): _Reply(200, _EZVIZ),
            ("PUT", path): _Reply(400, _status(6, "badXmlContent")),
            ("GET", "/ISAPI/System/Network/Ehome"): _Reply(403, _status(4, "notSupport")),
            ("GET", "/ISAPI/System/capabilities"): _Reply(404, b"Not Found"),
            ("GET", "/ISAPI/System/Network/telnetd"): _Reply(403, _status(4, "invalidOperation")),
        }
    )
    with pytest.raises(WriteRejected) as ei:
        await DRV.write_setting(http, "ezviz", False)
    assert "statusCode 6" in ei.value.message
    method, _, body = http.sent[-1]
    assert method == "PUT" and isinstance(body, bytes)
    # The PUT body is the live document (isapi.org namespace, verificationCode kept), only <enabled> changed.
    assert b"http://www.isapi.org/ver20/XMLSchema" in body and b"ABCDEF" in body
    assert b"<enabled>false</enabled>" in body
    settings = await DRV.read_settings(http)
    assert settings["ezviz"].value is True
    assert not settings["ehome"].supported and "notSupport" in settings["ehome"].reason
    assert not settings["ssh"].supported  # plain 404
    assert not settings["telnet"].supported and "invalidOperation" in settings["telnet"].reason
    # A bare 403 is a missing privilege (viewer account): an operator problem, never retried.
    with pytest.raises(AuthFailed):
        await DRV.read_identity(_CannedHttp({("GET", "/ISAPI/System/deviceInfo"): _Reply(403, b"Forbidden")}))


async def test_reboot_required_is_success() -> None:
    path = "/ISAPI/System/Network/EZVIZ"
    http = _CannedHttp(
        {("GET", path): _Reply(200, _EZVIZ), ("PUT", path): _Reply(200, _status(7, "rebootRequired"))}
    )
    res = await DRV.write_setting(http, "ezviz", False)
    assert res.outcome == "changed" and res.reboot_required
    http = _CannedHttp({("GET", path): _Reply(200, _EZVIZ), ("PUT", path): _Reply(200, b"<html>OK</html>")})
    with pytest.raises(ProtocolError):
        await DRV.write_setting(http, "ezviz", False)
