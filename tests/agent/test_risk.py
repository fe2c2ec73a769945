"""Firmware-to-CVE matching (golden builds, fixed builds, junk) and the risk score with its reasons."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.attribution import UNKNOWN, Observation, Origin, attribute
from agent.cves import (
    CveCheck,
    check_firmware,
    default_cve_table,
    match_cves,
    parse_cve_table,
    parse_dahua_firmware,
    parse_hikvision_firmware,
)
from agent.risk import Exposure, assess_risk, default_usernames
from tests.fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES
# A developer without ../shared skips these; CI has it beside the clone and must not skip.
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir() and not os.environ.get("CI"), reason=f"recorded fixtures not found at {FIXTURES}"
)


def ids(matches: object) -> set[str]:
    assert isinstance(matches, list | tuple)
    return {m.cve for m in matches}


# ---------------------------------------------------------------------------------------------------------
# Parsers.


def test_parse_hikvision_formats() -> None:
    fw = parse_hikvision_firmware("V5.4.0 build 160530")
    assert fw is not None and fw.version == (5, 4, 0) and fw.build == dt.date(2016, 5, 30)
    fw = parse_hikvision_firmware("V5.5.101 build 200408")
    assert fw is not None and fw.version == (5, 5, 101) and fw.build == dt.date(2020, 4, 8)
    fw = parse_hikvision_firmware("V5.7.18")  # ISAPI firmwareVersion alone
    assert fw is not None and fw.build is None
    fw = parse_hikvision_firmware("V5.4.0 build 161340")  # month 13: keep the version, drop the date
    assert fw is not None and fw.build is None
    assert parse_hikvision_firmware("5.4.0") is None
    assert parse_hikvision_firmware(None) is None


def test_parse_dahua_formats() -> None:
    fw = parse_dahua_firmware("2.800.0000016.0.R, build: 2020-06-05")
    assert fw is not None and fw.version == (2, 800, 0) and fw.build == dt.date(2020, 6, 5)
    fw = parse_dahua_firmware("2.800.0000016.0.R,build:2020-06-05")  # magicBox getSoftwareVersion spelling
    assert fw is not None and fw.build == dt.date(2020, 6, 5)
    fw = parse_dahua_firmware("DH_IPC-HX1XXX-Eos3_Eng_P_V2.420.0000.11.R.20170612")  # firmware file name
    assert fw is not None and fw.version == (2, 420, 11) and fw.build == dt.date(2017, 6, 12)
    fw = parse_dahua_firmware(
        "2.420.Dahua 00.14.R, build: 2016-06-18"
    )  # ONVIF FirmwareVersion seen in the wild
    assert fw is not None and fw.build == dt.date(2016, 6, 18)
    assert parse_dahua_firmware("V5.4.0 build 160530") is None


# ---------------------------------------------------------------------------------------------------------
# CVE matching.


@needs_fixtures
def test_fixture_ds_2cd2532f_iws_is_in_the_cve_2017_7921_range() -> None:
    data = json.loads((FIXTURES / "hikvision_devices" / "DS-2CD2532F-IWS.json").read_text())
    info = data["data"]["ISAPI"]["System/deviceInfo"]["response"]["DeviceInfo"]
    # ISAPI splits version and build; `released` joins them the way ONVIF reports it.
    check = check_firmware(
        "hikvision", info["model"], info["firmwareVersion"], released=info["firmwareReleasedDate"]
    )
    assert [m.cve for m in check.matches] == ["CVE-2017-7921"]
    m = check.matches[0]
    assert m.kev is True and m.match_confidence == "exact range" and m.family == "DS-2CD2xx2F-I"
    assert "V5.2.0 build 140721" in m.reason
    assert any("cisa.gov" in s for s in m.sources)
    # 2014 is before the CVE-2021-36260 window: no approximate match either.
    assert check.notes == ()


@needs_fixtures
@pytest.mark.parametrize(
    "name", ["DS-2CD2146G2-ISU", "DS-2CD2T46G2-ISU", "DS-2SE4C425MWG-E-26", "DS-7608NXI-I2"]
)
def test_fixture_fixed_builds_match_nothing(name: str) -> None:
    data = json.loads((FIXTURES / "hikvision_devices" / f"{name}.json").read_text())
    info = data["data"]["ISAPI"]["System/deviceInfo"]["response"]["DeviceInfo"]
    check = check_firmware(
        "hikvision", info["model"], info["firmwareVersion"], released=info["firmwareReleasedDate"]
    )
    assert check.matches == () and check.notes == ()


@needs_fixtures
def test_fixture_ds_2cd2443g0_2020_build_is_in_the_36260_window() -> None:
    data = json.loads((FIXTURES / "hikvision_devices" / "DS-2CD2443G0-IW.json").read_text())
    info = data["data"]["ISAPI"]["System/deviceInfo"]["response"]["DeviceInfo"]
    matches = match_cves(
        "hikvision", info["model"], info["firmwareVersion"], released=info["firmwareReleasedDate"]
    )
    assert [(m.cve, m.match_confidence, m.status) for m in matches] == [
        ("CVE-2021-36260", "approximate", "U")
    ]


@pytest.mark.parametrize(
    ("model", "firmware", "expected"),
    [
        (
            "DS-2CD2532F-IWS",
            "V5.4.0 build 160530",
            {"CVE-2017-7921", "CVE-2021-36260"},
        ),  # last build in range
        ("DS-2CD2532F-IWS", "V5.4.1 build 160525", {"CVE-2021-36260"}),  # past the 7921 range
        ("DS-2CD2532F-IWS", "V5.2.0 build 140720", set()),  # one day before the first affected build
        ("DS-2CD2132F-IS", "V5.3.0 build 151016", {"CVE-2017-7921"}),
        ("DS-2CD2142FWD-I", "V5.4.0 build 160530", {"CVE-2017-7921", "CVE-2021-36260"}),  # 2xx2FWD family
        ("DS-2CD2142FWD-I", "V5.5.0 build 170725", set()),  # metasploit: not affected by 36260
        ("DS-2CD6332FWD-IVS", "V5.3.5 build 160106", {"CVE-2017-7921", "CVE-2021-36260"}),
        ("DS-2CD2143G0-I", "V5.6.3 build 190923", {"CVE-2021-36260"}),
        ("DS-2CD2143G0-I", "V5.7.3 build 220112", set()),  # after the June 2021 fixes
        ("DS-7616NI-K2", "V4.22.005 build 200629", set()),  # recorders are outside the IPC/PTZ advisory
    ],
)
def test_hikvision_ranges(model: str, firmware: str, expected: set[str]) -> None:
    assert ids(match_cves("hikvision", model, firmware)) == expected


def test_not_affected_build_is_explained() -> None:
    check = check_firmware("hikvision", "DS-2CD2142FWD-I", "V5.5.0 build 170725")
    assert check.matches == ()
    assert any("not affected" in n and "metasploit" in n for n in check.notes)


def test_hikvision_oem_matches_through_the_maker_verdict() -> None:
    # HiWatch HWI-B120-D/W V5.5.101 build 200408 was exploited via CVE-2021-36260 (metasploit).
    assert ids(match_cves("hikvision", "HWI-B120-D/W", "V5.5.101 build 200408")) == {"CVE-2021-36260"}
    # The same firmware string on a camera attributed to Axis is not Hikvision's problem.
    assert match_cves("axis", "HWI-B120-D/W", "V5.5.101 build 200408") == []


@pytest.mark.parametrize(
    ("model", "firmware", "base_model", "expected"),
    [
        ("IPC-HDW5831R-ZE", "2.800.0000016.0.R, build: 2020-06-05", None, {"CVE-2021-33044", "CVE-2021-33045"}),
        ("IPC-HFW5442E-ZE", "2.800.0000000.41.R, build: 2023-03-14", None, set()),  # after Sept 2021
        ("IPC-HDW1230T2", "2.622.0000000.31.R, build: 2019-03-11", None, set()),  # HX1XXX: not a listed family
        ("LNB8921B", "2.800.05LX001.0.R, build: 2020-11-18", "IPC-HFW5831E-ZE", {"CVE-2021-33044", "CVE-2021-33045"}),
        ("DH-XVR5108HS", "4.001.0000000.3.R, build: 2020-12-01", None, {"CVE-2021-33044", "CVE-2021-33045"}),
    ],
)  # fmt: skip
def test_dahua_families(model: str, firmware: str, base_model: str | None, expected: set[str]) -> None:
    matches = match_cves("dahua", model, firmware, base_model=base_model)
    assert ids(matches) == expected
    assert all(m.match_confidence == "approximate" and m.kev for m in matches)


def test_dahua_fixture_reply_matches_33044() -> None:
    # fixtures/dahua_cgi_replies.txt: deviceType=IPC-HDW5831R-ZE, version=2.800.0000016.0.R,build:2020-06-05
    matches = match_cves("dahua", "IPC-HDW5831R-ZE", "2.800.0000016.0.R,build:2020-06-05")
    m = next(m for m in matches if m.cve == "CVE-2021-33044")
    assert "2020-06-05" in m.reason and "before 2021-09-01" in m.reason


@pytest.mark.parametrize(
    "firmware", ["", "garbage", "V", "build 160530", "Mockup_15_14_13", "2.800", "\x00\ud7ff"]
)
def test_unparseable_firmware_gives_a_note_not_a_match(firmware: str) -> None:
    check = check_firmware("hikvision", "DS-2CD2532F-IWS", firmware)
    assert check.matches == ()
    assert len(check.notes) == 1 and ("not understood" in check.notes[0] or "not reported" in check.notes[0])


def test_missing_build_date_is_undecided_unless_the_version_settles_it() -> None:
    inside = check_firmware("hikvision", "DS-2CD2532F-IWS", "V5.3.0")
    assert ids(list(inside.matches)) == {"CVE-2017-7921"}
    assert any("CVE-2021-36260" in n and "not decided" in n for n in inside.notes)
    edge = check_firmware("hikvision", "DS-2CD2532F-IWS", "V5.2.0")
    assert edge.matches == ()
    assert any("CVE-2017-7921" in n and "edge" in n for n in edge.notes)


def test_unknown_maker_still_matches_on_model_but_says_so() -> None:
    (m,) = [
        m for m in match_cves(UNKNOWN, "DS-2CD2532F-IWS", "V5.2.0 build 140721") if m.cve == "CVE-2017-7921"
    ]
    assert "maker not established" in m.reason


def test_shipped_cve_table_is_valid_and_sourced() -> None:
    table = {c.id: c for c in default_cve_table()}
    assert set(table) == {"CVE-2017-7921", "CVE-2021-36260", "CVE-2021-33044", "CVE-2021-33045"}
    for c in table.values():
        assert c.sources and c.kev is True
    assert len(table["CVE-2017-7921"].ranges) == 7
    assert all(r.match_confidence == "exact range" for r in table["CVE-2017-7921"].ranges)
    # The date-window entries are declared approximate and unverified in the data itself.
    for cid in ("CVE-2021-36260", "CVE-2021-33044", "CVE-2021-33045"):
        assert table[cid].status == "U"
        assert all(r.match_confidence == "approximate" for r in table[cid].ranges)


def test_bad_cve_table_is_rejected() -> None:
    text = """
