"""CameraFleet as the daemon's Executor against camsim: execute, snapshots in AgentState, rollback, reconcile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.credentials import Credentials
from agent.daemon import Executor
from agent.fleet import CameraFleet, camera_id_of
from agent.state import AgentState, JournalEntry
from agent.targets import Target
from camsim.model import Camera
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.agent.conftest import PASSWORD, make_test_camera
from tests.camsim.conftest import run_sim

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    fleet: CameraFleet
    state: AgentState
    cameras: dict[str, Camera]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    cams = [
        make_test_camera("hikvision", address="127.0.11.1", features={"ezviz": True, "upnp": True}),
        make_test_camera("dahua", address="127.0.11.2", features={"t2u": True, "ddns": False}),
        make_test_camera("axis", address="127.0.11.3", features={"remote_service": True, "upnp": True}),
    ]
    state = AgentState(tmp_path / "agent.db")
    async with run_sim(cams):
        targets = [Target(c.network.address, c.port, Credentials("admin", PASSWORD)) for c in cams]
        fleet = CameraFleet(targets, timeout=3.0, snapshots=state.snapshot, agent_id="agent-1", site="s1")
        try:
            yield Setup(fleet, state, {camera_id_of(c.network.address, c.port): c for c in cams})
        finally:
            await fleet.close()
            state.close()


def command(action: pb.Action, command_id: str, *, dry_run: bool = False) -> pb.Command:
    return pb.Command(command_id=command_id, agent_id="agent-1", action=action, dry_run=dry_run)


def sink_for(state: AgentState, cmd: pb.Command, camera_id: str):  # type: ignore[no-untyped-def]
    async def on_snapshot(values: dict[str, str]) -> str:
        sid = f"{cmd.command_id}:{camera_id}"
        state.save_snapshot(sid, camera_id, "x", dict(values))
        state.journal(cmd.command_id, camera_id, "x", "applying", cmd.SerializeToString(), dict(values))
        return sid

    return on_snapshot


async def test_fleet_satisfies_the_executor_protocol(setup: Setup) -> None:
    executor: Executor = setup.fleet
    assert sorted(executor.camera_ids()) == sorted(setup.cameras)
    records = await executor.inventory()
    assert {r.camera_id for r in records} == set(setup.cameras)
    assert all(r.agent_id == "agent-1" and r.site == "s1" and r.reachable for r in records)


async def test_execute_disable_cloud_then_rollback_by_command_id(setup: Setup) -> None:
    cmd = command(pb.Action(disable_cloud=pb.DisableCloud()), "cmd-1")
    prior = {cid: (dict(c.features), c.network.discovery_mode) for cid, c in setup.cameras.items()}
    for cid, cam in setup.cameras.items():
        out = await setup.fleet.execute(cmd, cid, sink_for(setup.state, cmd, cid))
        assert out.state == pb.EXECUTION_STATE_SUCCEEDED, out.message
        assert out.snapshot_id == f"cmd-1:{cid}"
        rows = {s.setting: s.outcome for s in out.settings}
        assert rows["onvif.discovery_mode"] == pb.OUTCOME_CHANGED
        assert not cam.cloud_features_on()
        stored = setup.state.snapshot(out.snapshot_id)
        assert stored is not None and stored[2]["onvif.discovery_mode"] == '"Discoverable"'
    undo = command(pb.Action(rollback=pb.Rollback(snapshot_id="cmd-1")), "cmd-2")
    for cid, cam in setup.cameras.items():
        out = await setup.fleet.execute(undo, cid, sink_for(setup.state, undo, cid))
        assert out.state == pb.EXECUTION_STATE_SUCCEEDED, out.message
        assert (dict(cam.features), cam.network.discovery_mode) == prior[cid]


async def test_dry_run_command_and_unknown_camera_and_missing_snapshot(setup: Setup) -> None:
    cid = next(iter(setup.cameras))
    cam = setup.cameras[cid]
    cmd = command(pb.Action(disable_cloud=pb.DisableCloud()), "cmd-dry", dry_run=True)
    out = await setup.fleet.execute(cmd, cid, sink_for(setup.state, cmd, cid))
    assert out.state == pb.EXECUTION_STATE_SUCCEEDED
    assert pb.OUTCOME_WOULD_CHANGE in {s.outcome for s in out.settings}
    assert not cam.writes
    out = await setup.fleet.execute(cmd, "10.9.9.9:80", sink_for(setup.state, cmd, "x"))
    assert out.state == pb.EXECUTION_STATE_FAILED and out.error_class == pb.ERROR_CLASS_REJECTED
    undo = command(pb.Action(rollback=pb.Rollback(snapshot_id="never-ran")), "cmd-u")
    out = await setup.fleet.execute(undo, cid, sink_for(setup.state, undo, cid))
    assert out.state == pb.EXECUTION_STATE_FAILED and "no snapshot" in out.message


async def test_reconcile_rereads_and_never_writes(setup: Setup) -> None:
    cid, cam = next(iter(setup.cameras.items()))
    cmd = command(pb.Action(disable_cloud=pb.DisableCloud()), "cmd-r")
    out = await setup.fleet.execute(cmd, cid, sink_for(setup.state, cmd, cid))
    assert out.state == pb.EXECUTION_STATE_SUCCEEDED
    (entry,) = setup.state.unfinished()  # the journal says "applying": the agent "crashed" before "done"
    writes = dict(cam.writes)
    rec = await setup.fleet.reconcile(entry, cmd)
    assert cam.writes == writes
    assert rec.state == pb.EXECUTION_STATE_SUCCEEDED
    rows = {s.setting: s.outcome for s in rec.settings}
    assert rows["onvif.discovery_mode"] == pb.OUTCOME_CHANGED
    assert rows["onvif.dyndns"] == pb.OUTCOME_ALREADY
    # Crash before anything was applied: the snapshot exists, the camera still has the old values.
    cam.network.discovery_mode = "Discoverable"
    rec = await setup.fleet.reconcile(entry, cmd)
    assert cam.writes == writes
    rows = {s.setting: s.outcome for s in rec.settings}
    assert rows["onvif.discovery_mode"] == pb.OUTCOME_FAILED
    assert rec.state == pb.EXECUTION_STATE_FAILED
    other = JournalEntry("cmd-z", cid, "reboot", "applying", {}, b"")
    rec = await setup.fleet.reconcile(other, command(pb.Action(reboot=pb.Reboot()), "cmd-z"))
    assert rec.state == pb.EXECUTION_STATE_FAILED and "not re-applied" in rec.message


async def test_auth_failure_is_classified_not_raised(setup: Setup) -> None:
    cid, cam = next(iter(setup.cameras.items()))
    await setup.fleet.set_credentials(cid, Credentials("admin", "wrong"))
    cmd = command(pb.Action(restrict_network=pb.RestrictNetwork(allow=["127.0.8.1"])), "cmd-a")
    out = await setup.fleet.execute(cmd, cid, sink_for(setup.state, cmd, cid))
    assert out.state == pb.EXECUTION_STATE_FAILED
    assert out.error_class in (pb.ERROR_CLASS_AUTH, pb.ERROR_CLASS_LOCKED_OUT)
    out = await setup.fleet.execute(cmd, cid, sink_for(setup.state, cmd, cid))
    assert out.error_class in (pb.ERROR_CLASS_AUTH, pb.ERROR_CLASS_LOCKED_OUT)
    assert sum(cam.auth_failures.values()) <= 1
    assert not cam.writes
