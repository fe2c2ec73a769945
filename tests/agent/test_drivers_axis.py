"""Axis VAPIX driver against camsim over real HTTP digest: param.cgi identity, RemoteService, UPnP, filter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.drivers.axis import AxisDriver
from agent.drivers.base import IPFilterConfig, WriteRejected, setting_matches
from agent.errors import ProtocolError, Unsupported
from camsim.model import Camera
from tests.agent.drivers_support import evidence_of, fleet, found, of, present, sim_with_http

pytestmark = pytest.mark.integration

DRV = AxisDriver()


def _axis_fleet() -> tuple[Camera, Camera, Camera]:
    cams = fleet({"axis": 2, "hikvision": 1, "dahua": 1}, 8, seed=21)
    axis = of(cams, "axis")[0]
    axis.features["remote_service"] = True  # found with O3C in 'oneclick' mode, like the M1065-LW fixture
    axis.feature_detail["remote_service.mode"] = "oneclick"
    return axis, of(cams, "hikvision")[0], of(cams, "dahua")[0]


async def test_probe_and_identity() -> None:
    axis, hik, dahua = _axis_fleet()
    async with sim_with_http([axis, hik, dahua]) as (_, https):
        assert await present(https[axis.id], DRV, evidence_of(axis)) is True
        assert await present(https[hik.id], DRV, evidence_of(hik)) is False
        assert await present(https[dahua.id], DRV, evidence_of(dahua)) is False
        assert await found(https[axis.id], evidence_of(axis)) == ["axis"]
        ident = await DRV.read_identity(https[axis.id])
    assert ident["Brand.Brand"] == "AXIS"
    assert ident["Brand.ProdNbr"] == axis.identity.model
    assert ident["Properties.Firmware.Version"] == axis.identity.firmware
    assert ident["Properties.System.SerialNumber"] == axis.identity.serial


async def test_read_settings() -> None:
    axis, *_ = _axis_fleet()
    async with sim_with_http([axis]) as (_, https):
        settings = await DRV.read_settings(https[axis.id])
    assert settings["remote_service"].value == "oneclick"
    assert settings["upnp"].value is axis.features["upnp"]
    assert settings["ip_filter"].value == IPFilterConfig(False, "allow", ())


async def test_remote_service_off_already_and_exact_rollback() -> None:
    axis, *_ = _axis_fleet()
    async with sim_with_http([axis]) as (_, https):
        http = https[axis.id]
        res = await DRV.write_setting(http, "remote_service", False)  # disable_cloud asks for "off"
        assert (res.outcome, res.previous, res.value) == ("changed", "oneclick", "no")
        assert axis.features["remote_service"] is False
        assert axis.writes["feature.remote_service"] == 1
        assert (await DRV.write_setting(http, "remote_service", False)).outcome == "already"
        assert (await DRV.write_setting(http, "remote_service", "no")).outcome == "already"
        assert axis.writes["feature.remote_service"] == 1
        # Rollback to the snapshot value restores 'oneclick' exactly, not a lossy 'yes'.
        assert (await DRV.write_setting(http, "remote_service", res.previous)).outcome == "changed"
        assert (await DRV.read_setting(http, "remote_service")).value == "oneclick"


async def test_upnp_write_sticks() -> None:
    axis, *_ = _axis_fleet()
    before = axis.features["upnp"]
    async with sim_with_http([axis]) as (_, https):
        http = https[axis.id]
        assert (await DRV.write_setting(http, "upnp", not before)).outcome == "changed"
        assert axis.features["upnp"] is (not before)
        back = await DRV.read_setting(http, "upnp")
        assert setting_matches(back, not before)
        assert (await DRV.write_setting(http, "upnp", not before)).outcome == "already"
        assert axis.writes["feature.upnp"] == 1


async def test_ip_filter_write_and_disable_keeps_list() -> None:
    axis, *_ = _axis_fleet()
    want = IPFilterConfig.build(True, "allow", ["127.0.0.0/8", "192.0.2.10"])
    async with sim_with_http([axis]) as (_, https):
        http = https[axis.id]
        assert (await DRV.write_setting(http, "ip_filter", want)).outcome == "changed"
        assert axis.network.ip_filter.ipv4 == [("127.0.0.0", 8), ("192.0.2.10", 32)]
        assert (await DRV.read_setting(http, "ip_filter")).value == want
        assert (await DRV.write_setting(http, "ip_filter", want)).outcome == "already"
        off = IPFilterConfig(False, "allow", want.addresses)
        assert (await DRV.write_setting(http, "ip_filter", off)).outcome == "changed"
        assert axis.network.ip_filter.ipv4 == []
        assert (await DRV.read_setting(http, "ip_filter")).value == off  # VAPIX keeps the list while off


async def test_unsupported_and_rejected() -> None:
    axis, hik, dahua = _axis_fleet()
    async with sim_with_http([axis, hik, dahua]) as (_, https):
        with pytest.raises(Unsupported):
            await DRV.list_group(https[axis.id], "NoSuchGroup")  # `# Error: ... getting param in group`
        with pytest.raises(Unsupported):
            await DRV.write_setting(https[axis.id], "telnet", False)
        with pytest.raises(TypeError):
            await DRV.write_setting(https[axis.id], "remote_service", "sometimes")
        for other in (hik, dahua):
            assert not any(s.supported for s in (await DRV.read_settings(https[other.id])).values())
            with pytest.raises(Unsupported):
                await DRV.read_identity(https[other.id])


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class _CannedHttp:
    """A tiny leaf stand-in: canned param.cgi replies in order, recording what was sent."""

    base_url = "http://127.0.0.9"

    def __init__(self, *bodies: bytes) -> None:
        self.bodies = list(bodies)
        self.sent: list[str] = []

    async def request(self, method: str, path: str, **kw: Any) -> _Reply:
        self.sent.append(str(kw.get("data")))
        return _Reply(200, self.bodies.pop(0))


async def test_update_error_reply_is_rejected() -> None:
    """A `# Error:` answer to an update is a refusal (WriteRejected), never a silent 'changed'."""
    http = _CannedHttp(
        b"root.Network.UPnP.Enabled=yes\n", b"# Error: Error setting 'root.Network.UPnP.Enabled'!\n"
    )
    with pytest.raises(WriteRejected) as ei:
        await DRV.write_setting(http, "upnp", False)
    assert ei.value.raw is not None and ei.value.raw.startswith(b"# Error")
    assert http.sent[1] == "action=update&Network.UPnP.Enabled=no"
    # A reply that is neither OK nor an error is not taken as success either.
    with pytest.raises(ProtocolError):
        await DRV.write_setting(
            _CannedHttp(b"root.Network.UPnP.Enabled=yes\n", b"<html>hi</html>"), "upnp", False
        )


async def test_malformed_list_blocks_the_write() -> None:
    axis, *_ = _axis_fleet()
    async with sim_with_http([axis]) as (_, https):
        axis.faults.malformed_rate = 1.0
        with pytest.raises(ProtocolError):
            await DRV.write_setting(https[axis.id], "upnp", not axis.features["upnp"])
    assert "feature.upnp" not in axis.writes


async def test_groups_read_together_give_what_each_group_alone_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Identity and settings come from one `group=root.A,root.B` list each (VAPIX), the same values as one list per
    group, in half the requests."""
    cams = of(fleet({"axis": 6}, 6, seed=22), "axis")
    cams[0].features["remote_service"] = True
    async with sim_with_http(cams) as (server, https):
        results, requests = [], []
        for together in (True, False):
            if not together:
                monkeypatch.setattr(AxisDriver, "_list_together", _never)
            before = server.requests
            results.append(
                [(await DRV.read_identity(https[c.id]), await DRV.read_settings(https[c.id])) for c in cams]
            )
            requests.append(server.requests - before)
    assert results[0] == results[1]
    assert results[0][0][1]["remote_service"].value == "oneclick"
    # Together: identity + settings, plus the first request's digest challenge. Alone: Brand, Properties and the
    # three settings' groups (the challenge already answered).
    assert requests == [2 * len(cams) + len(cams), 5 * len(cams)]


