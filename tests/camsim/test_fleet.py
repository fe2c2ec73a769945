"""Fleet generation: determinism, mix proportions, maker-true OUIs, OEM identity and fleet files."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from camsim import catalog
from camsim.fleet import (
    FleetError,
    addresses,
    apportion,
    generate_fleet,
    load_fleet_file,
    parse_mix,
)

MIX = {"hikvision": 40, "dahua": 30, "axis": 15, "generic": 10, "oem": 5}


def test_same_seed_same_fleet_and_other_seed_differs() -> None:
    a = generate_fleet(60, MIX, 7)
    b = generate_fleet(60, MIX, 7)
    c = generate_fleet(60, MIX, 8)
    assert [x.to_dict() for x in a] == [y.to_dict() for y in b]
    assert [x.to_dict() for x in a] != [y.to_dict() for y in c]


def test_parse_mix_and_errors() -> None:
    assert parse_mix("hikvision=40, dahua=30,oem=5") == {"hikvision": 40, "dahua": 30, "oem": 5}
    for bad in ("hikvision", "sony=3", "dahua=x", "dahua=-1", "axis=0", ""):
        with pytest.raises(FleetError):
            parse_mix(bad)


def test_mix_proportions_are_exact_largest_remainder() -> None:
    assert apportion(100, MIX) == MIX
    counts = apportion(7, {"hikvision": 1, "dahua": 1})
    assert sum(counts.values()) == 7 and abs(counts["hikvision"] - counts["dahua"]) == 1
    fleet = generate_fleet(200, MIX, 3)
    oem = [c for c in fleet if c.identity.oem_brand]
    assert len(oem) == 10
    by_p = {p: sum(1 for c in fleet if c.identity.personality == p and not c.identity.oem_brand) for p in MIX}
    assert by_p == {"hikvision": 80, "dahua": 60, "axis": 30, "generic": 20, "oem": 0}


def test_addresses_skip_network_and_broadcast_and_stay_on_loopback() -> None:
    addrs = addresses("127.0.1.253", 4)
    assert addrs == ["127.0.1.253", "127.0.1.254", "127.0.2.1", "127.0.2.2"]
    fleet = generate_fleet(300, MIX, 1, port=18080)
    hosts = [c.network.address for c in fleet]
    assert len(set(hosts)) == 300
    assert all(ipaddress.IPv4Address(h).is_loopback and not h.endswith((".0", ".255")) for h in hosts)
    assert {c.port for c in fleet} == {18080}
    with pytest.raises(FleetError):
        addresses("10.0.0.1", 1)


def test_macs_come_from_the_true_makers_ouis() -> None:
    for cam in generate_fleet(300, MIX, 11):
        oui = cam.identity.mac[:8]
        assert oui in catalog.MAKER_OUIS[cam.identity.true_manufacturer], cam.identity
        assert (
            oui in catalog.BRAND_OUIS[cam.identity.oem_brand or catalog.find_model(cam.identity.model).brand]
        )


def test_oem_identity_is_consistent_with_the_maker() -> None:
    fleet = generate_fleet(400, {"oem": 1}, 5)
    brands = {c.identity.oem_brand for c in fleet}
    assert brands == {"LTS", "Annke", "HiWatch", "Amcrest", "Lorex", "CP PLUS"}
    for cam in fleet:
        ident = cam.identity
        assert ident.manufacturer == ident.oem_brand
        if ident.true_manufacturer == "hikvision":
            assert ident.personality == "hikvision"
            assert cam.auth.realm == "IP Camera" and cam.auth.lockout_threshold == 7
            assert ident.firmware.startswith("V5.") and " build " in ident.firmware
            assert ident.serial.startswith(ident.model) and "AAWR" in ident.serial
            assert set(cam.features) == {"ezviz", "ehome", "upnp", "upnp_portmap", "ddns", "telnet", "ssh"}
            assert "onvif://www.onvif.org/location/city/hangzhou" in cam.scopes
        else:
            assert ident.true_manufacturer == "dahua" and ident.personality == "dahua"
            assert ident.firmware.startswith("2.") and ".R, build: " in ident.firmware
            assert ident.base_model and ident.base_model.startswith("IPC-")
            assert cam.auth.realm == f"Login to {ident.serial}" and cam.auth.lockout_threshold == 5
            assert "onvif://www.onvif.org/extension/unique_identifier/1" in cam.scopes
            assert "t2u" in cam.features


def test_personality_defaults() -> None:
    fleet = generate_fleet(200, {"hikvision": 1, "dahua": 1, "axis": 1, "generic": 1}, 9)
    for cam in fleet:
        p = cam.identity.personality
        protos = {x.name: x.port for x in cam.network.protocols}
        assert protos["HTTP"] == cam.port and protos["RTSP"] == 554
        assert cam.users[0].username == "admin" and len(cam.users[0].password) == 12
        if p == "hikvision":
            assert protos["DEV_MANAGE"] == 8000 and cam.auth.connection_limit == 20
            assert cam.identity.manufacturer == "HIKVISION"
        elif p == "dahua":
            assert protos["SDK"] == 37777 and cam.auth.connection_limit == 20
        elif p == "axis":
            assert cam.identity.serial == cam.identity.mac.replace(":", "").upper()
            assert set(cam.features) == {"remote_service", "upnp", "upnp_portmap"}
        else:
            assert cam.features == {}
            assert "IPFilter" not in cam.capabilities and "DynDNS" not in cam.capabilities
    # features are a seeded share, not all-on or all-off
    hik = [c for c in fleet if c.identity.personality == "hikvision"]
    on = sum(c.features["ezviz"] for c in hik)
    assert 0 < on < len(hik)
    # passwords differ per camera
    assert len({c.users[0].password for c in fleet}) == len(fleet)


def test_auth_only_share() -> None:
    fleet = generate_fleet(400, MIX, 2, auth_only_share=0.25)
    single = [c for c in fleet if len(c.auth.modes) == 1]
    assert 60 < len(single) < 140
    assert {m for c in single for m in c.auth.modes} == {"digest", "wsse"}
    assert all(len(c.auth.modes) == 2 for c in generate_fleet(50, MIX, 2, auth_only_share=0.0))


def test_cve_range_firmware_is_present_in_the_catalog() -> None:
    hik = {fw.version: fw.cves for m in catalog.HIK_MODELS for fw in m.firmwares}
    assert "CVE-2017-7921" in hik["V5.2.0 build 140721"]
    assert "CVE-2021-36260" in hik["V5.5.101 build 200408"]
    assert hik["V5.7.18 build 240826"] == ()
    assert "CVE-2021-33044" in catalog.find_firmware("2.800.0000016.0.R, build: 2020-06-05").cves  # type: ignore[union-attr]


def test_load_fleet_file_generator_spec_json_and_toml(tmp_path: Path) -> None:
    spec = {
        "cameras": 12,
        "mix": "hikvision=1,dahua=1",
        "seed": 4,
        "port": 18081,
        "base_address": "127.0.3.1",
    }
    p = tmp_path / "fleet.json"
    p.write_text(json.dumps({**spec, "overrides": {"cam-0002": {"clock_skew_s": 3600, "password": "pw"}}}))
    fleet = load_fleet_file(p)
    ref = generate_fleet(12, {"hikvision": 1, "dahua": 1}, 4, base_address="127.0.3.1", port=18081)
    assert [c.identity for c in fleet] == [c.identity for c in ref]
    assert fleet[1].clock_skew_s == 3600 and fleet[1].users[0].password == "pw"
    assert fleet[1].defaults is not None and fleet[1].defaults["users"][0]["password"] == "pw"
    t = tmp_path / "fleet.toml"
    t.write_text('cameras = 3\nseed = 4\nmix = "axis=1"\nport = 18082\n')
    assert [c.identity.personality for c in load_fleet_file(t)] == ["axis"] * 3


def test_load_fleet_file_explicit_entries(tmp_path: Path) -> None:
    p = tmp_path / "fleet.json"
    entries = [
        {"model": "DS-2CD2532F-IWS", "firmware": "V5.2.0 build 140721", "features": {"ezviz": True}},
        {"personality": "dahua", "faults": {"latency_ms": 50, "http500_rate": 0.5}, "auth_modes": ["wsse"]},
        {"model": "LNB8921B", "id": "lorex-1", "address": "127.0.9.9"},
        {"personality": "generic", "discovery_mode": "NonDiscoverable"},
        {"oem": "CP PLUS"},
        {"oem": True},
    ]
    p.write_text(json.dumps({"seed": 1, "port": 18083, "cameras": entries}))
    a, b, c, d, e, f = load_fleet_file(p)
    assert e.identity.oem_brand == "CP PLUS" and e.identity.personality == "dahua"
    assert f.identity.oem_brand is not None
    assert a.identity.model == "DS-2CD2532F-IWS" and a.identity.firmware == "V5.2.0 build 140721"
    assert a.features["ezviz"] is True
    assert b.identity.personality == "dahua" and b.faults.latency_ms == 50 and b.auth.modes == ["wsse"]
    assert c.id == "lorex-1" and c.network.address == "127.0.9.9" and c.identity.oem_brand == "Lorex"
    assert c.identity.true_manufacturer == "dahua"
    assert d.network.discovery_mode == "NonDiscoverable"
    for bad in (
        {"cameras": [{"personality": "sony"}]},
        {"cameras": [{"oem": "Sony"}]},
        {"cameras": [{"model": "NOT-A-MODEL"}]},
        {"cameras": [{"personality": "axis", "features": {"ezviz": True}}]},
        {"cameras": [{"personality": "axis", "address": "192.168.1.1"}]},
        {"cameras": "many"},
    ):
        p.write_text(json.dumps(bad))
        with pytest.raises(FleetError):
            load_fleet_file(p)
    p.write_text("{not json")
    with pytest.raises(FleetError):
        load_fleet_file(p)


def test_oem_true_with_a_personality_picks_a_rebrand_of_that_maker(tmp_path: Path) -> None:
    spec = {"seed": 4, "cameras": [{"oem": True, "personality": "dahua"} for _ in range(6)]
            + [{"oem": True, "personality": "hikvision"} for _ in range(6)]}  # fmt: skip
    f = tmp_path / "fleet.json"
    f.write_text(json.dumps(spec))
    cams = load_fleet_file(f)
    assert [c.identity.true_manufacturer for c in cams] == ["dahua"] * 6 + ["hikvision"] * 6
    assert all(c.identity.oem_brand for c in cams)
