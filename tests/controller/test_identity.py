"""controller.identity: what counts as a serial or a MAC, when two records are one device, and how a report's
records are matched to an agent's cameras (moves, swaps, replacements, cameras that do not answer)."""

from __future__ import annotations

import pytest

from controller.identity import Identity, Known, macs_of, new_camera_id, resolve, serial_of


@pytest.mark.parametrize(
    ("raw", "want"),
    [("  ds-2cd2143g2-i20210101aawrf12345678 ", "DS-2CD2143G2-I20210101AAWRF12345678"), ("", ""),
     ("0000000000", ""), ("N/A", ""), ("unknown", ""), ("7", ""), ("S1", "S1"), ("1234567890", ""), ("AB 12\t34", "AB 12 34")],
)  # fmt: skip
def test_serials_compare_trimmed_and_placeholders_identify_nothing(raw: str, want: str) -> None:
    assert serial_of(raw) == want


def test_macs_are_normalised_and_non_hardware_ones_dropped() -> None:
    raw = ["44-19-b6-01-02-03", "4419B6010203", "44:19:b6:aa:bb:cc", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff",
           "01:00:5e:00:00:01", "not a mac", "44:19:b6:01:02"]  # fmt: skip
    assert macs_of(raw) == ["44:19:B6:01:02:03", "44:19:B6:AA:BB:CC"]


def test_same_device_macs_decide_when_both_have_them() -> None:
    a = Identity.of("SN1234", ["44:19:b6:00:00:01"])
    assert a.same_device(Identity.of("SN1234", ["44:19:B6:00:00:01", "44:19:B6:00:00:02"]))
    # a serial read through another API, spelled differently: the MAC still says it is the same camera
    assert a.same_device(Identity.of("other-spelling", ["44:19:b6:00:00:01"]))
    # cheap firmware gives many devices one serial: different MACs are different devices
    assert not a.same_device(Identity.of("SN1234", ["44:19:b6:00:00:09"]))
    # no MAC on one side: the serial decides
    assert a.same_device(Identity.of("sn1234", []))
    assert not a.same_device(Identity.of("SN9999", []))
    assert not Identity().same_device(Identity())
    assert (a.how, Identity.of("SN1234", []).how, Identity.of("", ["44:19:b6:00:00:01"]).how, Identity().how) == (
        "serial+mac", "serial", "mac", "address",
    )  # fmt: skip


X, Y, Z = (
    Identity.of("SNX0001", ["02:00:00:00:00:01"]),
    Identity.of("SNY0002", []),
    Identity.of("SNZ0003", []),
)


def k(camera_id: str, ref: str, ident: Identity, **kw: object) -> Known:
    return Known(camera_id, ref, ident, **kw)  # type: ignore[arg-type]


def test_a_camera_at_a_new_address_is_the_same_camera() -> None:
    r = resolve([("10.0.0.9:80", X)], [k("cam-x", "10.0.0.5:80", X)])
    assert (
        r.matches == ["cam-x"] and r.moved == {"cam-x": ("10.0.0.5:80", "10.0.0.9:80")} and r.displaced == []
    )


def test_two_cameras_that_swap_addresses_stay_two_cameras() -> None:
    known = [k("cam-x", "a:80", X), k("cam-y", "b:80", Y)]
    r = resolve([("a:80", Y), ("b:80", X)], known)
    assert r.matches == ["cam-y", "cam-x"]
    assert r.moved == {"cam-x": ("a:80", "b:80"), "cam-y": ("b:80", "a:80")} and r.displaced == []


def test_another_device_at_a_known_address_is_new_and_takes_the_address() -> None:
    r = resolve([("a:80", Z)], [k("cam-x", "a:80", X)])
    assert r.matches == [None] and [d.camera_id for d in r.displaced] == ["cam-x"] and r.moved == {}


def test_a_camera_that_does_not_answer_is_still_the_camera_at_its_address() -> None:
    known = [k("cam-x", "a:80", X)]
    assert resolve([("a:80", Identity())], known).matches == ["cam-x"]
    # ... unless it answers elsewhere in the same report: then the silent address is something else
    r = resolve([("a:80", Identity()), ("b:80", X)], known)
    assert r.matches == [None, "cam-x"] and r.moved == {"cam-x": ("a:80", "b:80")}


def test_a_camera_never_identified_is_adopted_by_the_first_identity_read_at_its_address() -> None:
    r = resolve([("a:80", X)], [k("a:80", "a:80", Identity())])
    assert r.matches == ["a:80"] and r.moved == {} and r.displaced == []
    # ... unless that identity is a camera known already (it moved there, and said nothing at first)
    r = resolve([("a:80", X)], [k("a:80", "a:80", Identity()), k("cam-x", "b:80", X, vanished=True)])
    assert r.matches == ["cam-x"] and r.moved == {"cam-x": ("b:80", "a:80")}
    assert [d.camera_id for d in r.displaced] == ["a:80"]


def test_a_vanished_camera_coming_back_elsewhere_keeps_its_id_and_present_ones_are_preferred() -> None:
    assert resolve([("c:80", X)], [k("cam-x", "a:80", X, vanished=True)]).matches == ["cam-x"]
    twins = [k("old", "a:80", Y, vanished=True, updated_at=5.0), k("new", "b:80", Y, updated_at=1.0)]
    assert resolve([("c:80", Y)], twins).matches == ["new"]


def test_one_camera_is_matched_once_and_a_reference_listed_twice_is_one_camera() -> None:
    # two devices with one serial and no MAC (cheap firmware): the one at the camera's address is the camera
    r = resolve([("b:80", Y), ("a:80", Y)], [k("cam-y", "a:80", Y)])
    assert r.matches == [None, "cam-y"]
    r = resolve([("a:80", Identity()), ("a:80", X)], [k("cam-x", "a:80", X)])
    assert r.matches == ["cam-x", "cam-x"]


def test_new_ids_are_opaque_and_distinct() -> None:
    ids = {new_camera_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(i.startswith("cam-") and len(i) == 20 for i in ids)