async def _never(self: AxisDriver, http: Any, groups: Any) -> None:
    return None


async def test_a_group_missing_from_a_joint_list_falls_back_to_one_list_per_group() -> None:
    """Firmware without RemoteService answers the joint list with `# Error`: each group is then asked alone, and the
    missing one is unsupported while the others keep their values."""
    http = _CannedHttp(
        b"# Error: Error -1 getting param in group 'root.RemoteService'\n",
        b"# Error: Error -1 getting param in group 'root.RemoteService'\n",
        b"root.Network.UPnP.Enabled=yes\n",
    )
    settings = await DRV.read_settings(http, names={"remote_service", "upnp"})  # type: ignore[arg-type]
    assert http.sent == ["action=list&group=root.RemoteService%2Croot.Network.UPnP",
                         "action=list&group=root.RemoteService", "action=list&group=root.Network.UPnP"]  # fmt: skip
    assert not settings["remote_service"].supported and settings["upnp"].value is True


async def test_inventory_read_is_one_listing_with_what_identity_and_settings_give() -> None:
    """The inventory's read (identity + the record's settings) is one `action=list` of four groups: the same values
    as read_identity + read_settings, in one request instead of two."""
    cams = of(fleet({"axis": 4}, 4, seed=23), "axis")
    cams[0].features["remote_service"] = True
    names = {"remote_service", "upnp", "telnet"}  # telnet: not an Axis setting, as the inventory asks for it
    async with sim_with_http(cams) as (server, https):
        for c in cams:
            await DRV.read_identity(https[c.id])  # the digest challenge answered before counting
        before = server.requests
        joint = [await DRV.read_inventory(https[c.id], names) for c in cams]
        used = server.requests - before
        apart = [
            (await DRV.read_identity(https[c.id]), await DRV.read_settings(https[c.id], names)) for c in cams
        ]
    assert joint == apart
    assert joint[0][1]["remote_service"].value == "oneclick" and set(joint[0][1]) == {
        "remote_service",
        "upnp",
    }
    assert used == len(cams)


async def test_inventory_read_falls_back_when_the_joint_listing_is_refused() -> None:
    """A camera without RemoteService answers the four-group list with `# Error`: identity and settings are then read
    as read_identity and read_settings read them (identity together, the missing group unsupported)."""
    error = b"# Error: Error -1 getting param in group 'root.RemoteService'\n"
    http = _CannedHttp(
        error,
        b"root.Brand.Brand=AXIS\nroot.Brand.ProdNbr=M1065-LW\nroot.Properties.System.SerialNumber=ACCC8E000001\n",
        error,
        error,
        b"root.Network.UPnP.Enabled=no\n",
    )
    identity, settings = await DRV.read_inventory(http, {"remote_service", "upnp"})  # type: ignore[arg-type]
    assert http.sent[0] == (
        "action=list&group=root.Brand%2Croot.Properties%2Croot.RemoteService%2Croot.Network.UPnP"
    )
    assert (
        identity["Brand.ProdNbr"] == "M1065-LW"
        and identity["Properties.System.SerialNumber"] == "ACCC8E000001"
    )
    assert not settings["remote_service"].supported and settings["upnp"].value is False
    assert len(http.sent) == 5
