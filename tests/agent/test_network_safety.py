"""Network changes that cannot strand a camera or its recorder: an allow list is required, a gateway the agent
needs is kept, a change that cuts the agent off is reverted, rollback restores what the last apply found."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.actions.engine import Outcome
from agent.credentials import Credentials
from agent.fleet import CameraFleet
from agent.targets import Target
from camsim.model import Camera
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.agent.conftest import PASSWORD, make_test_camera
from tests.camsim.conftest import find_free_port, run_sim
from tests.timing import scaled

pytestmark = pytest.mark.integration

AGENT = str(Path(sys.executable).with_name("camfleet-agent"))
RECORDER = "127.0.24.10"
AGENT_LEG = "127.0.23.1"  # the agent's address on another subnet: it reaches the camera through the gateway
GATEWAY = "192.0.2.1"


def restrict(**kw: Any) -> pb.Action:
    kw.setdefault("allow", [f"{RECORDER}/32"])
    return pb.Action(restrict_network=pb.RestrictNetwork(clear_gateway=True, clear_dns=True, **kw))


def routed_camera(address: str, port: int, *, prefix: int) -> Camera:
    """A camera that answers the agent's leg (127.0.23.0/24) only through its default gateway."""
    cam = make_test_camera("generic", address=address, port=port)
    cam.capabilities = ["IPFilter", "ZeroConfiguration", "NTP"]
    cam.network.prefix_length = prefix
    cam.network.gateway = [GATEWAY]
    cam.routed_sources = ["127.0.23.0/24"]
    return cam


def fleet_for(cam: Camera, **kw: Any) -> CameraFleet:
    return CameraFleet([Target(cam.network.address, cam.port, Credentials("admin", PASSWORD))], timeout=3.0,
                       attempts=1, **kw)  # fmt: skip


async def test_gateway_the_agent_is_reached_through_is_kept() -> None:
    """The camera says it is on 127.0.22.0/24 and the agent talks to it from 127.0.23.1: clearing the gateway
    would leave nobody able to reach it, not even to put the gateway back. Kept, and the result says why."""
    cam = routed_camera("127.0.22.5", find_free_port(), prefix=24)
    async with run_sim([cam]), fleet_for(cam, source_address=AGENT_LEG) as fleet:
        cid = fleet.camera_ids()[0]
        rep = await fleet.run_action(cid, restrict())
    rows = {s.setting: s for s in rep.result.settings}  # type: ignore[union-attr]
    assert rows["onvif.gateway"].outcome is Outcome.UNSUPPORTED
    assert (
        f"{AGENT_LEG}/32" in rows["onvif.gateway"].reason and "127.0.22.0/24" in rows["onvif.gateway"].reason
    )
    assert cam.network.gateway == [GATEWAY] and "gateway" not in cam.writes
    # The filter went in (the agent's own leg allowed), the rest too: partly reached, the gateway named.
    assert rows["onvif.ip_filter"].outcome is Outcome.CHANGED
    assert (AGENT_LEG, 32) in cam.network.ip_filter.ipv4 and (RECORDER, 32) in cam.network.ip_filter.ipv4
    assert rep.goal is not None and rep.goal.state.value == "partly_reached"
    assert any("default gateway" in r for r in rep.goal.residual)
    assert rep.completed and rep.status == "partial"


async def test_a_gateway_change_that_cuts_the_agent_off_is_reverted() -> None:
    """The camera claims 127.0.0.0/8 (so the check lets the change through), yet the agent's leg is routed:
    once the gateway is gone the camera cannot answer. Commit-confirm notices and writes the gateway back."""
    cam = routed_camera("127.0.22.6", find_free_port(), prefix=8)
    async with run_sim([cam]) as server:
        async with fleet_for(cam, source_address=AGENT_LEG) as fleet:
            cid = fleet.camera_ids()[0]
            rep = await fleet.run_action(cid, restrict())
            assert await fleet.conn(cid).reachable()  # the camera answers the agent again
        assert server.traffic[cam.id]["no_route"] >= 1  # the cut really happened
    rows = {s.setting: s for s in rep.result.settings}  # type: ignore[union-attr]
    assert rows["onvif.gateway"].outcome is Outcome.FAILED and "reverted" in rows["onvif.gateway"].reason
    assert cam.network.gateway == [GATEWAY]
    assert cam.writes["gateway"] == 2  # the write and its revert, nothing else
    # Nothing after it was attempted, and the execution is a failure that says what happened.
    assert all(s.outcome is not Outcome.CHANGED for k, s in rows.items() if k not in ("onvif.ip_filter",))
    out = rep.outcome()
    assert out.state == pb.EXECUTION_STATE_FAILED and "reverted" in out.message


