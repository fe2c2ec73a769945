"""Inventory against a real camsim fleet: record contents, attribution vs camsim's truth, faults classified."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.credentials import Credentials
from agent.fleet import CameraFleet, camera_id_of
from agent.inventory import InventoryResult, fingerprint
from agent.targets import Target
from camsim.fleet import generate_fleet
from camsim.model import Camera
from camsim.server import SimServer
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.agent.conftest import make_test_camera
from tests.camsim.conftest import find_free_port, run_sim

pytestmark = pytest.mark.integration

MIX = {"hikvision": 3, "dahua": 3, "axis": 2, "generic": 1, "oem": 6}


def targets_of(cameras: list[Camera], password: str | None = None) -> list[Target]:
    return [
        Target(c.network.address, c.port, Credentials("admin", password or c.users[0].password))
        for c in cameras
    ]


@pytest.fixture
async def generated() -> AsyncIterator[tuple[SimServer, list[Camera], list[InventoryResult]]]:
    cameras = generate_fleet(24, MIX, seed=11, base_address="127.0.5.1")
    for c in cameras:
        c.port = 0
    async with run_sim(cameras) as server:
        async with CameraFleet(targets_of(cameras), concurrency=8, timeout=3.0) as fleet:
            results = await fleet.inventory_results()
        yield server, cameras, results


def by_camera(cameras: list[Camera], results: list[InventoryResult]) -> list[tuple[Camera, InventoryResult]]:
    index = {r.record.camera_id: r for r in results}
    return [(c, index[camera_id_of(c.network.address, c.port)]) for c in cameras]


async def test_record_holds_identity_network_users_and_capabilities(
    generated: tuple[SimServer, list[Camera], list[InventoryResult]],
) -> None:
    _, cameras, results = generated
    for cam, res in by_camera(cameras, results):
        rec = res.record
        assert res.ok and not rec.errors, (cam.id, list(rec.errors))
        assert rec.reachable
        assert rec.identity.model == cam.identity.model
        assert rec.identity.firmware == cam.identity.firmware
        assert rec.identity.serial == cam.identity.serial
        assert cam.identity.mac.lower() in [m.lower() for m in rec.identity.macs]
        assert rec.fingerprint == fingerprint(
            list(rec.identity.macs), cam.identity.serial, cam.identity.model
        )
        assert list(rec.network.gateways) == cam.network.gateway
        assert rec.network.discovery_mode == cam.network.discovery_mode
        assert [(u.username, u.level) for u in rec.users] == [(u.username, u.level) for u in cam.users]
        assert cam.users[0].password not in rec.SerializeToString().decode("utf-8", "replace")
        caps = {c.name: c.supported for c in rec.capabilities}
        assert caps["IPFilter"] is ("IPFilter" in cam.capabilities)
        assert caps["DynDNS"] is ("DynDNS" in cam.capabilities)
        assert abs(rec.clock_offset_s) < 5
        # Cloud features as the vendor API reports them, compared with camsim's live state.
        cloud = {c.name: c.state for c in rec.cloud}
        for feature, on in cam.features.items():
            if feature in cloud and cloud[feature] != pb.FEATURE_STATE_UNSUPPORTED:
                assert cloud[feature] == (pb.FEATURE_STATE_ON if on else pb.FEATURE_STATE_OFF), (
                    cam.id,
                    feature,
                )
        assert rec.risk.cloud_reachable is cam.cloud_reachable(), cam.id
        assert rec.risk.level in ("low", "medium", "high", "critical")


async def test_every_camera_attributed_to_its_true_maker_with_evidence(
    generated: tuple[SimServer, list[Camera], list[InventoryResult]],
) -> None:
    _, cameras, results = generated
    oems = 0
    for cam, res in by_camera(cameras, results):
        origin = res.record.origin
        truth = cam.identity.true_manufacturer
        if truth == "generic":
            assert origin.manufacturer not in ("hikvision", "dahua", "axis") or origin.confidence < 0.5, (
                cam.id
            )
            continue
        assert origin.manufacturer == truth, (
            cam.id,
            cam.identity.manufacturer,
            res.origin and res.origin.summary(),
        )
        assert origin.covered is (truth in ("hikvision", "dahua"))
        assert origin.evidence and any(e.points_to == truth for e in origin.evidence)
        if cam.identity.oem_brand:
            oems += 1
            assert origin.oem_rebrand, cam.id
            assert origin.reported_brand.lower() != truth
    assert oems >= 3


@pytest.mark.parametrize("personality", ["hikvision", "dahua", "axis"])
async def test_a_serial_onvif_leaves_out_comes_from_the_vendor_api(personality: str) -> None:
    """Some firmware answers GetDeviceInformation with an empty SerialNumber: the vendor API's serial is the
    camera's identity then (the controller keys cameras on it, not on their address)."""
    cam = make_test_camera(personality, address="127.0.6.9", port=find_free_port())
    cam.onvif_serial = False
    async with run_sim([cam]), CameraFleet(targets_of([cam]), timeout=3.0) as fleet:
        (res,) = await fleet.inventory_results()
    assert res.ok, list(res.record.errors)
    assert res.record.identity.serial == cam.identity.serial != ""
    assert res.record.fingerprint == fingerprint(
        list(res.record.identity.macs), cam.identity.serial, cam.identity.model
    )


