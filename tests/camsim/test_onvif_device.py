"""camsim's ONVIF Device service driven by onvif-zeep-async: every operation, Set->Get, faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import zeep.exceptions

from tests.camsim.conftest import run_sim
from tests.camsim.onvif_helpers import call, camera, device, fault_code, subcodes
from tests.timing import scaled, until_async

pytestmark = pytest.mark.integration

PERSONALITIES = ["hikvision", "dahua", "axis", "generic"]


@pytest.mark.parametrize("personality", PERSONALITIES)
async def test_read_operations(personality: str) -> None:
    cam = camera(personality, clock_skew_s=0.0)
    async with run_sim([cam]), device(cam) as dm:
        info = await call(dm, "GetDeviceInformation")
        assert (info.Manufacturer, info.Model, info.SerialNumber) == (
            cam.identity.manufacturer,
            cam.identity.model,
            cam.identity.serial,
        )
        assert info.FirmwareVersion == cam.identity.firmware and info.HardwareId == cam.identity.hardware_id

        sdt = await call(dm, "GetSystemDateAndTime")
        u = sdt.UTCDateTime
        cam_time = datetime(
            u.Date.Year, u.Date.Month, u.Date.Day, u.Time.Hour, u.Time.Minute, u.Time.Second, tzinfo=UTC
        )
        assert abs(cam_time.timestamp() - time.time()) < 5

        scopes = await call(dm, "GetScopes")
        assert [s.ScopeItem for s in scopes] == cam.scopes
        assert {s.ScopeItem: s.ScopeDef for s in scopes}[
            "onvif://www.onvif.org/name/TEST-1"
        ] == "Configurable"

        ifaces = await call(dm, "GetNetworkInterfaces")
        assert ifaces[0].Info.HwAddress == cam.identity.mac
        assert ifaces[0].IPv4.Config.Manual[0].Address == cam.network.address

        services = await call(dm, "GetServices", {"IncludeCapability": True})
        dev = next(s for s in services if s.Namespace == "http://www.onvif.org/ver10/device/wsdl")
        # XAddrs carry the address and port the client reached.
        assert dev.XAddr == f"http://{cam.network.address}:{cam.port}/onvif/device_service"

        sc = await call(dm, "GetServiceCapabilities")
        assert sc.Network.IPFilter is (personality != "generic")
        assert sc.Network.DynDNS is (personality != "generic")
        assert sc.Security.HttpDigest is True and sc.Security.UsernameToken is True

        caps = await call(dm, "GetCapabilities", {"Category": "All"})
        assert caps.Device.XAddr.startswith(f"http://{cam.network.address}:{cam.port}/")
        assert caps.Device.Network.IPFilter is (personality != "generic")

        users = await call(dm, "GetUsers")
        assert [(u.Username, u.UserLevel, u.Password) for u in users] == [("admin", "Administrator", None)]

        protos = await call(dm, "GetNetworkProtocols")
        assert {(p.Name, p.Enabled, p.Port[0]) for p in protos} == {("HTTP", True, 80), ("RTSP", True, 554)}
        assert await call(dm, "GetDiscoveryMode") == "Discoverable"
        dns = await call(dm, "GetDNS")
        assert [d.IPv4Address for d in dns.DNSManual] == cam.network.dns
        gw = await call(dm, "GetNetworkDefaultGateway")
        assert gw.IPv4Address == cam.network.gateway
        ntp = await call(dm, "GetNTP")
        assert [n.DNSname for n in ntp.NTPManual] == ["pool.ntp.org"]
        zc = await call(dm, "GetZeroConfiguration")
        assert zc.InterfaceToken == "eth0" and zc.Enabled is True and zc.Addresses[0].startswith("169.254.")
        assert (await call(dm, "GetHostname")).Name == cam.network.hostname
    assert cam.writes == {}  # reads never count as writes


async def test_set_then_get_every_setting() -> None:
    cam = camera("hikvision")
    async with run_sim([cam]), device(cam) as dm:
        await call(
            dm, "SetDNS", {"FromDHCP": False, "DNSManual": [{"Type": "IPv4", "IPv4Address": "10.0.0.53"}]}
        )
        dns = await call(dm, "GetDNS")
        assert (dns.FromDHCP, [d.IPv4Address for d in dns.DNSManual]) == (False, ["10.0.0.53"])

        await call(
            dm,
            "SetNTP",
            {
                "FromDHCP": False,
                "NTPManual": [
                    {"Type": "IPv4", "IPv4Address": "10.0.0.1"},
                    {"Type": "DNS", "DNSname": "ntp.corp"},
                ],
            },
        )
        ntp = await call(dm, "GetNTP")
        assert [(n.Type, n.IPv4Address or n.DNSname) for n in ntp.NTPManual] == [
            ("IPv4", "10.0.0.1"),
            ("DNS", "ntp.corp"),
        ]

        await call(dm, "SetNetworkDefaultGateway", {"IPv4Address": []})
        assert (await call(dm, "GetNetworkDefaultGateway")).IPv4Address == []
        assert not cam.network.gateway

        await call(dm, "SetZeroConfiguration", {"InterfaceToken": "eth0", "Enabled": False})
        zc = await call(dm, "GetZeroConfiguration")
        assert zc.Enabled is False and not zc.Addresses

        await call(dm, "SetDiscoveryMode", {"DiscoveryMode": "NonDiscoverable"})
        assert await call(dm, "GetDiscoveryMode") == "NonDiscoverable"

        await call(dm, "SetDynamicDNS", {"Type": "ClientUpdates", "Name": "cam1.example.org"})
        ddns = await call(dm, "GetDynamicDNS")
        assert (ddns.Type, ddns.Name) == ("ClientUpdates", "cam1.example.org")

        await call(
            dm,
            "SetNetworkProtocols",
            {"NetworkProtocols": [{"Name": "RTSP", "Enabled": False, "Port": [554]}]},
        )
        protos = {p.Name: p.Enabled for p in await call(dm, "GetNetworkProtocols")}
        assert protos == {"HTTP": True, "RTSP": False}

        # Allow only 127.0.0.0/8 (keeps this client in), then add and remove an entry.
        filt = {"Type": "Allow", "IPv4Address": [{"Address": "127.0.0.0", "PrefixLength": 8}]}
        await call(dm, "SetIPAddressFilter", {"IPAddressFilter": filt})
        add = {"Type": "Allow", "IPv4Address": [{"Address": "10.1.0.0", "PrefixLength": 16}]}
        await call(dm, "AddIPAddressFilter", {"IPAddressFilter": add})
        got = await call(dm, "GetIPAddressFilter")
        assert got.Type == "Allow"
        assert [(a.Address, a.PrefixLength) for a in got.IPv4Address] == [("127.0.0.0", 8), ("10.1.0.0", 16)]
        await call(dm, "RemoveIPAddressFilter", {"IPAddressFilter": add})
        got = await call(dm, "GetIPAddressFilter")
        assert [(a.Address, a.PrefixLength) for a in got.IPv4Address] == [("127.0.0.0", 8)]
        assert cam.network.ip_filter.blocks_wan()

        await call(dm, "SetHostname", {"Name": "lobby-cam"})
        assert (await call(dm, "GetHostname")).Name == "lobby-cam"

    # Each Set reached the camera exactly once.
    assert cam.writes == {
        "dns": 1,
        "ntp": 1,
        "gateway": 1,
        "zero_configuration": 1,
        "discovery_mode": 1,
        "dyndns": 1,
        "protocol.rtsp": 1,
        "ip_filter": 3,
        "hostname": 1,
    }
    assert not cam.cloud_reachable()  # no gateway, and the filter fences it in


async def test_users_create_set_delete() -> None:
    cam = camera("axis")
    async with run_sim([cam]), device(cam) as dm:
        await call(
            dm,
            "CreateUsers",
            {"User": [{"Username": "op1", "Password": "op1-pass", "UserLevel": "Operator"}]},
        )
        assert {u.Username: u.UserLevel for u in await call(dm, "GetUsers")} == {
            "admin": "Administrator",
            "op1": "Operator",
        }
        await call(
            dm, "SetUser", {"User": [{"Username": "op1", "Password": "new-pass", "UserLevel": "User"}]}
        )
        assert cam.check_password("op1") == "new-pass"
        assert {u.Username: u.UserLevel for u in await call(dm, "GetUsers")}["op1"] == "User"
        with pytest.raises(zeep.exceptions.Fault) as clash:
            await call(
                dm, "CreateUsers", {"User": [{"Username": "op1", "Password": "x", "UserLevel": "User"}]}
            )
        assert fault_code(clash.value) == "Sender" and subcodes(clash.value) == [
            "OperationProhibited",
            "UsernameClash",
        ]
        await call(dm, "DeleteUsers", {"Username": ["op1"]})
        assert [u.Username for u in await call(dm, "GetUsers")] == ["admin"]
        with pytest.raises(zeep.exceptions.Fault) as missing:
            await call(dm, "DeleteUsers", {"Username": ["ghost"]})
        assert subcodes(missing.value) == ["InvalidArgVal", "UsernameMissing"]
    assert cam.writes == {"user.op1": 3}


async def test_hikvision_refuses_weak_password_and_deleting_admin() -> None:
    cam = camera("hikvision")
    async with run_sim([cam]), device(cam) as dm:
        with pytest.raises(zeep.exceptions.Fault) as weak:
            await call(
                dm, "CreateUsers", {"User": [{"Username": "u", "Password": "short", "UserLevel": "User"}]}
            )
        assert subcodes(weak.value) == ["OperationProhibited", "PasswordTooWeak"]
        with pytest.raises(zeep.exceptions.Fault) as fixed:
            await call(dm, "DeleteUsers", {"Username": ["admin"]})
        assert subcodes(fixed.value) == ["OperationProhibited", "FixedUser"]
    assert cam.writes == {} and [u.username for u in cam.users] == ["admin"]


@pytest.mark.parametrize(
    "op,params",
    [
        ("GetIPAddressFilter", None),
        ("SetIPAddressFilter", {"IPAddressFilter": {"Type": "Allow", "IPv4Address": []}}),
        ("AddIPAddressFilter", {"IPAddressFilter": {"Type": "Allow", "IPv4Address": []}}),
        ("RemoveIPAddressFilter", {"IPAddressFilter": {"Type": "Allow", "IPv4Address": []}}),
        ("GetDynamicDNS", None),
        ("SetDynamicDNS", {"Type": "NoUpdate"}),
        ("GetRemoteDiscoveryMode", None),  # deprecated in Core 2.6.1, so nobody implements it
    ],
)
async def test_generic_lacks_optional_operations(op: str, params: dict[str, object] | None) -> None:
    cam = camera("generic")
    async with run_sim([cam]), device(cam) as dm:
        with pytest.raises(zeep.exceptions.Fault) as err:
            await call(dm, op, params)
        assert fault_code(err.value) == "Receiver"
        assert subcodes(err.value) == ["ActionNotSupported"]
    assert cam.writes == {}


@pytest.mark.parametrize(
    "op,params,detail",
    [
        (
            "SetDNS",
            {"FromDHCP": False, "DNSManual": [{"Type": "IPv4", "IPv4Address": "300.1.1.1"}]},
            "InvalidIPv4Address",
        ),
        (
            "SetNTP",
            {"FromDHCP": False, "NTPManual": [{"Type": "DNS", "DNSname": "bad name!"}]},
            "InvalidDnsName",
        ),
        ("SetNetworkDefaultGateway", {"IPv4Address": ["224.0.0.1"]}, "InvalidGatewayAddress"),
        ("SetZeroConfiguration", {"InterfaceToken": "wlan9", "Enabled": True}, "InvalidNetworkInterface"),
        (
            "SetNetworkProtocols",
            {"NetworkProtocols": [{"Name": "HTTPS", "Enabled": True, "Port": [443]}]},
            "ServiceNotSupported",
        ),
        (
            "SetNetworkProtocols",
            {"NetworkProtocols": [{"Name": "RTSP", "Enabled": True, "Port": [80]}]},
            "PortAlreadyInUse",
        ),
        (
            "SetIPAddressFilter",
            {
                "IPAddressFilter": {
                    "Type": "Deny",
                    "IPv4Address": [{"Address": "10.0.0.1", "PrefixLength": 40}],
                }
            },
            "InvalidIPv4Address",
        ),
        (
            "RemoveIPAddressFilter",
            {
                "IPAddressFilter": {
                    "Type": "Allow",
                    "IPv4Address": [{"Address": "10.9.9.9", "PrefixLength": 32}],
                }
            },
            "NoIPv4Address",
        ),
        ("SetSystemFactoryDefault", {"FactoryDefault": "Medium"}, None),
        ("SetDiscoveryMode", {"DiscoveryMode": "Hidden"}, None),
    ],
)
async def test_bad_arguments_are_invalid_arg_val(
    op: str, params: dict[str, object], detail: str | None
) -> None:
    cam = camera("dahua")
    async with run_sim([cam]), device(cam) as dm:
        with pytest.raises(zeep.exceptions.Fault) as err:
            await call(dm, op, params)
        assert fault_code(err.value) == "Sender"
        assert subcodes(err.value) == ["InvalidArgVal", *([detail] if detail else [])]
    assert cam.writes == {} and not cam.is_down()


async def answers(dm: Any) -> bool:
    """The device service answers again (after a reboot or a reset)."""
    try:
        await call(dm, "GetSystemDateAndTime")
    except Exception:
        return False
    return True


async def test_reboot_replies_then_goes_down_and_comes_back() -> None:
    cam = camera("hikvision")
    cam.faults.reboot_seconds = scaled(3.0)  # long enough to see it down, even on a loaded machine
    async with run_sim([cam]), device(cam) as dm:
        msg = await call(dm, "SystemReboot")
        assert isinstance(msg, str) and msg
        assert cam.boots == 2 and cam.is_down()
        with pytest.raises(Exception):  # noqa: B017 - connection refused/reset, whatever aiohttp raises
            await call(dm, "GetDeviceInformation")
        await until_async(lambda: answers(dm), 30, "the camera back after its reboot")
        assert (await call(dm, "GetDeviceInformation")).Model == cam.identity.model


@pytest.mark.parametrize("mode", ["Soft", "Hard"])
async def test_factory_default_restores_settings(mode: str) -> None:
    cam = camera("dahua")
    cam.faults.reboot_seconds = scaled(1.0)
    async with run_sim([cam]), device(cam) as dm:
        await call(dm, "SetDNS", {"FromDHCP": True})
        await call(dm, "SetNetworkDefaultGateway", {"IPv4Address": ["192.0.2.254"]})
        await call(
            dm,
            "CreateUsers",
            {"User": [{"Username": "extra", "Password": "Extra-pass1", "UserLevel": "User"}]},
        )
        await call(dm, "SetSystemFactoryDefault", {"FactoryDefault": mode})
        assert cam.is_down()
        await until_async(lambda: answers(dm), 30, "the camera back after its reset")
        dns = await call(dm, "GetDNS")
        assert dns.FromDHCP is False and [d.IPv4Address for d in dns.DNSManual] == ["192.0.2.53"]
        assert [u.Username for u in await call(dm, "GetUsers")] == ["admin"]
        gw = (await call(dm, "GetNetworkDefaultGateway")).IPv4Address
        # Core: a soft reset keeps address, prefix and gateway; a hard one does not.
        assert gw == (["192.0.2.254"] if mode == "Soft" else ["192.0.2.1"])
    assert cam.writes[f"factory_default.{mode.lower()}"] == 1


async def test_set_system_date_and_time_moves_the_camera_clock() -> None:
    cam = camera("axis")
    async with run_sim([cam]), device(cam) as dm:
        when = {"Date": {"Year": 2030, "Month": 1, "Day": 2}, "Time": {"Hour": 3, "Minute": 4, "Second": 5}}
        await call(
            dm,
            "SetSystemDateAndTime",
            {"DateTimeType": "Manual", "DaylightSavings": False, "UTCDateTime": when},
        )
        assert abs(cam.now() - datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()) < 5
        sdt = await call(dm, "GetSystemDateAndTime")
        assert sdt.UTCDateTime.Date.Year == 2030 and sdt.DateTimeType == "Manual"
    assert cam.writes == {"datetime": 1}


async def test_generated_fleet_every_personality_over_onvif() -> None:
    """Cameras from camsim.fleet (OEM rebrands and single-auth-mode ones included) answer like their maker."""
    import aiohttp

    from camsim.fleet import generate_fleet
    from tests.camsim.onvif_helpers import GET_INFO_BODY, envelope, post

    fleet = generate_fleet(
        12,
        {"hikvision": 1, "dahua": 1, "axis": 1, "generic": 1, "oem": 2},
        seed=7,
        port=0,
        auth_only_share=0.3,
    )
    assert {("digest",), ("wsse",), ("digest", "wsse")} == {tuple(c.auth.modes) for c in fleet}
    assert any(c.identity.oem_brand for c in fleet)
    async with run_sim(fleet):
        for cam in fleet:
            password = cam.users[0].password
            if "wsse" in cam.auth.modes:
                async with device(cam, cam.users[0].username, password) as dm:
                    info = await call(dm, "GetDeviceInformation")
                    assert (info.Manufacturer, info.SerialNumber) == (
                        cam.identity.manufacturer,
                        cam.identity.serial,
                    )
                    ifaces = await call(dm, "GetNetworkInterfaces")
                    assert ifaces[0].Info.HwAddress == cam.identity.mac
                    sc = await call(dm, "GetServiceCapabilities")
                    assert sc.Network.IPFilter is ("IPFilter" in cam.capabilities)
            else:
                mw = aiohttp.DigestAuthMiddleware(cam.users[0].username, password)
                async with aiohttp.ClientSession(middlewares=(mw,)) as s:
                    status, body, _ = await post(s, cam, envelope(GET_INFO_BODY))
                    assert status == 200 and cam.identity.serial.encode() in body
            assert sum(cam.auth_failures.values()) == 0


def test_link_local_address_is_eui64_of_the_mac_like_the_hikvision_recording() -> None:
    from camsim.onvif_network import _link_local_for

    # device.GetNetworkInterfaces.xml: HwAddress 28:57:be:65:7d:d5 -> fe80::2a57:beff:fe65:7dd5
    assert _link_local_for("28:57:be:65:7d:d5") == "fe80::2a57:beff:fe65:7dd5"