[[cve]]
id = "CVE-0000-0001"
maker = "hikvision"
title = "t"
kev = "yes"
sources = ["s"]
"""
    with pytest.raises(ValueError, match=r"CVE-0000-0001.*kev"):
        parse_cve_table(text)
    with pytest.raises(ValueError, match="needs at least one"):
        parse_cve_table(text.replace('"yes"', "false"))


@settings(max_examples=300, deadline=None)
@given(
    maker=st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["hikvision", "dahua", "unknown"])),
    model=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["DS-2CD2532F-IWS", "IPC-HDW5831R-ZE"])),
    firmware=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=60),
        st.from_regex(r"V\d{1,3}\.\d{1,4}\.\d{1,4} build \d{6}", fullmatch=True),
        st.from_regex(r"\d\.\d{3}\.[0-9A-Z]{7}\.\d{1,2}\.R, build: \d{4}-\d{2}-\d{2}", fullmatch=True),
    ),
    released=st.one_of(st.none(), st.text(max_size=20)),
)
def test_match_cves_never_raises(maker: object, model: object, firmware: object, released: object) -> None:
    check = check_firmware(maker, model, firmware, released=released)
    assert isinstance(check, CveCheck)
    if not isinstance(firmware, str) or not firmware.strip():
        assert check.matches == () and check.notes  # nothing to match, and it says so
    for m in check.matches:
        assert m.cve.startswith("CVE-") and m.sources
    assert isinstance(match_cves(maker, model, firmware), list)


# ---------------------------------------------------------------------------------------------------------
# Risk.


def origin(maker: str, covered: bool, confidence: float = 0.95, brand: str | None = None) -> Origin:
    return Origin(
        reported_brand=brand,
        manufacturer=maker,
        covered=covered,
        oem_rebrand=brand is not None,
        confidence=confidence,
    )


def test_worst_case_is_critical_with_reasons() -> None:
    hik = attribute(
        Observation(
            onvif_manufacturer="LTS",
            onvif_model="CMIP7422W-28M",
            onvif_firmware="V5.4.5 build 170123",
            isapi_device_info={"model": "CMIP7422W-28M"},
        )
    )
    cves = check_firmware(hik.manufacturer, "CMIP7422W-28M", "V5.4.5 build 170123")
    exposure = Exposure(
        cloud_features_on=["ezviz", "upnp"],
        has_gateway=True,
        has_dns=True,
        upnp_port_mapping=True,
        telnet=True,
        exposed_protocols=["http/80", "dev_manage/8000", "rtsp/554"],
        usernames=["admin", "viewer"],
    )
    risk = assess_risk(hik, cves, exposure)
    assert risk.level == "critical" and risk.score == 100
    text = " | ".join(risk.reasons)
    assert "NDAA §889" in text and "sold as LTS" in text
    assert "CVE-2021-36260" in text and "KEV" in text
    assert "ezviz" in text and "UPnP port mapping" in text and "telnet" in text
    assert "dev_manage/8000" in text and "admin" in text
    assert json.loads(json.dumps(risk.to_dict()))["level"] == "critical"


def test_clean_axis_is_low() -> None:
    risk = assess_risk(origin("axis", False), [], Exposure(has_gateway=True, has_dns=True))
    assert (risk.score, risk.level, risk.reasons) == (0, "low", ())


def test_covered_but_patched_and_isolated_is_medium() -> None:
    exposure = Exposure(cloud_features_on=[], has_gateway=False, has_dns=False, ip_filter_blocks_wan=True)
    risk = assess_risk(origin("hikvision", True), CveCheck((), ()), exposure)
    assert risk.level == "medium" and risk.score == 30
    assert len(risk.reasons) == 1 and "covered" in risk.reasons[0]


def test_cloud_without_a_route_out_weighs_less() -> None:
    on = Exposure(cloud_features_on=["t2u"], has_gateway=True, has_dns=True)
    fenced = Exposure(cloud_features_on=["t2u"], has_gateway=True, has_dns=True, ip_filter_blocks_wan=True)
    unknown = Exposure(cloud_features_on=["t2u"])
    base = origin("dahua", True)
    scores = [assess_risk(base, [], e).score for e in (on, unknown, fenced)]
    assert scores[0] > scores[1] > scores[2] > 30
    assert on.cloud_reachable is True and fenced.cloud_reachable is False and unknown.cloud_reachable is None
    assert any("no route out" in r for r in assess_risk(base, [], fenced).reasons)


def test_weak_attribution_counts_half_and_says_so() -> None:
    strong = assess_risk(origin("dahua", True, 0.9), [], Exposure())
    weak = assess_risk(origin("dahua", True, 0.4), [], Exposure())
    assert strong.score == 30 and weak.score == 15
    assert "confirm before acting" in weak.reasons[0]


def test_unknown_maker_unparsed_firmware_and_auth_failure_are_reasons() -> None:
    check = check_firmware(UNKNOWN, "AV-IPC2210", "Mockup_15_14_13")
    risk = assess_risk(origin(UNKNOWN, False, 0.1), check, Exposure(auth_failed=True))
    text = " | ".join(risk.reasons)
    assert "maker of origin unknown" in text and "CVE exposure unknown" in text and "credentials" in text
    assert risk.level == "low" and risk.score == 15


def test_hidden_dahua_accounts_weigh_more_than_admin() -> None:
    base = origin("dahua", True)
    admin = assess_risk(base, [], Exposure(usernames=["admin"]))
    hidden = assess_risk(base, [], Exposure(usernames=["admin", "888888"]))
    assert hidden.score > admin.score > 30
    assert default_usernames(["Admin", "ops", "888888"]) == ["888888", "Admin"]


def test_many_cves_are_capped() -> None:
    matches = match_cves("hikvision", "DS-2CD2532F-IWS", "V5.4.0 build 160530")
    risk = assess_risk(origin("axis", False), matches * 5, Exposure())
    assert risk.score <= 45 and risk.level == "medium"
    assert risk.factors[0].points == 30  # the exact-range KEV match leads
