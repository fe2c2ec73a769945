"""Actions against a real camsim fleet over HTTP/SOAP: dry run, idempotency, cloud off, isolation, rollback."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from agent.actions.engine import Outcome
from agent.credentials import Credentials
from agent.fleet import ActionReport, CameraFleet, camera_id_of
from agent.targets import Target
from camsim.fleet import generate_fleet
from camsim.model import Camera
from camsim.server import SimServer
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.camsim.conftest import run_sim
from tests.timing import until

pytestmark = pytest.mark.integration

SECOND_SOURCE = "127.0.9.1"  # a second local address: after restrict_network the camera must refuse it
RECORDER = "127.0.8.10"


@dataclass
class Sim:
    server: SimServer
    cameras: list[Camera]
    fleet: CameraFleet

    def cam(self, camera_id: str) -> Camera:
        return next(c for c in self.cameras if camera_id_of(c.network.address, c.port) == camera_id)

    async def control(self, path: str, method: str = "GET", body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, self.server.control_url + path, json=body) as r,
        ):
            return await r.json()


def targets_of(cameras: list[Camera]) -> list[Target]:
    return [Target(c.network.address, c.port, Credentials("admin", c.users[0].password)) for c in cameras]


def config_of(cam: Camera) -> dict[str, Any]:
    return copy.deepcopy(cam._config_dict())


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    # 12 cameras: every maker and OEM rebrands, seed picked so that cloud features are on for several.
    cameras = generate_fleet(12, {"hikvision": 4, "dahua": 3, "axis": 2, "generic": 1, "oem": 2}, seed=7,
                             base_address="127.0.4.1")  # fmt: skip
    for c in cameras:
        c.port = 0
        c.faults.reboot_seconds = 0.5
    async with run_sim(cameras) as server:
        fleet = CameraFleet(targets_of(cameras), concurrency=8, timeout=3.0, second_source=SECOND_SOURCE)
        try:
            yield Sim(server, cameras, fleet)
        finally:
            await fleet.close()


def disable_cloud() -> pb.Action:
    return pb.Action(disable_cloud=pb.DisableCloud())


def restrict(keep: tuple[str, ...] = ("RTSP",)) -> pb.Action:
    return pb.Action(
        restrict_network=pb.RestrictNetwork(
            allow=[RECORDER],
            ntp_server="127.0.8.1",
            keep_protocols=list(keep),
            clear_gateway=True,
            clear_dns=True,
        )
    )


async def run_all(sim: Sim, action: pb.Action, *, dry_run: bool = False) -> list[ActionReport]:
    return list(
        await asyncio.gather(
            *(sim.fleet.run_action(cid, action, dry_run=dry_run) for cid in sim.fleet.camera_ids())
        )
    )


def outcomes(report: ActionReport) -> dict[str, Outcome]:
    assert report.result is not None, report.error
    return {s.setting: s.outcome for s in report.result.settings}


async def test_dry_run_gives_the_exact_diff_and_writes_nothing(sim: Sim) -> None:
    reports = await run_all(sim, disable_cloud(), dry_run=True)
    assert all(not c.writes for c in sim.cameras)
    for rep in reports:
        cam = sim.cam(rep.camera_id)
        got = outcomes(rep)
        assert rep.error is None
        # Discovery mode is Discoverable on every generated camera: the diff says it would change, exactly.
        assert got["onvif.discovery_mode"] is Outcome.WOULD_CHANGE
        row = next(s for s in rep.result.settings if s.setting == "onvif.discovery_mode")  # type: ignore[union-attr]
        assert (row.before, row.after) == ("Discoverable", "NonDiscoverable")
        for feature, on in cam.features.items():
            key = f"{cam.identity.personality}.{feature}"
            if key in got:
                assert got[key] is (Outcome.WOULD_CHANGE if on else Outcome.ALREADY), (key, on)


async def test_disable_cloud_and_restrict_network_end_cloud_reachability(sim: Sim) -> None:
    before = await sim.control("/cameras")
    assert any(c["cloud_reachable"] for c in before), "the seed must give some cloud-reachable cameras"
    first = await run_all(sim, disable_cloud())
    assert all(r.ok for r in first), [r.to_json() for r in first if not r.ok]
    second = await run_all(sim, restrict())
    assert all(r.error is None for r in second)
    for rep in second:
        cam = sim.cam(rep.camera_id)
        got = outcomes(rep)
        if "IPFilter" in cam.capabilities:
            assert got["onvif.ip_filter"] is Outcome.CHANGED
            # Proof of isolation: the recorder and the agent stay allowed, a second local source is refused.
            assert rep.isolation == {"source": SECOND_SOURCE, "result": "refused"}
            allowed = {f"{a}/{p}" for a, p in cam.network.ip_filter.ipv4}
            assert {f"{RECORDER}/32", "127.0.0.1/32"} <= allowed
            assert rep.ok and rep.goal is not None and rep.goal.state.value == "reached", rep.to_json()
        else:
            # No IP filter at all (the generic camera): said, never skipped, and never reported as success.
            assert got["ip_filter"] is Outcome.UNSUPPORTED
            assert rep.goal is not None and rep.goal.state.value == "not_reachable", rep.to_json()
            assert rep.status == "partial" and rep.outcome().state == pb.EXECUTION_STATE_SUCCEEDED
            assert rep.outcome().goal == pb.GOAL_STATE_NOT_REACHABLE
    after = await sim.control("/cameras")
    for state in after:
        assert state["cloud_reachable"] is False, state["id"]
    # Any remaining "on" feature must have been reported unsupported, never as a false "changed".
    for rep in first:
        cam = sim.cam(rep.camera_id)
        for name, outcome in outcomes(rep).items():
            if outcome is Outcome.CHANGED and not name.startswith("onvif."):
                assert cam.features.get(name.split(".", 1)[1]) is False, name


async def test_second_run_is_already_with_no_write(sim: Sim) -> None:
    await run_all(sim, disable_cloud())
    await run_all(sim, restrict())
    writes = {c.id: dict(c.writes) for c in sim.cameras}
    for action in (disable_cloud(), restrict()):
        for rep in await run_all(sim, action):
            assert rep.error is None
            assert set(outcomes(rep).values()) <= {Outcome.ALREADY, Outcome.UNSUPPORTED}, rep.to_json()
    assert {c.id: dict(c.writes) for c in sim.cameras} == writes
    states = await sim.control("/cameras")
    assert {s["id"]: s["writes"] for s in states} == writes


async def test_rollback_restores_the_exact_prior_state(sim: Sim) -> None:
    prior = {c.id: config_of(c) for c in sim.cameras}
    snapshots: dict[str, dict[str, Any]] = {}
    for action in (disable_cloud(), restrict()):
        for rep in await run_all(sim, action):
            assert rep.result is not None
            for k, v in rep.result.snapshot.items():
                snapshots.setdefault(rep.camera_id, {}).setdefault(k, v)  # the first prior value wins
    changed = [c.id for c in sim.cameras if config_of(c) != prior[c.id]]
    assert changed
    for cid, snap in snapshots.items():
        rep = await sim.fleet.run_action(cid, pb.Action(rollback=pb.Rollback()), snapshot=snap)
        assert rep.ok, rep.to_json()
    for c in sim.cameras:
        assert config_of(c) == prior[c.id], c.id


async def test_restrict_network_never_locks_the_agent_out(sim: Sim) -> None:
    cid = next(cid for cid in sim.fleet.camera_ids() if "IPFilter" in sim.cam(cid).capabilities)
    # The operator's allow list does not name the agent: it is added anyway, so the camera still answers us.
    rep = await sim.fleet.run_action(
        cid, pb.Action(restrict_network=pb.RestrictNetwork(allow=["127.0.8.0/24"]))
    )
    assert rep.completed, rep.to_json()
    # clear_gateway/clear_dns unset: kept, and the goal says so instead of claiming success.
    assert rep.goal is not None and rep.goal.state.value == "partly_reached"
    assert any("gateway kept" in r for r in rep.goal.residual)
    assert await sim.fleet.conn(cid).reachable()
    assert ("127.0.0.1", 32) in sim.cam(cid).network.ip_filter.ipv4


async def test_filter_that_cuts_the_agent_off_is_reverted(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commit-confirm: when the reachability check right after the filter write fails, the old filter goes back."""
    cid = next(cid for cid in sim.fleet.camera_ids() if "IPFilter" in sim.cam(cid).capabilities)
    conn = sim.fleet.conn(cid)
    real = conn.answers
    calls: list[bool] = []

    async def lost_once() -> bool:
        calls.append(True)
        return False if len(calls) == 1 else await real()

    monkeypatch.setattr(conn, "answers", lost_once)
    before = list(sim.cam(cid).network.ip_filter.ipv4)
    rep = await sim.fleet.run_action(cid, pb.Action(restrict_network=pb.RestrictNetwork(allow=[RECORDER])))
    got = {s.setting: s for s in rep.result.settings}  # type: ignore[union-attr]
    assert got["onvif.ip_filter"].outcome is Outcome.FAILED
    assert "reverted" in got["onvif.ip_filter"].reason
    assert sim.cam(cid).network.ip_filter.ipv4 == before
    assert sim.cam(cid).writes["ip_filter"] == 2  # the write and its revert, nothing else
    # The engine stops at the failed setting: nothing after it was attempted.
    assert all(s.outcome is not Outcome.CHANGED for s in rep.result.settings)  # type: ignore[union-attr]
    assert not rep.ok
    assert await real()


