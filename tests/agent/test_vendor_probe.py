"""Which vendor APIs the evidence sends the agent to, and with what (agent/vendor_probe.py, no network)."""

from __future__ import annotations

from agent.attribution import Observation, attribute
from agent.drivers import DRIVERS
from agent.vendor_probe import CREDENTIAL_SUPPORT, ApiProbe, classify, driver_support, probe_order


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