async def test_restrict_network_without_an_allow_list_is_refused() -> None:
    cam = make_test_camera("hikvision", address="127.0.22.7", port=find_free_port())
    async with run_sim([cam]) as server:
        before = server.traffic.get(cam.id, {}).get("requests", 0)
        async with fleet_for(cam) as fleet:
            cid = fleet.camera_ids()[0]
            rep = await fleet.run_action(cid, restrict(allow=[]), dry_run=True)
            assert rep.to_json()["dry_run"] is True and rep.status == "failed"  # a plan stays a plan
            rep = await fleet.run_action(cid, restrict(allow=[]))
            assert rep.error is not None and rep.error.error_class == "rejected"
            assert "allow list" in rep.error.message and "recorder" in rep.error.message
            assert "ip_filter" not in cam.writes
            assert rep.outcome().error_class == pb.ERROR_CLASS_REJECTED
            # The explicit flag lets an agent-only filter through.
            rep = await fleet.run_action(cid, restrict(allow=[], agent_only=True))
            assert rep.error is None and cam.network.ip_filter.ipv4 == [("127.0.0.1", 32)]
        assert server.traffic[cam.id]["requests"] > before
    # The daemon's site allow list (cameras.network_allow) stands in for a command without one.
    cam2 = make_test_camera("hikvision", address="127.0.22.8", port=find_free_port())
    async with run_sim([cam2]), fleet_for(cam2, network_allow=[f"{RECORDER}/32"]) as fleet:
        rep = await fleet.run_action(fleet.camera_ids()[0], restrict(allow=[]))
        assert rep.error is None and (RECORDER, 32) in cam2.network.ip_filter.ipv4


async def _agent(*args: str, cwd: Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = await asyncio.create_subprocess_exec(AGENT, *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), scaled(120))
    lines = [json.loads(x) for x in out.decode().splitlines() if x.startswith("{")]
    assert proc.returncode is not None
    return proc.returncode, lines, err.decode()


def _cli_args(cam: Camera, where: Path) -> list[str]:
    """--targets (this one camera, its own password) --json --state for camfleet-agent in `where`."""
    targets = where / "targets.csv"
    targets.write_text(
        f"host,port,username,password\n{cam.network.address},{cam.port},admin,{cam.users[0].password}\n"
    )
    return ["--targets", str(targets), "--json", "--state", str(where / "state.json")]


async def test_rollback_after_a_later_manual_change_restores_the_pre_apply_value(tmp_path: Path) -> None:
    cam = make_test_camera("hikvision", address="127.0.22.9", port=find_free_port())
    cam.network.gateway = ["192.0.2.1"]
    async with run_sim([cam]):
        common = _cli_args(cam, tmp_path)
        state = tmp_path / "state.json"
        rc, _, err = await _agent("apply", "restrict_network", "--allow", RECORDER, *common, cwd=tmp_path)
        assert rc == 0, err
        assert cam.network.gateway == [] and oct(state.stat().st_mode & 0o777) == "0o600"
        # First rollback: back to 192.0.2.1; the snapshot is marked rolled back.
        rc, _, err = await _agent("rollback", *common, cwd=tmp_path)
        assert rc == 0 and cam.network.gateway == ["192.0.2.1"], err
        [snap] = json.loads(state.read_text())["snapshots"]
        assert snap["rolled_back"]
        # Someone changes the gateway by hand, then restrict_network runs again (its snapshot: 192.0.2.254).
        cam.network.gateway = ["192.0.2.254"]
        rc, _, err = await _agent("apply", "restrict_network", "--allow", RECORDER, *common, cwd=tmp_path)
        assert rc == 0 and cam.network.gateway == [], err
        # Rollback restores what that apply found, not what the first one did.
        rc, lines, err = await _agent("rollback", *common, cwd=tmp_path)
        assert rc == 0, err
        assert cam.network.gateway == ["192.0.2.254"]
        writes = dict(cam.writes)
        # Idempotent: nothing left to undo; repeating that apply's rollback by id finds everything in place.
        rc, _, err = await _agent("rollback", *common, cwd=tmp_path)
        assert rc == 0 and "nothing left to roll back" in err
        latest = max(json.loads(state.read_text())["snapshots"], key=lambda s: s["taken"])
        rc, lines, err = await _agent("rollback", "--snapshot", latest["id"], *common, cwd=tmp_path)
        assert rc == 0, err
        assert {s["outcome"] for s in lines[0]["settings"]} == {"already"}
        assert cam.writes == writes and cam.network.gateway == ["192.0.2.254"]


async def test_a_repeated_apply_that_changes_nothing_adds_no_snapshot(tmp_path: Path) -> None:
    """A minimal device whose Set operations fault: every planned change is unsupported, so nothing was
    written and nothing needs rolling back. Its goal says what stayed exposed."""
    from camsim.fleet import make_camera

    cam = make_camera(0, "foreign", 5, "127.0.22.10", port=find_free_port(), model_name="SL-ONVIF-LITE")
    async with run_sim([cam]):
        common = _cli_args(cam, tmp_path)
        state = tmp_path / "state.json"
        for _ in range(2):
            rc, lines, err = await _agent("apply", "disable_cloud", *common, cwd=tmp_path)
            assert rc == 1, (err, lines)  # partly reached: WS-Discovery cannot be switched off here
            assert lines[0]["goal"]["state"] == "partly_reached"
            assert any(
                r.startswith("WS-Discovery") and "still" in r for r in lines[0]["goal"]["residual_exposure"]
            )
            assert lines[0]["snapshot"] == {}
        assert json.loads(state.read_text())["snapshots"] == []
        assert cam.network.discovery_mode == "Discoverable"