async def test_decommission_backs_up_then_factory_defaults(sim: Sim) -> None:
    cid = sim.fleet.camera_ids()[0]
    cam = sim.cam(cid)
    cam.users.append(type(cam.users[0])("operator2", "x-pass-2", "Operator"))
    stored: list[dict[str, Any]] = []

    async def sink(values: dict[str, Any]) -> None:
        stored.append(values)

    action = pb.Action(decommission=pb.Decommission(mode=pb.FACTORY_RESET_MODE_HARD, wipe_users=True))
    dry = await sim.fleet.run_action(cid, action, dry_run=True)
    assert outcomes(dry) == {"users.wipe": Outcome.WOULD_CHANGE, "factory_default": Outcome.WOULD_CHANGE}
    assert "factory_default.hard" not in cam.writes
    rep = await sim.fleet.run_action(cid, action, on_snapshot=sink)
    assert outcomes(rep) == {"users.wipe": Outcome.CHANGED, "factory_default": Outcome.CHANGED}
    assert stored and "onvif.discovery_mode" in stored[0]
    assert cam.writes.get("factory_default.hard") == 1
    assert cam.boots == 2


async def test_reboot_and_reboot_in_the_middle_of_apply(sim: Sim) -> None:
    cid = sim.fleet.camera_ids()[1]
    cam = sim.cam(cid)
    rep = await sim.fleet.run_action(cid, pb.Action(reboot=pb.Reboot()))
    assert outcomes(rep) == {"reboot": Outcome.CHANGED}
    assert cam.boots == 2
    await until(lambda: not cam.is_down(), 10, "the camera back from its reboot")
    # Slow camera, reboot while disable_cloud is writing: a classified outcome, what changed stays known.
    cam.faults.latency_ms = 80
    cam.faults.reboot_seconds = 30
    writes_before = sum(cam.writes.values())

    async def reboot_soon() -> None:
        # The reboot lands right after the first write of the apply, whatever the machine's load.
        await until(lambda: sum(cam.writes.values()) > writes_before, 30, "the apply's first write")
        cam.reboot()

    task = asyncio.create_task(reboot_soon())
    rep = await sim.fleet.run_action(cid, disable_cloud())
    await task
    assert rep.error is not None or (rep.result is not None and not rep.result.ok)
    if rep.result is not None:
        changed = [s.setting for s in rep.result.settings if s.outcome is Outcome.CHANGED]
        assert set(changed) <= set(rep.result.snapshot)
    assert not rep.ok
    out = rep.outcome()
    assert out.state == pb.EXECUTION_STATE_FAILED and out.error_class != pb.ERROR_CLASS_INTERNAL
