"""The campaign engine over the real store (SQLite and PostgreSQL), with a recording publisher and a test-side agent that
verifies every envelope with protos.verify.Verifier (k-of-n approvals included) and reports into the store."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controller.campaigns.approvals import describe, sign_manifest
from controller.campaigns.engine import CampaignEngine, CampaignError
from controller.ingest import execution_row
from controller.publisher import Publisher
from controller.store import Store
from controller.store.base import CameraFilter, CameraRow, UserRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import approve
from protos.keys import Keyring, SigningKey
from protos.verify import MemorySeenStore, VerificationError, Verifier
from tests.controller.conftest import Backend
from tests.timing import until, until_async

AGENTS = ("agent-a", "agent-b")


def camera(i: int, agent: str, *, fp: str = "", serial: str = "", mac: str = "") -> CameraRow:
    rec = pb.CameraRecord(camera_id=f"cam-{i:03d}", host=f"127.0.1.{i + 1}", port=80)
    rec.identity.serial = serial or f"SN{i:05d}"
    rec.identity.macs.append(mac or f"00:11:22:33:44:{i:02x}")
    return CameraRow(
        camera_id=f"cam-{i:03d}", agent_id=agent, site="north", host=rec.host, port=80, manufacturer="HIKVISION",
        model="DS-2CD", firmware="V5", origin="hikvision", covered=True, oem_rebrand=False, confidence=0.9,
        risk_score=80, risk_level="high", cloud_reachable=True, fingerprint=fp or f"fp{i}", reachable=True,
        observed_at=time.time(), record=rec.SerializeToString(),
    )  # fmt: skip


class FakeAgents:
    """Stands in for the fleet's agents: verifies each envelope exactly as a real agent does, then reports
    a per-camera outcome into the store. `fail` decides which cameras fail which action."""

    def __init__(self, store: Store, controller: SigningKey, approvers: Keyring) -> None:
        self.store = store
        self.sent: list[tuple[str, bytes]] = []
        self.seen = {a: MemorySeenStore() for a in AGENTS}
        self.verifiers = {
            a: Verifier(a, Keyring.of(controller.public_key), self.seen[a], approver_keys=approvers)
            for a in AGENTS
        }
        self.fail: Callable[[str, str], bool] = lambda action, cam: False
        # Which cameras end their action with the goal only partly reached (done, but still exposed).
        self.partial: Callable[[str, str], bool] = lambda action, cam: False
        self.rejected: list[str] = []
        self.executed: list[tuple[str, str, str]] = []  # (command_id, action, camera)
        self.pending: list[tuple[str, bytes]] = []
        self.seq = 0

    async def publish(self, agent_id: str, envelope: bytes) -> bool:
        self.sent.append((agent_id, envelope))
        self.pending.append((agent_id, envelope))
        return True

    async def run(self) -> None:
        """Process everything published so far (the engine is driven by tick(), so this is deterministic)."""
        todo, self.pending = self.pending, []
        for agent_id, env in todo:
            try:
                v = self.verifiers[agent_id].verify(env)
            except VerificationError as exc:
                self.rejected.append(exc.reason)
                await self.store.reject_pending(exc.command_id, agent_id, exc.reason)
                continue
            cmd = v.command
            action = cmd.action.WhichOneof("kind") or ""
            for cam in cmd.camera_ids:
                self.seq += 1
                failed = self.fail(action, cam)
                upd = pb.ExecutionUpdate(command_id=cmd.command_id, camera_id=cam, agent_id=agent_id, seq=self.seq,
                                         state=pb.EXECUTION_STATE_FAILED if failed else pb.EXECUTION_STATE_SUCCEEDED)  # fmt: skip
                if not failed:
                    partly = self.partial(action, cam)
                    upd.goal = pb.GOAL_STATE_PARTLY_REACHED if partly else pb.GOAL_STATE_REACHED
                    if partly:
                        upd.residual_exposure.append(
                            "WS-Discovery still Discoverable: the device cannot change it"
                        )
                outcome = pb.OUTCOME_WOULD_CHANGE if cmd.dry_run else pb.OUTCOME_CHANGED
                upd.settings.add(setting=f"{action}.x", outcome=pb.OUTCOME_FAILED if failed else outcome)
                if not cmd.dry_run and not failed and action != "rollback":
                    upd.snapshot.snapshot_id = f"{cmd.command_id}:{cam}"
                    upd.snapshot.values["x"] = '"on"'
                await self.store.apply_update(execution_row(upd))
                if not cmd.dry_run:
                    self.executed.append((cmd.command_id, action, cam))


class World:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.key = SigningKey.generate()
        self.approver_keys = {n: SigningKey.generate() for n in ("alice", "bob", "carol")}
        self.store = backend.make_store()
        self.agents: FakeAgents
        self.engine: CampaignEngine
        self.now = time.time()

    def clock(self) -> float:
        return self.now

    async def open(self) -> None:
        await self.store.open()
        self.ring = Keyring.of(*(k.public_key for k in self.approver_keys.values()))
        self.agents = FakeAgents(self.store, self.key, self.ring)
        # The controller pins the same approver keyring as the agents.
        self.engine = CampaignEngine(
            self.store,
            Publisher(self.store, self.key, self.agents.publish, clock=self.clock),
            clock=self.clock,
            approver_keyring=self.ring,
        )

    async def restart(self) -> None:
        """A controller restart: a new store connection and a new engine over the same database file."""
        await self.store.close()
        pending = self.agents
        self.store = self.backend.make_store()
        await self.store.open()
        self.engine = CampaignEngine(
            self.store,
            Publisher(self.store, self.key, pending.publish, clock=self.clock),
            clock=self.clock,
            approver_keyring=self.ring,
        )
        pending.store = self.store

    async def settle(self, rounds: int = 12) -> None:
        for _ in range(rounds):
            await self.engine.tick()
            await self.agents.run()


@pytest.fixture
async def world(backend: Backend) -> AsyncIterator[World]:
    w = World(backend)
    await w.open()
    for i, agent in enumerate(AGENTS):
        rows = [camera(n, agent) for n in range(i * 10, i * 10 + 10)]
        await w.store.ingest_cameras(agent, rows, full=True, removed=[], seq=1)
    for name, k in w.approver_keys.items():
        entry = Keyring.of(k.public_key).to_json()
        await w.store.put_user(UserRow(name, "x", "approver", entry))
    w.now = time.time() + 1  # the engine's clock: just after the inventory above was observed
    yield w
    await w.store.close()


def spec(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "north", "where": {"site": "north"}, "stages": ["disable_cloud"],
        "plan": {"canary": 2, "growth": 2, "max_batch": 8}, "ttl_s": 600, "preview": "none",
        "gate": {"success_threshold": 1.0, "failure_threshold": 0.5, "min_executed": 2, "action": "pause"},
    }  # fmt: skip
    d.update(over)
    if any((st if isinstance(st, str) else st.get("action")) == "decommission" for st in d["stages"]):
        # Destructive campaigns carry the count the operator previewed (test_selection_growth covers it).
        d.setdefault("expect_cameras", 1000)
    return d


async def lifecycles(w: World) -> dict[str, str]:
    rows, _ = await w.store.query_cameras(CameraFilter(), limit=100)
    return {r.camera_id: r.lifecycle for r in rows}


async def test_campaign_runs_canary_then_growing_batches_and_advances_lifecycle(world: World) -> None:
    c = await world.engine.create(spec(), "olga")
    st = await world.engine.status(c.campaign_id)
    assert [b["size"] for b in st["batches"]] == [2, 4, 8, 6]
    assert [b["state"] for b in st["batches"]] == ["READY", "PLANNED", "PLANNED", "PLANNED"]
    await world.engine.tick()
    assert world.agents.sent == []  # CREATED: nothing is sent before start
    await world.engine.start(c.campaign_id, "olga")
    await world.engine.tick()
    # Only the canary went out (its two cameras are on agent-a).
    assert len(world.agents.sent) == 1
    await world.agents.run()
    await world.engine.tick()
    st = await world.engine.status(c.campaign_id)
    assert st["batches"][0]["state"] == "SUCCEEDED" and st["batches"][1]["state"] == "RUNNING"
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    assert st["state"] == "COMPLETED"
    assert {b["state"] for b in st["batches"]} == {"SUCCEEDED"}
    assert set((await lifecycles(world)).values()) == {"CLOUD_OFF"}
    # each camera executed exactly once
    cams = [cam for _, _, cam in world.agents.executed]
    assert sorted(cams) == sorted(set(cams)) and len(cams) == 20
    assert (await world.store.verify_audit()).ok


async def test_lifecycle_advances_only_where_the_goal_was_reached(world: World) -> None:
    """An execution that did all it could but left the camera exposed (goal partly reached) completes its
    batch, but the camera keeps its lifecycle: CLOUD_OFF is a claim about the camera, not about the calls."""
    world.agents.partial = lambda action, cam: cam == "cam-001"
    c = await world.engine.create(spec(), "olga")
    await world.engine.start(c.campaign_id, "olga")
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    assert st["state"] == "COMPLETED"
    lc = await lifecycles(world)
    assert lc["cam-001"] == "INVENTORIED"
    assert {v for k, v in lc.items() if k != "cam-001"} == {"CLOUD_OFF"}
    execs = [
        e for cmd in await world.store.list_commands() for e in await world.store.executions(cmd.command_id)
    ]
    partly = [e for e in execs if e.camera_id == "cam-001"]
    assert [(e.state, e.goal) for e in partly] == [("SUCCEEDED", "partly_reached")]
    assert {e.goal for e in execs if e.camera_id != "cam-001"} == {"reached"}


async def test_failure_threshold_auto_pauses_then_resume_retries_failed_only(world: World) -> None:
    broken = {"cam-002", "cam-003", "cam-004"}
    world.agents.fail = lambda action, cam: cam in broken
    c = await world.engine.create(spec(), "olga")
    await world.engine.start(c.campaign_id, "olga")
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    # canary (cam-000, cam-001) passed; batch 2 (cam-002..005) tripped at 2 failures of 2+ executed
    assert st["state"] == "PAUSED" and st["batches"][1]["state"] == "PAUSED"
    assert "failed" in st["batches"][1]["reason"]
    assert st["batches"][2]["state"] == "PLANNED"
    sent_before = len(world.agents.sent)
    await world.settle()
    assert len(world.agents.sent) == sent_before  # paused: nothing new goes out
    world.agents.fail = lambda action, cam: False  # the cameras were fixed
    await world.engine.resume(c.campaign_id, "olga")
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    assert st["state"] == "COMPLETED"
    retried = [cam for cid, _, cam in world.agents.executed if cam in broken]
    assert len(retried) == 6 and set(retried) == broken  # each once failed, once ok
    assert [cam for _, _, cam in world.agents.executed].count(
        "cam-005"
    ) == 1  # the one that worked is not re-run
    actions = [e.action for e in await world.store.audit_entries()]
    assert "campaign.gate" in actions and (await world.store.verify_audit()).ok


async def test_gate_abort_action_and_manual_abort(world: World) -> None:
    world.agents.fail = lambda action, cam: True
    c = await world.engine.create(
        spec(gate={"failure_threshold": 0.5, "min_executed": 1, "action": "abort"}), "o"
    )
    await world.engine.start(c.campaign_id, "o")
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    assert st["state"] == "ABORTED" and {b["state"] for b in st["batches"]} == {"ABORTED"}
    with pytest.raises(CampaignError):
        await world.engine.resume(c.campaign_id, "o")
    world.agents.fail = lambda action, cam: False
    c2 = await world.engine.create(spec(name="two"), "o")
    await world.engine.start(c2.campaign_id, "o")
    await world.engine.tick()  # canary sent, not yet executed
    await world.engine.abort(c2.campaign_id, "o", "change freeze")
    await world.agents.run()
    st = await world.engine.status(c2.campaign_id)
    assert st["state"] == "ABORTED" and st["reason"] == "change freeze"
    # canceled before the agent reported: the store keeps CANCELED (a final state is written once)
    assert st["batches"][0]["stages"][0]["counts"]["canceled"] == 2


async def test_restart_resumes_without_sending_anything_twice(world: World) -> None:
    c = await world.engine.create(spec(), "olga")
    await world.engine.start(c.campaign_id, "olga")
    await world.settle(rounds=2)
    before = list(world.agents.sent)
    assert before
    await world.restart()
    await world.engine.tick()  # the new engine re-derives progress from the store
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    assert st["state"] == "COMPLETED"
    ids = [pb.Command.FromString(_envelope(e).payload).command_id for _, e in world.agents.sent]
    assert len(ids) == len(set(ids))
    assert "replayed" not in world.agents.rejected
    cams = [cam for _, _, cam in world.agents.executed]
    assert len(cams) == len(set(cams)) == 20


async def test_restart_between_step_record_and_publish_creates_the_command_once(world: World) -> None:
    c = await world.engine.create(spec(), "olga")
    await world.engine.start(c.campaign_id, "olga")

    async def crash(agent_id: str, env: bytes) -> bool:
        raise RuntimeError("controller died while publishing")

    world.engine.publish = crash
    await world.engine.tick()  # the step and the command exist; the publish failed -> QUEUED for the hub
    cmds = await world.store.list_commands()
    assert [x.state for x in cmds] == ["QUEUED"]
    await world.restart()
    await world.settle()
    assert world.agents.sent == []  # the engine does not resend a QUEUED command: the hub's dispatcher does
    assert len(await world.store.list_commands()) == 1


def _envelope(raw: bytes) -> pb.Envelope:
    return pb.Envelope.FromString(raw[4:])


async def _manifest(w: World, cid: str, bid: str) -> tuple[bytes, str]:
    st = await w.engine.status(cid)
    b = next(x for x in st["batches"] if x["batch_id"] == bid)
    batch = next(x for x in await w.store.campaign_batches(cid) if x.batch_id == bid)
    assert describe(batch.manifest)["digest"] == b["approval"]["digest"]
    return batch.manifest, b["approval"]["digest"]


async def test_decommission_needs_two_distinct_approvers(world: World) -> None:
    c = await world.engine.create(spec(stages=["disable_cloud", "decommission"], plan={"canary": 2}), "olga")
    cid = c.campaign_id
    await world.engine.start(cid, "olga")
    await world.settle()
    st = await world.engine.status(cid)
    assert st["batches"][0]["state"] == "AWAITING_APPROVAL" and world.agents.sent == []
    manifest, digest = await _manifest(world, cid, "b001")
    alice, bob = world.approver_keys["alice"], world.approver_keys["bob"]
    users = {u.username: u for u in await world.store.list_users()}
    signed = sign_manifest(base64.b64encode(manifest).decode(), alice, digest)
    # a signature by someone else's key, and one over another manifest, are refused
    with pytest.raises(CampaignError, match="not the approver key"):
        await world.engine.approve(
            cid, "b001", users["bob"], alice.key_id, approve(manifest, alice).signature
        )
    with pytest.raises(CampaignError, match="does not verify"):
        await world.engine.approve(
            cid, "b001", users["alice"], alice.key_id, approve(b"other", alice).signature
        )
    # the campaign's creator cannot approve
    await world.store.put_user(UserRow("olga", "x", "admin", Keyring.of(alice.public_key).to_json()))
    with pytest.raises(CampaignError, match="created"):
        await world.engine.approve(cid, "b001", UserRow("olga", "x", "admin", users["alice"].approver_key),
                                   alice.key_id, approve(manifest, alice).signature)  # fmt: skip
    r = await world.engine.approve(
        cid, "b001", users["alice"], signed.key_id, base64.b64decode(signed.signature_b64)
    )
    assert r == {"approvals": 1, "required": 2, "state": "AWAITING_APPROVAL"}
    with pytest.raises(CampaignError, match="already approved"):
        await world.engine.approve(
            cid, "b001", users["alice"], alice.key_id, approve(manifest, alice).signature
        )
    await world.settle()
    assert world.agents.sent == []  # one approval is not enough
    r = await world.engine.approve(cid, "b001", users["bob"], bob.key_id, approve(manifest, bob).signature)
    assert r["state"] == "READY"
    await world.settle(rounds=3)
    # the canary ran disable_cloud then decommission; the agent verified 2-of-n approvals itself
    done = [(a, cam) for _, a, cam in world.agents.executed]
    assert ("decommission", "cam-000") in done and ("decommission", "cam-001") in done
    decom = [
        e
        for _, e in world.agents.sent
        if pb.Command.FromString(_envelope(e).payload).action.HasField("decommission")
    ]
    assert decom and all(len([s for s in _envelope(e).signatures if s.role == pb.SIGNATURE_ROLE_APPROVER]) == 2
                         for e in decom)  # fmt: skip
    lc = await lifecycles(world)
    assert lc["cam-000"] == lc["cam-001"] == "DECOMMISSIONED" and lc["cam-002"] == "INVENTORIED"
    st = await world.engine.status(cid)
    assert st["batches"][0]["state"] == "SUCCEEDED" and st["batches"][1]["state"] == "AWAITING_APPROVAL"


async def test_agent_refuses_decommission_with_too_few_or_duplicate_approvals(world: World) -> None:
    """The controller never sends such a batch; this shows what the agent would do if it did (forged)."""
    c = await world.engine.create(spec(stages=["decommission"], plan={"canary": 2}), "olga")
    manifest, _ = await _manifest(world, c.campaign_id, "b001")
    alice = world.approver_keys["alice"]
    from datetime import timedelta

    from protos.envelope import new_command, seal

    for sigs in ([], [approve(manifest, alice)], [approve(manifest, alice), approve(manifest, alice)]):
        cmd = new_command("agent-a", pb.Action(decommission=pb.Decommission(mode=pb.FACTORY_RESET_MODE_SOFT)),
                          ["cam-000"], ttl=timedelta(minutes=5), campaign_id=c.campaign_id, batch_id="b001",
                          approval_manifest=manifest)  # fmt: skip
        await world.agents.publish("agent-a", seal(cmd, world.key, sigs))
    await world.agents.run()
    assert world.agents.rejected == ["insufficient_approvals"] * 3 and world.agents.executed == []


async def test_rollback_restores_snapshots_and_lifecycle(world: World) -> None:
    c = await world.engine.create(
        spec(stages=[{"action": "disable_cloud"}, {"action": "restrict_network", "params": {"allow": ["127.0.0.1"]}}],
             plan={"canary": 2}, where={"ids": ["cam-000", "cam-001", "cam-010"]}), "olga")  # fmt: skip
    cid = c.campaign_id
    await world.engine.start(cid, "olga")
    await world.settle()
    lc = await lifecycles(world)
    assert lc["cam-000"] == "NETWORK_LOCKED" and lc["cam-010"] == "NETWORK_LOCKED"
    with pytest.raises(CampaignError):
        await world.engine.rollback(cid, "nope", "olga")
    await world.engine.rollback(cid, "b001", "olga")
    await world.settle()
    st = await world.engine.status(cid)
    assert st["batches"][0]["state"] == "ROLLED_BACK" and st["batches"][1]["state"] == "SUCCEEDED"
    lc = await lifecycles(world)
    assert lc["cam-000"] == lc["cam-001"] == "INVENTORIED" and lc["cam-010"] == "NETWORK_LOCKED"
    # rollback commands name the command undone: restrict_network first, then disable_cloud
    rb = [pb.Command.FromString(_envelope(e).payload) for _, e in world.agents.sent]
    rb = [x for x in rb if x.action.HasField("rollback")]
    runs = {
        s.command_id: s.stage_idx for s in await world.store.campaign_steps(cid, "b001") if s.kind == "run"
    }
    assert [runs[x.action.rollback.snapshot_id] for x in rb] == [1, 0]


async def test_removed_confirmation_and_reappearance_alert(world: World) -> None:
    c = await world.engine.create(
        spec(stages=["decommission"], plan={"canary": 1}, where={"ids": ["cam-000"]}), "olga"
    )
    manifest, _ = await _manifest(world, c.campaign_id, "b001")
    users = {u.username: u for u in await world.store.list_users()}
    for name in ("alice", "carol"):
        k = world.approver_keys[name]
        await world.engine.approve(
            c.campaign_id, "b001", users[name], k.key_id, approve(manifest, k).signature
        )
    await world.engine.start(c.campaign_id, "olga")
    await world.settle()
    assert (await lifecycles(world))["cam-000"] == "DECOMMISSIONED"
    with pytest.raises(CampaignError, match="note"):
        await world.engine.confirm_removed("cam-000", "olga", "  ")
    with pytest.raises(CampaignError, match="only a DECOMMISSIONED"):
        await world.engine.confirm_removed("cam-001", "olga", "gone")
    await world.engine.confirm_removed("cam-000", "olga", "taken off the pole by facilities, ticket 42")
    assert (await world.store.get_camera("cam-000")).lifecycle == "REMOVED"  # type: ignore[union-attr]
    await world.engine.tick()
    assert await world.store.alerts() == []
    # The same hardware turns up at another address on agent-b (same serial and MAC, new id).
    world.now += 60
    back = camera(99, "agent-b", fp="fp0", serial="SN00000", mac="00:11:22:33:44:00")
    back.observed_at = world.now
    await world.store.ingest_cameras("agent-b", [back], full=False, removed=[], seq=2)
    await world.engine.tick()
    await world.engine.tick()
    alerts = await world.store.alerts()
    assert len(alerts) == 1 and alerts[0].camera_id == "cam-099" and alerts[0].matched_camera_id == "cam-000"
    assert "fingerprint" in alerts[0].message
    await world.engine.ack_alert(alerts[0].alert_id, "olga")
    assert await world.store.alerts(open_only=True) == []
    await world.engine.tick()
    assert len(await world.store.alerts()) == 1  # one alert per sighting, not one per tick
    # ... and the removed camera itself answers again at its old address
    again = camera(0, "agent-a")
    again.observed_at = world.now + 120
    await world.store.ingest_cameras("agent-a", [again], full=False, removed=[], seq=2)
    await world.engine.tick()
    alerts = await world.store.alerts(open_only=True)
    assert [(a.camera_id, a.matched_camera_id) for a in alerts] == [("cam-000", "cam-000")]
    assert "same camera id" in alerts[0].message
    audit = [(e.action, e.details) for e in await world.store.audit_entries()]
    assert any(a == "camera.lifecycle" and d.get("note", "").startswith("taken off") for a, d in audit)
    assert any(a == "alert.raised" for a, _ in audit)
    assert (await world.store.verify_audit()).ok


async def test_preview_dry_runs_the_canary_only(world: World) -> None:
    c = await world.engine.create(spec(preview="canary"), "olga")
    await world.agents.run()
    p = await world.engine.preview(c.campaign_id)
    assert sorted(p["cameras"]) == ["cam-000", "cam-001"] and p["pending"] == 0
    assert p["cameras"]["cam-000"]["disable_cloud"]["settings"][0]["outcome"] == "would_change"
    assert world.agents.executed == []  # dry runs change nothing
    lc = await lifecycles(world)
    assert set(lc.values()) == {"INVENTORIED"}


async def test_maintenance_window_holds_batches(world: World) -> None:
    # a window that is certainly not now: one minute, on the day three days from now
    from datetime import UTC, datetime

    day = (datetime.fromtimestamp(world.now, UTC).weekday() + 3) % 7
    c = await world.engine.create(spec(windows=[{"days": [day], "start": "00:00", "end": "00:01"}]), "olga")
    await world.engine.start(c.campaign_id, "olga")
    await world.settle(rounds=2)
    assert world.agents.sent == []
    st = await world.engine.status(c.campaign_id)
    assert st["in_window"] is False and st["batches"][0]["state"] == "READY"


async def test_rest_api_roles_manifest_and_approvals(tmp_path: Path) -> None:
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer

    from controller.api import STORE
    from controller.app import build_app
    from controller.auth import new_token, token_hash
    from controller.config import ControllerConfig

    keys = {n: SigningKey.generate() for n in ("ann", "ben")}
    (tmp_path / "approvers.json").write_text(Keyring.of(*(k.public_key for k in keys.values())).to_json())
    cfg = ControllerConfig(state_dir=tmp_path, approver_keyring=tmp_path / "approvers.json")
    app = build_app(cfg, SigningKey.generate(), mqtt=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        store = app[STORE]
        tokens: dict[str, str] = {}
        for name, role in (("vic", "viewer"), ("oli", "operator"), ("ann", "approver"), ("ben", "approver"),
                           ("ada", "admin")):  # fmt: skip
            entry = Keyring.of(keys[name].public_key).to_json() if name in keys else ""
            await store.put_user(UserRow(name, "x", role, entry))
            tokens[name] = new_token()
            await store.add_token(token_hash(tokens[name]), name, "t")
        await store.ingest_cameras(
            "agent-a", [camera(i, "agent-a") for i in range(4)], full=True, removed=[], seq=1
        )
        url = str(server.make_url("/api/v1"))
        body = spec(stages=["decommission"], plan={"canary": 2})

        def h(who: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[who]}"}

        async with ClientSession() as s:
            async with s.post(f"{url}/campaigns", json=body, headers=h("vic")) as r:
                assert r.status == 403
            async with s.post(
                f"{url}/campaigns", json={**body, "stages": ["explode"]}, headers=h("oli")
            ) as r:
                assert r.status == 400 and "stages" in (await r.json())["error"]
            async with s.post(f"{url}/campaigns", json=body, headers=h("oli")) as r:
                assert r.status == 201
                cid = (await r.json())["campaign_id"]
            async with s.get(f"{url}/campaigns/{cid}/plan", headers=h("vic")) as r:
                plan = await r.json()
                assert [b["size"] for b in plan["batches"]] == [2, 2]
            async with s.post(f"{url}/campaigns/{cid}/start", headers=h("ann")) as r:
                assert r.status == 403  # approvers do not start work
            async with s.get(f"{url}/campaigns/{cid}/batches/b001/manifest", headers=h("ann")) as r:
                m = await r.json()
            assert m["describe"]["action"] == "decommission" and m["describe"]["camera_ids"] == [
                "cam-000",
                "cam-001",
            ]
            approvals = f"{url}/campaigns/{cid}/batches/b001/approvals"
            a = sign_manifest(m["manifest_b64"], keys["ann"], m["digest"])
            async with s.post(approvals, json=a.body(), headers=h("oli")) as r:
                assert r.status == 403  # operators cannot approve
            async with s.post(approvals, json={"key_id": a.key_id, "signature": "!!"}, headers=h("ann")) as r:
                assert r.status == 400
            async with s.post(approvals, json=a.body(), headers=h("ann")) as r:
                assert r.status == 201 and (await r.json())["approvals"] == 1
            async with s.post(approvals, json=a.body(), headers=h("ann")) as r:
                assert r.status == 409  # same approver twice
            async with s.post(approvals, json=a.body(), headers=h("ben")) as r:
                assert r.status == 400  # ann's key is not ben's
            b = sign_manifest(m["manifest_b64"], keys["ben"], m["digest"])
            async with s.post(approvals, json=b.body(), headers=h("ben")) as r:
                assert (await r.json())["state"] == "READY"
            async with s.post(f"{url}/campaigns/{cid}/start", headers=h("oli")) as r:
                assert r.status == 200 and (await r.json())["state"] == "RUNNING"
            async with s.post(f"{url}/campaigns/{cid}/start", headers=h("oli")) as r:
                assert r.status == 409
            async with s.post(
                f"{url}/campaigns/{cid}/pause", json={"reason": "lunch"}, headers=h("oli")
            ) as r:
                assert (await r.json())["reason"] == "lunch"
            async with s.post(f"{url}/cameras/cam-003/removed", json={"note": "gone"}, headers=h("oli")) as r:
                assert r.status == 403  # physical removal is for admins, as on the dashboard
            async with s.post(f"{url}/cameras/cam-003/removed", json={"note": "gone"}, headers=h("ada")) as r:
                assert r.status == 409  # not decommissioned
            async with s.get(f"{url}/alerts", headers=h("vic")) as r:
                assert (await r.json()) == {"alerts": []}
            async with s.get(f"{url}/campaigns/nope", headers=h("vic")) as r:
                assert r.status == 404
        from controller.openapi import openapi_document

        paths = openapi_document()["paths"]
        assert "/api/v1/campaigns/{cid}/batches/{bid}/approvals" in paths and "/api/v1/alerts" in paths
        assert (await store.verify_audit()).ok
    finally:
        await server.close()


async def test_recovery_creates_a_recorded_step_command_exactly_once(world: World) -> None:
    """Crash after the step key was stored but before its command row: the next engine sends it, once."""
    from controller.store.base import StepRow

    c = await world.engine.create(spec(where={"ids": ["cam-000", "cam-001"]}), "olga")
    await world.engine.start(c.campaign_id, "olga")
    await world.store.campaign_step_add(
        StepRow(f"{c.campaign_id}/b001/run/0/a0/agent-a", c.campaign_id, "b001", "run", 0, 0, "agent-a",
                "5b0f5c38-8a4f-4a8e-9d2c-3b7f1e6f0a11", ["cam-000", "cam-001"], world.now)
    )  # fmt: skip
    await world.restart()
    await world.settle()
    await world.restart()
    await world.settle()
    ids = [pb.Command.FromString(_envelope(e).payload).command_id for _, e in world.agents.sent]
    assert ids == ["5b0f5c38-8a4f-4a8e-9d2c-3b7f1e6f0a11"]
    assert (await world.engine.status(c.campaign_id))["state"] == "COMPLETED"


async def test_manual_pause_holds_the_next_batch_and_resume_does_not_retry(world: World) -> None:
    c = await world.engine.create(spec(), "olga")
    await world.engine.start(c.campaign_id, "olga")
    await world.engine.tick()  # canary sent
    await world.engine.pause(c.campaign_id, "olga", "operator wants to look")
    await world.agents.run()
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    assert st["state"] == "PAUSED" and st["batches"][0]["state"] == "PAUSED"
    assert len(world.agents.sent) == 1
    # results that arrived while paused still move the lifecycle
    assert (await lifecycles(world))["cam-000"] == "CLOUD_OFF"
    with pytest.raises(CampaignError):
        await world.engine.pause(c.campaign_id, "olga")
    await world.engine.resume(c.campaign_id, "olga")
    assert (await world.engine.status(c.campaign_id))["batches"][0]["attempt"] == 0
    await world.settle()
    assert (await world.engine.status(c.campaign_id))["state"] == "COMPLETED"


async def test_expired_manifest_is_renewed_and_old_signatures_stop_counting(world: World) -> None:
    c = await world.engine.create(
        spec(stages=["decommission"], plan={"canary": 2}, approval_ttl_s=3600), "olga"
    )
    cid = c.campaign_id
    old, old_digest = await _manifest(world, cid, "b001")
    users = {u.username: u for u in await world.store.list_users()}
    alice, bob = world.approver_keys["alice"], world.approver_keys["bob"]
    await world.engine.approve(cid, "b001", users["alice"], alice.key_id, approve(old, alice).signature)
    world.now += 3601
    with pytest.raises(CampaignError, match="expired"):
        await world.engine.approve(cid, "b001", users["bob"], bob.key_id, approve(old, bob).signature)
    await world.engine.tick()
    new, digest = await _manifest(world, cid, "b001")
    assert digest != old_digest
    with pytest.raises(CampaignError, match="does not verify"):
        await world.engine.approve(cid, "b001", users["bob"], bob.key_id, approve(old, bob).signature)
    r = await world.engine.approve(cid, "b001", users["bob"], bob.key_id, approve(new, bob).signature)
    assert r["approvals"] == 1 and r["state"] == "AWAITING_APPROVAL"  # alice signed the old manifest
    r = await world.engine.approve(cid, "b001", users["alice"], alice.key_id, approve(new, alice).signature)
    assert r == {"approvals": 2, "required": 2, "state": "READY"}


async def test_approval_lapsing_before_start_asks_for_a_new_one(world: World) -> None:
    c = await world.engine.create(
        spec(stages=["decommission"], plan={"canary": 2}, approval_ttl_s=3600), "olga"
    )
    cid = c.campaign_id
    users = {u.username: u for u in await world.store.list_users()}

    async def approve_all() -> None:
        m, _ = await _manifest(world, cid, "b001")
        for name in ("alice", "bob"):
            k = world.approver_keys[name]
            await world.engine.approve(cid, "b001", users[name], k.key_id, approve(m, k).signature)

    await approve_all()
    assert (await world.engine.status(cid))["batches"][0]["state"] == "READY"
    world.now += 3600
    await world.engine.start(cid, "olga")
    await world.settle()
    st = await world.engine.status(cid)
    assert st["batches"][0]["state"] == "AWAITING_APPROVAL" and "expired" in st["batches"][0]["reason"]
    assert world.agents.sent == []
    await approve_all()
    await world.settle()
    assert ("decommission", "cam-000") in [(a, cam) for _, a, cam in world.agents.executed]
    assert world.agents.rejected == []


async def test_a_camera_that_moves_after_the_approval_needs_a_new_one(world: World) -> None:
    """Approvers signed the cameras' addresses (what the agents check a command against): a camera that answers
    from another address before the decommission is sent is not sent to its old one, nor unapproved to the new."""
    ident = {"serial": "SNMOVE0001", "macs": ["02:00:00:00:aa:01"]}
    await world.store.ingest_cameras("agent-a", [replace(camera(0, "agent-a"), **ident)], full=False, removed=[],
                                     seq=2)  # fmt: skip
    c = await world.engine.create(
        spec(stages=["decommission"], plan={"canary": 2}, approval_ttl_s=3600), "olga"
    )
    cid = c.campaign_id
    users = {u.username: u for u in await world.store.list_users()}

    async def approve_all() -> list[str]:
        m, _ = await _manifest(world, cid, "b001")
        for name in ("alice", "bob"):
            k = world.approver_keys[name]
            await world.engine.approve(cid, "b001", users[name], k.key_id, approve(m, k).signature)
        return list(pb.ApprovalManifest.FromString(m).camera_ids)

    assert await approve_all() == ["cam-000", "cam-001"]
    moved = replace(camera(0, "agent-a"), camera_id="10.9.9.9:80", host="10.9.9.9", **ident)
    await world.store.ingest_cameras("agent-a", [moved], full=False, removed=[], seq=3)
    cam = await world.store.get_camera("cam-000")
    assert cam is not None and cam.agent_ref == "10.9.9.9:80"  # the same camera, at its new address
    await world.engine.start(cid, "olga")
    await world.settle()
    st = await world.engine.status(cid)
    assert (
        st["batches"][0]["state"] == "AWAITING_APPROVAL" and "changed address" in st["batches"][0]["reason"]
    )
    assert world.agents.sent == []
    assert await approve_all() == ["10.9.9.9:80", "cam-001"]
    await world.settle()
    assert sorted(cam for _, a, cam in world.agents.executed if a == "decommission") == [
        "10.9.9.9:80",
        "cam-001",
    ]
    assert world.agents.rejected == []
    assert (await lifecycles(world))["cam-000"] == "DECOMMISSIONED"


async def test_a_camera_that_fails_a_stage_skips_the_later_stages(world: World) -> None:
    world.agents.fail = lambda action, cam: action == "disable_cloud" and cam == "cam-001"
    stages = [{"action": "disable_cloud"}, {"action": "restrict_network", "params": {"allow": ["127.0.0.1"]}}]
    gate = {"success_threshold": 0.5, "failure_threshold": 1.0, "min_executed": 5}
    c = await world.engine.create(
        spec(stages=stages, gate=gate, where={"ids": ["cam-000", "cam-001"]}), "olga"
    )
    await world.engine.start(c.campaign_id, "olga")
    await world.settle()
    st = await world.engine.status(c.campaign_id)
    assert st["state"] == "COMPLETED" and st["batches"][0]["members"] == {
        "cam-000": "active",
        "cam-001": "failed",
    }
    assert ("restrict_network", "cam-001") not in [(a, cam) for _, a, cam in world.agents.executed]
    lc = await lifecycles(world)
    assert lc["cam-000"] == "NETWORK_LOCKED" and lc["cam-001"] == "INVENTORIED"
    passed = [e.details for e in await world.store.audit_entries() if e.action == "campaign.stage.passed"]
    assert passed[0]["dropped"] == ["cam-001"]


async def test_background_run_reacts_to_hub_notifications(world: World) -> None:
    import asyncio
    import contextlib

    world.engine.interval_s = 60.0  # only a wake-up can make it tick again within the test
    task = asyncio.create_task(world.engine.run())
    try:
        await asyncio.sleep(0.2)  # let the first tick pass with nothing to do (a later one is only a wake-up)
        c = await world.engine.create(spec(where={"ids": ["cam-000"]}, plan={"canary": 1}), "olga")
        await world.engine.start(c.campaign_id, "olga")  # start() wakes the loop
        await until(lambda: world.agents.sent, 30, "the woken engine to send the canary")
        assert len(world.agents.sent) == 1
        await world.agents.run()
        world.engine.listener("execution", {"command_id": "x", "state": "SUCCEEDED"})

        async def completed() -> bool:
            return bool((await world.engine.status(c.campaign_id))["state"] == "COMPLETED")

        await until_async(completed, 30, "the notified engine to complete the campaign", step=0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_results_arriving_before_the_puback_are_not_overwritten(world: World) -> None:
    async def fast_agent(agent_id: str, env: bytes) -> bool:
        await world.agents.publish(agent_id, env)
        await world.agents.run()  # the agent answers before the engine records the publish
        return True

    world.engine.publish = fast_agent
    c = await world.engine.create(spec(where={"ids": ["cam-000", "cam-001"]}), "olga")
    await world.engine.start(c.campaign_id, "olga")
    await world.engine.tick()
    assert [x.state for x in await world.store.list_commands()] == ["SUCCEEDED"]
    assert (await world.engine.status(c.campaign_id))["state"] == "COMPLETED"