async def test_wrong_password_costs_at_most_one_failed_login_and_is_never_retried() -> None:
    cam = make_test_camera("hikvision", address="127.0.6.1", port=find_free_port())
    wrong = targets_of([cam], password="wrong-password")
    async with run_sim([cam]), CameraFleet(wrong, timeout=3.0) as fleet:
        for _ in range(3):
            (res,) = await fleet.inventory_results()
            classes = {e.error_class for e in res.record.errors}
            assert classes & {pb.ERROR_CLASS_AUTH, pb.ERROR_CLASS_LOCKED_OUT}, list(res.record.errors)
            assert not res.ok
        assert sum(cam.auth_failures.values()) <= 1
        assert not cam.locked_until
        # New credentials from the operator lift the remembered failure.
        cid = fleet.camera_ids()[0]
        await fleet.set_credentials(cid, Credentials("admin", cam.users[0].password))
        (res,) = await fleet.inventory_results()
        assert res.ok, list(res.record.errors)


async def test_locked_out_camera_is_classified() -> None:
    cam = make_test_camera("dahua", address="127.0.6.2")
    cam.locked_until = {"127.0.0.1": 4e9}
    async with run_sim([cam]), CameraFleet(targets_of([cam]), timeout=3.0) as fleet:
        (res,) = await fleet.inventory_results()
    classes = {e.error_class for e in res.record.errors}
    assert classes & {pb.ERROR_CLASS_LOCKED_OUT, pb.ERROR_CLASS_AUTH}
    assert sum(cam.auth_failures.values()) <= 1


@pytest.mark.parametrize("skew", [3600.0, -3600.0])
async def test_clock_skew_of_an_hour_with_username_token_only(skew: float) -> None:
    cam = make_test_camera("hikvision", address="127.0.6.3")
    cam.clock_skew_s = skew
    cam.auth.modes = ["wsse"]
    async with run_sim([cam]), CameraFleet(targets_of([cam]), timeout=3.0) as fleet:
        (res,) = await fleet.inventory_results()
    assert res.ok, list(res.record.errors)
    assert abs(res.record.clock_offset_s - skew) < 5
    assert not cam.auth_failures


async def test_connection_limit_of_one_is_respected() -> None:
    cams = [make_test_camera("dahua", address=f"127.0.6.{10 + i}") for i in range(3)]
    for c in cams:
        c.auth.connection_limit = 1
        c.faults.latency_ms = 20
    async with run_sim(cams), CameraFleet(targets_of(cams), concurrency=16, timeout=3.0) as fleet:
        results = await fleet.inventory_results()
    assert all(r.ok and not r.record.errors for r in results), [list(r.record.errors) for r in results]


async def test_malformed_replies_hang_and_closed_port_are_classified_not_raised() -> None:
    bad = make_test_camera("hikvision", address="127.0.6.20")
    bad.faults.malformed_rate = 1.0
    hang = make_test_camera("axis", address="127.0.6.21")
    hang.faults.hang = True
    async with run_sim([bad, hang]):
        closed = Target("127.0.6.22", find_free_port(), Credentials("admin", "x"))
        async with CameraFleet([*targets_of([bad, hang]), closed], timeout=0.5, attempts=1) as fleet:
            results = {r.record.host: r for r in await fleet.inventory_results()}
    assert {e.error_class for e in results["127.0.6.20"].record.errors} & {pb.ERROR_CLASS_PROTOCOL}
    assert {e.error_class for e in results["127.0.6.21"].record.errors} <= {
        pb.ERROR_CLASS_TIMEOUT,
        pb.ERROR_CLASS_UNREACHABLE,
    }
    assert results["127.0.6.21"].record.errors
    assert not results["127.0.6.22"].record.reachable
    assert results["127.0.6.22"].record.errors[0].error_class == pb.ERROR_CLASS_UNREACHABLE
    assert all(not r.ok for r in results.values())


async def test_web_server_banner_realm_and_soap_namespaces_are_evidence(
    generated: tuple[SimServer, list[Camera], list[InventoryResult]],
) -> None:
    """DESIGN §5: the Server header, the digest realm and the vendor namespaces of SOAP replies count too."""
    _, cameras, results = generated
    signals: dict[str, set[str]] = {"hikvision": set(), "dahua": set()}
    for cam, res in by_camera(cameras, results):
        if cam.identity.true_manufacturer in signals:
            signals[cam.identity.true_manufacturer] |= {
                e.signal for e in res.record.origin.evidence if e.points_to == cam.identity.true_manufacturer
            }
    # camsim's Hikvision personalities declare the hikvision.com namespaces and send App-webs/ or webserver;
    # its Dahua ones answer with the realm "Login to <serial>".
    assert "soap.namespace" in signals["hikvision"], signals
    assert "http.realm" in signals["dahua"], signals
