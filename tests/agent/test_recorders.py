"""Recorders in the agent: channel lists over ISAPI, Dahua CGI and ONVIF Profile G, graded against camsim's truth;
which recorder each camera feeds; the channels restrict_network and decommission would take dark, and the refusal."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from agent.credentials import Credentials
from agent.fleet import CameraFleet, camera_id_of
from agent.inventory import inventory_camera
from agent.targets import Target
from camsim.export import feeds as truth_feeds
from camsim.fleet import generate_fleet
from camsim.model import Camera
from camsim.recorders import channel_views
from camsim.server import SimServer
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.camsim.conftest import find_free_port, run_sim

pytestmark = pytest.mark.integration

MIX = {"hikvision": 40, "dahua": 30, "axis": 15, "generic": 10, "oem": 5}
BASE = f"127.9.{os.getpid() % 250 + 1}.1"


def target(cam: Camera) -> Target:
    return Target(cam.network.address, cam.port, Credentials("admin", cam.users[0].password))


@asynccontextmanager
async def site(recorders: int = 5, seed: int = 21) -> AsyncIterator[tuple[list[Camera], SimServer]]:
    cams = generate_fleet(40, MIX, seed, base_address=BASE, port=find_free_port(), recorders=recorders)
    async with run_sim(cams) as server:
        yield cams, server


async def test_recorder_credentials_alone_list_every_camera_behind_it() -> None:
    async with site() as (cams, _):
        recs = [c for c in cams if c.is_recorder]
        async with CameraFleet([target(r) for r in recs], concurrency=8, timeout=10) as fleet:
            results = await fleet.inventory_results()
    by_id = {c.id: c for c in cams}
    expected = truth_feeds(cams)
    seen: dict[str, tuple[str, int]] = {}
    for res, rec in zip(results, recs, strict=True):
        r = res.record
        assert r.device_class == "recorder" and not r.errors, r.errors
        assert [ch.channel for ch in r.channels] == [ch.number for ch in rec.channels]
        for ch, truth in zip(r.channels, rec.channels, strict=True):
            cam = by_id[truth.camera_id]
            assert (ch.address, ch.online) == (truth.address, True)
            assert ch.identity.serial == cam.identity.serial and ch.identity.model == cam.identity.model
            # Attributed like any camera: right maker, or an honest "unknown" for the made-up generic brand.
            want = (
                cam.identity.true_manufacturer if cam.identity.true_manufacturer != "generic" else "unknown"
            )
            assert ch.origin.manufacturer == want, (ch.identity.model, ch.origin)
            assert ch.origin.evidence or want == "unknown"
            seen[cam.identity.serial] = (rec.id, ch.channel)
    # Every camera on a channel (hidden ones included) was listed, each once, with its recorder and channel.
    assert seen == {by_id[cid].identity.serial: (rec.id, n) for cid, (rec, n, _) in expected.items()}
    assert any(not by_id[cid].reachable for cid in expected)


async def test_dahua_recorder_passwords_never_leave_the_parser() -> None:
    async with site(recorders=8) as (cams, _):
        rec = next(c for c in cams if c.is_recorder and c.identity.personality == "dahua")
        secrets = {c.users[0].password for c in cams if c.users} - {rec.users[0].password}
        async with CameraFleet([target(rec)], concurrency=2, timeout=10) as fleet:
            (res,) = await fleet.inventory_results()
    assert res.record.channels
    blob = res.record.SerializeToString() + repr(res.to_json()).encode()
    assert not [s for s in secrets if s.encode() in blob]


async def test_onvif_profile_g_lists_channels_without_vendor_api() -> None:
    async with site(recorders=2) as (cams, _):
        rec = next(c for c in cams if c.is_recorder)
        async with CameraFleet([target(rec)], concurrency=2, timeout=10) as fleet:
            res = await fleet._exclusive(camera_id_of(rec.network.address, rec.port),
                                         lambda c: inventory_camera(c, vendor_apis=False))  # fmt: skip
    r = res.record
    assert r.device_class == "recorder", r.errors
    assert [ch.address for ch in r.channels] == [ch.address for ch in rec.channels]
    assert all(list(ch.sources) == ["onvif.recordings"] for ch in r.channels)


def _restrict(allow: list[str], accept: bool = False) -> pb.Action:
    return pb.Action(
        restrict_network=pb.RestrictNetwork(
            allow=allow, accept_recording_gap=accept, clear_gateway=True, clear_dns=True
        )
    )


async def test_restrict_network_keeps_recorders_and_refuses_to_cut_them_off() -> None:
    async with site(recorders=5) as (cams, server):
        fed = truth_feeds(cams)
        lan = [c for c in cams if c.id in fed and c.reachable and "IPFilter" in c.capabilities][:3]
        assert lan, "the fleet has cameras on the LAN feeding recorders"
        recs = {fed[c.id][0].id: fed[c.id][0] for c in lan}
        targets = [target(c) for c in lan] + [target(r) for r in recs.values()]
        async with CameraFleet(targets, concurrency=8, timeout=10) as fleet:
            results = await fleet.inventory_results()
            cam = lan[0]
            cid = camera_id_of(cam.network.address, cam.port)
            # What the fleet keeps to match channels: a camera's address and identity, not its whole record (which
            # held every record of a 10,000-camera sweep at once); a recorder whole, its channels matched.
            full = next(r.record for r in results if r.record.camera_id == cid)
            kept = fleet.records[cid]
            assert full.origin.evidence and full.network.protocols
            assert (
                (kept.host, kept.identity.serial, list(kept.identity.macs))
                == (full.host, full.identity.serial, list(full.identity.macs))
                and not kept.origin.evidence
                and not kept.network.protocols
            )
            assert all(
                fleet.records[r.record.camera_id].channels
                for r in results
                if r.record.device_class == "recorder"
            )
            recorder, channel, _ = fed[cam.id]
            # Without the recorder in the allow list: refused, nothing written, the channel named. (The other
            # allowed address is on the cameras' subnet: one outside it would keep their gateway, issue 12.)
            report = await fleet.run_action(cid, _restrict(["127.0.9.9/32"]), dry_run=True)
            assert report.error is not None and report.error.error_class == "rejected"
            assert [(i.recorder_host, i.channel) for i in report.recorder_impact] == [
                (recorder.network.address, channel)
            ]
            report = await fleet.run_action(cid, _restrict(["127.0.9.9/32"]))
            assert report.error is not None and "ip_filter" not in cam.writes
            # With the recorder allowed: applied, and the recorder still records the camera.
            report = await fleet.run_action(
                cid, _restrict(["127.0.9.9/32", f"{recorder.network.address}/32"])
            )
            assert report.ok and not report.recorder_impact, report.to_json()
            view = next(v for v in channel_views(recorder, server.lookup) if v.channel.number == channel)
            assert view.online
            # The operator accepts the gap for the second camera: it runs, and exactly that channel goes dark.
            other = lan[1]
            oid = camera_id_of(other.network.address, other.port)
            report = await fleet.run_action(oid, _restrict(["127.0.9.9/32"], accept=True))
            assert report.ok and len(report.recorder_impact) == 1
            o_rec, o_ch, _ = fed[other.id]
            dark = {(rec.id, v.channel.number) for rec in recs.values() for v in channel_views(rec, server.lookup)
                    if not v.online}  # fmt: skip
            assert dark == {(o_rec.id, o_ch)}


async def test_decommission_plan_lists_exactly_the_channels_that_go_dark() -> None:
    async with site(recorders=4) as (cams, _):
        fed = truth_feeds(cams)
        recs = [c for c in cams if c.is_recorder]
        lan = [c for c in cams if c.id in fed and c.reachable][:4]
        plain = [c for c in cams if c.reachable and c.activated and not c.is_recorder and c.id not in fed][:2]
        chosen = [*lan, *plain, recs[0]]
        async with CameraFleet([target(c) for c in [*chosen, *recs[1:]]], concurrency=8, timeout=10) as fleet:
            await fleet.learn_recorders()  # what `camfleet-agent plan decommission` does before planning
            action = pb.Action(decommission=pb.Decommission(mode=pb.FACTORY_RESET_MODE_SOFT))
            planned = set()
            for c in chosen:
                report = await fleet.run_action(camera_id_of(c.network.address, c.port), action, dry_run=True)
                planned |= {(i.recorder_host, i.channel) for i in report.recorder_impact}
    by_host = {r.network.address: r for r in recs}
    expected = {(fed[c.id][0].network.address, fed[c.id][1]) for c in lan}
    expected |= {(recs[0].network.address, ch.number) for ch in recs[0].channels}
    assert planned == expected
    assert all(h in by_host for h, _ in planned)


async def test_recorders_get_the_same_hardening_as_cameras() -> None:
    async with site(recorders=6) as (cams, _):
        recs = [
            next(c for c in cams if c.is_recorder and c.identity.personality == p)
            for p in ("hikvision", "dahua")
        ]
        for rec in recs:
            for feature in rec.features:
                rec.features[feature] = feature in ("ezviz", "t2u", "upnp", "ddns")
        async with CameraFleet([target(r) for r in recs], concurrency=4, timeout=10) as fleet:
            action = pb.Action(disable_cloud=pb.DisableCloud())
            for rec in recs:
                report = await fleet.run_action(camera_id_of(rec.network.address, rec.port), action)
                assert report.ok, report.to_json()
                assert report.result is not None
                assert any(s.outcome.value == "changed" for s in report.result.settings)
        for rec in recs:
            assert not rec.cloud_features_on(), (rec.identity.model, rec.features)
            assert rec.channels, "hardening leaves the recorder's channels alone"
