"""Dahua CGI driver against camsim over real HTTP digest: magicBox identity, configManager switches."""

from __future__ import annotations

import pytest

from agent.drivers.base import setting_matches
from agent.drivers.dahua import DahuaDriver
from agent.errors import ProtocolError, Unsupported
from camsim.model import Camera
from tests.agent.drivers_support import evidence_of, fleet, found, of, present, sim_with_http

pytestmark = pytest.mark.integration

DRV = DahuaDriver()


def _dahua_fleet() -> tuple[Camera, Camera, Camera, Camera]:
    """A Dahua camera, a Dahua-made rebrand (Amcrest/Lorex ...), a Hikvision and an Axis."""
    cams = fleet({"dahua": 2, "oem": 3, "hikvision": 1, "axis": 1}, 16, seed=9)
    dahua = next(c for c in of(cams, "dahua") if not c.identity.oem_brand)
    oem = next(c for c in of(cams, "dahua") if c.identity.oem_brand)
    return dahua, oem, of(cams, "hikvision")[0], of(cams, "axis")[0]


async def test_probe_and_identity() -> None:
    dahua, oem, hik, axis = _dahua_fleet()
    async with sim_with_http([dahua, oem, hik, axis]) as (_, https):
        assert await present(https[dahua.id], DRV, evidence_of(dahua)) is True
        assert await present(https[oem.id], DRV, evidence_of(oem)) is True
        assert await present(https[hik.id], DRV, evidence_of(hik)) is False
        assert await present(https[axis.id], DRV, evidence_of(axis)) is False
        assert await found(https[oem.id], evidence_of(oem)) == ["dahua"]

        ident = await DRV.read_identity(https[dahua.id])
        assert ident["deviceType"] == dahua.identity.model
        assert ident["serialNumber"] == dahua.identity.serial
        assert ident["vendor"] == dahua.identity.manufacturer
        assert ident["version"].startswith(dahua.identity.firmware.split(",")[0].strip())
        assert ",build:" in ident["version"]

        oem_ident = await DRV.read_identity(https[oem.id])
        # getVendor answers the rebrand; updateSerial keeps the Dahua base model: attribution evidence.
        assert oem_ident["vendor"] == oem.identity.oem_brand
        assert oem_ident["updateSerial"] == oem.identity.base_model
        assert oem_ident["deviceType"] == oem.identity.model


async def test_read_settings_match_camera_state() -> None:
    dahua, *_ = _dahua_fleet()
    async with sim_with_http([dahua]) as (_, https):
        settings = await DRV.read_settings(https[dahua.id])
    assert set(settings) == {"t2u", "upnp", "ddns", "telnet"}
    for name, s in settings.items():
        assert s.supported, name
        assert s.value is dahua.features[name], name


@pytest.mark.parametrize("name", ["t2u", "upnp", "ddns", "telnet"])
async def test_write_sticks_and_second_write_is_already(name: str) -> None:
    dahua, *_ = _dahua_fleet()
    before = dahua.features[name]
    async with sim_with_http([dahua]) as (_, https):
        http = https[dahua.id]
        res = await DRV.write_setting(http, name, not before)
        assert (res.outcome, res.previous, res.value) == ("changed", before, not before)
        assert dahua.features[name] is (not before)
        assert dahua.writes[f"feature.{name}"] == 1
        again = await DRV.write_setting(http, name, not before)
        assert again.outcome == "already"
        assert dahua.writes[f"feature.{name}"] == 1
        back = await DRV.read_setting(http, name)
        assert setting_matches(back, not before)
        assert (await DRV.write_setting(http, name, before)).outcome == "changed"
        assert dahua.features[name] is before


async def test_unsupported_tables_and_other_personalities() -> None:
    dahua, _, hik, axis = _dahua_fleet()
    dahua.features.pop("telnet")  # a model without Telnet answers `Error\r\nBad Request!`
    async with sim_with_http([dahua, hik, axis]) as (_, https):
        settings = await DRV.read_settings(https[dahua.id])
        assert not settings["telnet"].supported and "Error" in settings["telnet"].reason
        assert settings["t2u"].supported
        with pytest.raises(Unsupported):
            await DRV.write_setting(https[dahua.id], "telnet", False)
        with pytest.raises(Unsupported):
            await DRV.write_setting(https[dahua.id], "remote_service", False)
        for other in (hik, axis):
            assert not any(s.supported for s in (await DRV.read_settings(https[other.id])).values())
            with pytest.raises(Unsupported):
                await DRV.read_identity(https[other.id])


async def test_wrong_value_type_is_a_caller_bug() -> None:
    dahua, *_ = _dahua_fleet()
    async with sim_with_http([dahua]) as (_, https):
        with pytest.raises(TypeError):
            await DRV.write_setting(https[dahua.id], "t2u", "off")
    assert not dahua.writes


async def test_malformed_reply_is_protocol_error() -> None:
    dahua, *_ = _dahua_fleet()
    async with sim_with_http([dahua]) as (_, https):
        dahua.faults.malformed_rate = 1.0
        # camsim cuts the body in half and appends '<<&\0': `table.T2UServe<<&\0` is no key=value line.
        with pytest.raises(ProtocolError) as ei:
            await DRV.read_setting(https[dahua.id], "t2u")
        assert ei.value.raw is not None and ei.value.raw.endswith(b"<<&\x00")
        with pytest.raises(ProtocolError):
            await DRV.write_setting(https[dahua.id], "t2u", not dahua.features["t2u"])
    assert not dahua.writes  # a write is never sent on the strength of an unreadable current value
