"""Which vendor APIs the evidence sends the agent to, with what, and for how long (agent/vendor_probe.py)."""

from __future__ import annotations

import pytest

from agent.attribution import Observation, attribute
from agent.credentials import Credentials
from agent.drivers import DRIVERS
from agent.fleet import CameraFleet, camera_id_of
from agent.targets import Target
from agent.vendor_probe import (
    CREDENTIAL_SUPPORT,
    PROBES_FOR_S,
    ApiProbe,
    VendorProbes,
    classify,
    driver_support,
    probe_basis,
    probe_order,
)
from tests.agent.conftest import PASSWORD, make_test_camera
from tests.camsim.conftest import run_sim


def order(obs: Observation) -> list[str]:
    return probe_order(attribute(obs, None).support)


def test_evidence_for_one_maker_probes_only_its_api() -> None:
    hik = Observation(onvif_manufacturer="HIKVISION", onvif_model="DS-2CD2146G2-ISU", http_server="App-webs/")
    assert order(hik) == ["hikvision"]
    dahua = Observation(onvif_manufacturer="Dahua", digest_realm="Login to 4X7C5A1ZAG21L3F")
    assert order(dahua) == ["dahua"]
    assert driver_support(dahua, None)["dahua"] >= CREDENTIAL_SUPPORT


def test_a_maker_without_a_driver_gets_no_vendor_probe_and_no_evidence_gets_every_api_unauthenticated() -> (
    None
):
    assert order(Observation(onvif_manufacturer="Uniview", onvif_model="IPC3612LB")) == []
    assert sorted(order(Observation(onvif_manufacturer="Acme"))) == sorted(DRIVERS)
    # Nothing points anywhere: every API is tried, but none of them with a credential yet.
    assert all(s < CREDENTIAL_SUPPORT for s in driver_support(Observation(), None).values())


def test_conflicting_evidence_probes_each_maker_it_names() -> None:
    # A Dahua-branded device on a Hikvision-style firmware string: both are tried, strongest first.
    obs = Observation(
        onvif_manufacturer="Dahua", onvif_firmware="V5.5.0 build 170725", http_server="App-webs/"
    )
    assert set(order(obs)) == {"hikvision", "dahua"}


def test_a_challenge_for_another_scheme_is_absent_and_says_nothing_was_sent() -> None:
    got = classify(DRIVERS["axis"], 401, {"WWW-Authenticate": 'Basic realm="x"'}, b"", credentials_sent=False,
                   schemes=("basic",))  # fmt: skip
    assert (got.verdict, got.reason) == ("absent", "server offered Basic only; nothing sent")
    note = ApiProbe("axis", "absent", got.reason, False, 0.0).evidence()
    assert note.points_to is None and note.weight == 0 and note.signal == "vendor_api.axis"


def test_probe_results_stand_for_the_same_camera_for_a_while_only() -> None:
    obs = Observation(onvif_manufacturer="HIKVISION", onvif_model="DS-2CD2146G2-ISU", onvif_firmware="V5.5.0")
    probes = VendorProbes(basis=probe_basis(obs), at=1000.0)
    assert probes.current(obs, now=1000.0 + PROBES_FOR_S - 1)
    assert not probes.current(obs, now=1000.0 + PROBES_FOR_S + 1)  # a service switched on changes no field
    updated = Observation(
        onvif_manufacturer="HIKVISION", onvif_model="DS-2CD2146G2-ISU", onvif_firmware="V5.7.3"
    )
    assert not probes.current(updated, now=1001.0)  # a firmware update can bring or remove an API


@pytest.mark.integration
async def test_the_daemon_probes_again_after_a_firmware_update() -> None:
    cam = make_test_camera("hikvision", address="127.0.13.31")
    async with run_sim([cam]):
        cid = camera_id_of(cam.network.address, cam.port)
        async with CameraFleet(
            [Target(cam.network.address, cam.port, Credentials("admin", PASSWORD))]
        ) as fleet:
            [first] = await fleet.inventory_results([cid])
            [second] = await fleet.inventory_results([cid])
            assert first.vendor_probes is not None and first.vendor_probes.present == ["hikvision"]
            assert second.vendor_probes is first.vendor_probes  # kept between rounds: no probe traffic
            cam.identity.firmware = "V5.7.3 build 220112"
            [third] = await fleet.inventory_results([cid])
            assert third.vendor_probes is not first.vendor_probes
            assert third.vendor_probes is not None and third.vendor_probes.present == ["hikvision"]
            assert third.status == "ok" and cam.failed_logins == 0
