"""CameraFleet: targets + credentials, one session per camera, a global cap; the daemon's Executor."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.actions import engine
from agent.actions.cloud import disable_cloud
from agent.actions.conn import PROBE_TIMEOUT_S, CameraConn
from agent.actions.goal import Goal, GoalSpec, GoalState, Part, evaluate
from agent.actions.lifecycle import decommission, reboot, rollback
from agent.actions.network import RestrictSpec, prove_isolation, restrict_network
from agent.attribution import VendorLookup, load_oui
from agent.auth_guard import AuthGuard
from agent.auth_memory import AuthMemory
from agent.credentials import Credentials
from agent.errors import AuthFailed, CameraError, Refused
from agent.http import DEFAULT_CONCURRENCY, HttpPool
from agent.inventory import ERROR_CLASSES, InventoryResult, inventory_camera, recorder_record
from agent.liveness import Checker, Sign
from agent.onvif_session import OnvifSession, ReadPathName
from agent.outcome import CameraOutcome, SnapshotSink
from agent.state import JournalEntry
from agent.targets import Target
from agent.vendor_probe import VendorProbes
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import action_name
from protos.recorders import Impact, channels_dark, feeds, match_channels, refusal

log = logging.getLogger(__name__)

Json = Any
#: Looks up a stored snapshot by id -> (camera_id, action, values); the daemon's AgentState.snapshot fits.
SnapshotLookup = Callable[[str], tuple[str, str, dict[str, Any]] | None]
ActionName = Literal["disable_cloud", "restrict_network", "decommission", "rollback", "reboot"]

_OUTCOMES = {
    engine.Outcome.CHANGED: pb.OUTCOME_CHANGED,
    engine.Outcome.ALREADY: pb.OUTCOME_ALREADY,
    engine.Outcome.UNSUPPORTED: pb.OUTCOME_UNSUPPORTED,
    engine.Outcome.FAILED: pb.OUTCOME_FAILED,
    engine.Outcome.WOULD_CHANGE: pb.OUTCOME_WOULD_CHANGE,
}


def camera_id_of(host: str, port: int) -> str:
    """Stable id of a target as the operator configured it (what the controller addresses)."""
    return f"{host}:{port}"


_GOALS = {
    GoalState.REACHED: pb.GOAL_STATE_REACHED,
    GoalState.PARTLY: pb.GOAL_STATE_PARTLY_REACHED,
    GoalState.NOT_REACHABLE: pb.GOAL_STATE_NOT_REACHABLE,
}
ReportStatus = Literal["ok", "partial", "failed"]


@dataclass
class ActionReport:
    """One camera's action result, for the CLI (JSON) and the daemon (CameraOutcome)."""

    camera_id: str
    host: str
    port: int
    action: str
    dry_run: bool = False
    result: engine.ActionResult | None = None
    error: CameraError | None = None
    isolation: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    # Recorder channels this action takes dark (restrict_network, decommission): shown in every plan and dry run.
    recorder_impact: list[Impact] = field(default_factory=list)
    goal: Goal | None = None

    def _isolation_contradicted(self) -> bool:
        return self.isolation is not None and self.isolation.get("result") not in (
            "refused",
            "not_applicable",
        )

    @property
    def completed(self) -> bool:
        """Everything was done without a failure (each setting changed, already, or unsupported: an answer)."""
        if self.error is not None or self.result is None or self._isolation_contradicted():
            return False
        return self.result.ok

    @property
    def status(self) -> ReportStatus:
        """failed: nothing usable (the camera was not reached, refused us, or the action was refused).
        A plan is ok when every setting was read (or answered unsupported); an apply is ok only when the goal of
        the action was reached. Everything else is partial."""
        if self.error is not None or self.result is None:
            return "failed"
        if self.dry_run:
            return "ok" if self.result.ok else "partial"
        reached = self.goal is not None and self.goal.state is GoalState.REACHED
        return "ok" if self.completed and reached else "partial"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Json]:
        return {
            "camera_id": self.camera_id,
            "host": self.host,
            "port": self.port,
            "action": self.action,
            "ok": self.ok,
            "status": self.status,
            "dry_run": self.dry_run,
            "goal": self.goal.to_dict() if self.goal is not None else None,
            "settings": [s.to_dict() for s in self.result.settings] if self.result else [],
            "snapshot": self.result.snapshot if self.result else {},
            "isolation": self.isolation,
            "recorder_impact": [i.to_dict() for i in self.recorder_impact],
            "errors": [self.error.to_dict()] if self.error else [],
        }

    def outcome(self, snapshot_id: str = "") -> CameraOutcome:
        """SUCCEEDED when the agent did all it could without a failure; the goal says how far that got the
        camera (the controller advances its lifecycle only on a reached goal)."""
        state = pb.EXECUTION_STATE_SUCCEEDED if self.completed else pb.EXECUTION_STATE_FAILED
        out = CameraOutcome(state, snapshot_id=snapshot_id)
        if self.goal is not None:
            out.goal = _GOALS[self.goal.state]
            out.residual = list(self.goal.residual)
        if self.error is not None:
            out.error_class = ERROR_CLASSES.get(self.error.error_class, pb.ERROR_CLASS_INTERNAL)
            out.message = str(self.error)
        elif self.result is not None and not self.result.ok:
            out.error_class = pb.ERROR_CLASS_VERIFY_FAILED
            out.message = "; ".join(
                f"{s.setting}: {s.reason}" for s in self.result.settings if s.outcome is engine.Outcome.FAILED
            )[:500]
        elif self._isolation_contradicted():
            assert self.isolation is not None
            out.error_class = pb.ERROR_CLASS_VERIFY_FAILED
            out.message = f"isolation not proven: {self.isolation}"
        elif self.goal is not None and self.goal.state is not GoalState.REACHED:
            out.message = self.goal.describe()[:500]
        if self.result is not None:
            out.snapshot = {k: json.dumps(v, sort_keys=True) for k, v in self.result.snapshot.items()}
            for s in self.result.settings:
                out.settings.append(
                    pb.SettingOutcome(
                        setting=s.setting,
                        outcome=_OUTCOMES[s.outcome],
                        before=json.dumps(s.before, sort_keys=True, default=str),
                        after=json.dumps(s.after, sort_keys=True, default=str),
                        reason=s.reason,
                    )
                )
        if self.isolation is not None and not out.message:
            out.message = f"isolation from {self.isolation['source']}: {self.isolation['result']}"
        if self.recorder_impact and self.error is None:
            dark = "; ".join(i.describe() for i in self.recorder_impact[:8])
            out.message = (
                out.message + " | " if out.message else ""
            ) + f"recorder channels going dark: {dark}"
        return out


class CameraFleet:
    """Holds targets and their credentials; one OnvifSession per camera over one bounded HttpPool."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = 10.0,
        attempts: int = 3,
        second_source: str | None = None,
        snapshots: SnapshotLookup | None = None,
        agent_id: str = "",
        site: str = "",
        read_path: ReadPathName | None = None,
        network_allow: Sequence[str] = (),
        source_address: str | None = None,
        auth_memory: AuthMemory | None = None,
    ) -> None:
        """`network_allow`: the site's allow list for restrict_network commands that name none (the recorders).
        `source_address`: the local address the agent reaches its cameras from (a multi-homed host).
        `auth_memory`: refusals kept from earlier runs, and where this run's are kept."""
        self.auth_memory = auth_memory
        self.network_allow = tuple(network_allow)
        self.source_address = source_address
        self.read_path = read_path
        self.targets = {camera_id_of(t.host, t.port): t for t in targets}
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.attempts = attempts
        self.second_source = second_source
        self.snapshots = snapshots
        self.snapshot_used: Callable[[str], None] | None = None  # marks a snapshot a rollback restored
        self.agent_id = agent_id
        self.site = site
        self._pool: HttpPool | None = None
        self._conns: dict[str, CameraConn] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._gate: asyncio.Semaphore | None = None
        self._oui: VendorLookup | None = None
        self._oui_loaded = False
        # What must outlive a released session. Where each camera's credential may still go, and which of its APIs
        # turned it away (agent.auth_guard: never a second failed login with the same credentials, on ONVIF or on
        # a vendor API): shared by the camera's sessions, kept across rounds, the one memory of refusals.
        self._guards: dict[str, AuthGuard] = {}
        # What the vendor probes found.
        self._probes: dict[str, VendorProbes] = {}
        # Last inventory record per camera (recorders with their channel lists): which recorder each camera feeds.
        self.records: dict[str, pb.CameraRecord] = {}
        # Steady state (check()): the last full read's reachability and the last check's Sign per camera.
        self._reachable: dict[str, bool] = {}
        self._signs: dict[str, Sign] = {}
        self._checker: Checker | None = None

    # ---- sessions ---------------------------------------------------------------------------------
    def camera_ids(self) -> list[str]:
        return list(self.targets)

    def _pool_now(self) -> HttpPool:
        if self._pool is None or self._pool.loop is not asyncio.get_running_loop():
            self._pool = HttpPool(concurrency=self.concurrency, source=self.source_address)
            self._conns.clear()
            self._locks.clear()
            self._gate = asyncio.Semaphore(self.concurrency)
        return self._pool

    def conn(self, camera_id: str) -> CameraConn:
        """The camera's one connection (created on first use). KeyError for an unknown camera."""
        pool = self._pool_now()
        c = self._conns.get(camera_id)
        if c is None:
            t = self.targets[camera_id]
            session = OnvifSession(t.host, t.port, t.credentials, timeout=self.timeout, attempts=self.attempts,
                                   pool=pool, read_path=self.read_path, guard=self.guard(camera_id))  # fmt: skip
            c = CameraConn(camera_id, t.host, t.port, session, probes=self._probes.get(camera_id),
                           second_source=self.second_source, oui=self._oui)  # fmt: skip
            self._conns[camera_id] = c
        return c

    def guard(self, camera_id: str) -> AuthGuard:
        """The camera's credential guard (one per camera for the life of the fleet)."""
        g = self._guards.get(camera_id)
        if g is None:
            g = self._guards[camera_id] = AuthGuard(self.targets[camera_id].credentials)
            if self.auth_memory is not None:
                self.auth_memory.attach(camera_id, g)
        return g

    async def release(self, camera_id: str) -> None:
        """Close a camera's session after a sweep, keeping what must be remembered.

        Each OnvifSession holds two zeep clients and service proxies (a few hundred KiB): kept for 1,000
        cameras between inventory rounds they dominate the agent's RSS, and a session is cheap to rebuild.
        """
        c = self._conns.pop(camera_id, None)
        if c is None:
            return
        if c.probes is not None:
            self._probes[camera_id] = c.probes
        await c.session.close()

    async def set_credentials(self, camera_id: str, credentials: Credentials) -> None:
        """New credentials lift a remembered auth failure, on ONVIF and on every vendor API: the guard forgets all
        it knew when its credential changes (only different ones do, see AuthGuard.bind)."""
        t = self.targets[camera_id]
        self.targets[camera_id] = Target(t.host, t.port, credentials)
        if credentials != t.credentials:
            self._probes.pop(camera_id, None)  # a refused API may answer the new credentials
        self.guard(camera_id).bind(credentials)
        if camera_id in self._conns:
            live = self._conns[camera_id]
            if credentials != t.credentials:
                live.probes = None
            await live.session.set_credentials(credentials)

    async def forget_vendor_probes(self, camera_id: str) -> None:
        """The next read probes the camera's vendor APIs afresh (a firmware update, a service switched on)."""
        self._probes.pop(camera_id, None)
        live = self._conns.get(camera_id)
        if live is not None:
            live.probes = None

    async def close(self) -> None:
        for c in self._conns.values():
            await c.session.close()
        self._conns.clear()
        self._checker = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self.auth_memory is not None:
            self.auth_memory.flush()

    async def __aenter__(self) -> CameraFleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _oui_lookup(self) -> VendorLookup | None:
        if not self._oui_loaded:
            self._oui_loaded = True
            try:
                self._oui = await load_oui()
            except (OSError, RuntimeError) as exc:  # the OUI table is evidence, not a requirement
                log.warning("OUI registry unavailable: %s", exc)
        return self._oui

    async def _exclusive(self, camera_id: str, work: Callable[[CameraConn], Awaitable[Any]]) -> Any:
        """One operation per camera at a time, and at most `concurrency` cameras in flight."""
        self._pool_now()
        assert self._gate is not None
        lock = self._locks.setdefault(camera_id, asyncio.Lock())
        async with self._gate, lock:
            return await work(self.conn(camera_id))

    # ---- inventory ----------------------------------------------------------------------------------
    async def inventory_stream(
        self,
        camera_ids: Sequence[str] | None = None,
        *,
        vendor_apis: bool = True,
        release: bool = True,
        match_recorders: bool = True,
    ) -> AsyncIterator[InventoryResult]:
        """Inventory the cameras and yield each result as soon as its camera is read (not in input order).

        At most `concurrency` cameras are in flight, each a worker pulling the next camera id, so a 10,000-camera
        site holds `concurrency` tasks and the results not yet consumed, never a task per camera.
        `match_recorders` False: a worker process reading one shard; its parent matches over all shards.
        """
        oui = await self._oui_lookup()
        pending = deque(camera_ids if camera_ids is not None else self.camera_ids())
        done: asyncio.Queue[InventoryResult | BaseException] = asyncio.Queue()

        async def worker() -> None:
            while pending:
                cid = pending.popleft()

                async def work(c: CameraConn, cid: str = cid) -> InventoryResult:
                    r = await inventory_camera(
                        c, oui=oui, agent_id=self.agent_id, site=self.site, vendor_apis=vendor_apis
                    )
                    if release:
                        await self.release(cid)  # under the camera's lock: no action is using this session
                    return r

                try:
                    result: InventoryResult = await self._exclusive(cid, work)
                    self._reachable[cid] = result.record.reachable
                    await done.put(result)
                except (
                    Exception
                ) as exc:  # inventory_camera never raises a CameraError; anything else is a bug
                    await done.put(exc)

        total = len(pending)
        workers = [asyncio.create_task(worker()) for _ in range(min(self.concurrency, total))]
        records: list[pb.CameraRecord] = []
        try:
            for _ in range(total):
                item = await done.get()
                if isinstance(item, BaseException):
                    raise item
                if match_recorders:
                    records.append(kept_record(item.record))
                yield item
            # Recorder channels are matched once per sweep, over all its records (not per camera: quadratic).
            if match_recorders:
                self.remember(records)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def inventory_results(
        self,
        camera_ids: Sequence[str] | None = None,
        *,
        vendor_apis: bool = True,
        progress: Callable[[InventoryResult], None] | None = None,
        release: bool = True,
    ) -> list[InventoryResult]:
        """Every camera's result, in the order of `camera_ids` (the targets' order by default)."""
        ids = list(camera_ids) if camera_ids is not None else self.camera_ids()
        by_id: dict[str, InventoryResult] = {}
        async for r in self.inventory_stream(ids, vendor_apis=vendor_apis, release=release):
            by_id[r.record.camera_id] = r
            if progress is not None:
                progress(r)
        return [by_id[c] for c in ids]

    async def inventory(self, camera_ids: Sequence[str] | None = None) -> list[pb.CameraRecord]:
        return [r.record for r in await self.inventory_results(camera_ids)]

    async def check(self, camera_ids: Sequence[str] | None = None) -> list[str]:
        """Cheap checks (agent.liveness: one pre-auth request, no credential) of these cameras (all by default);
        returns those that need a full read: reachability differs from their last full read, or the device
        presents itself differently from the last check. The first check of a camera only learns its Sign."""
        pool = self._pool_now()
        if self._checker is None or self._checker.gate is not pool.gate:
            self._checker = Checker(pool.gate, timeout=min(self.timeout, PROBE_TIMEOUT_S))
        checker = self._checker
        ids = list(camera_ids) if camera_ids is not None else self.camera_ids()
        pending = deque(ids)
        stale: list[str] = []

        async def worker() -> None:
            while pending:
                cid = pending.popleft()
                t = self.targets[cid]
                sign = await checker.sign(t.host, t.port)
                was = self._reachable.get(cid)
                if was and not sign.reachable:
                    # Confirm before paying for a full read: a busy camera (or a loaded agent host) misses a
                    # check now and then (on the loaded bench box whole rounds flagged cameras that had not changed).
                    sign = await checker.sign(t.host, t.port)
                if was is not None and was != sign.reachable:
                    stale.append(cid)
                elif sign.reachable:
                    # Identity is compared between answers only: a miss says nothing about who is there.
                    before = self._signs.get(cid)
                    self._signs[cid] = sign
                    if before is not None and before != sign:
                        stale.append(cid)

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(ids)))))
        return stale

    # ---- recorders ----------------------------------------------------------------------------------
    def remember(self, records: Sequence[pb.CameraRecord]) -> None:
        """Keep the latest record per camera; match every recorder channel to the cameras this agent reads (by
        MAC/serial, else address on the same site), which is how the agent knows which recorder a camera feeds."""
        for rec in records:
            self.records[rec.camera_id] = rec
        match_channels(list(self.records.values()))

    async def learn_recorders(self) -> None:
        """Without an inventory (the CLI's plan/apply): read the channel list of every target that is a recorder.
        Costs the vendor probe (deviceInfo / magicBox getSystemInfo) per target, plus the lists of recorders."""
        oui = await self._oui_lookup()

        async def one(cid: str) -> pb.CameraRecord | None:
            async def work(c: CameraConn) -> pb.CameraRecord | None:
                c.check_auth()
                return await recorder_record(c, oui, site=self.site)

            try:
                result: pb.CameraRecord | None = await self._exclusive(cid, work)
            except CameraError as exc:
                log.info("%s: not known as a recorder (%s)", cid, exc)
                return None
            return result

        ids = self.camera_ids()
        found = {r.camera_id: r for r in await asyncio.gather(*(one(c) for c in ids)) if r is not None}
        # The other targets are cameras known only by address: enough to match a recorder's channel to them.
        placeholders = [pb.CameraRecord(camera_id=cid, host=self.targets[cid].host, port=self.targets[cid].port,
                                        site=self.site, reachable=True, device_class="camera")
                        for cid in ids if cid not in found and cid not in self.records]  # fmt: skip
        self.remember([*found.values(), *placeholders])

    def recorder_impact(self, camera_id: str, action: pb.Action) -> list[Impact]:
        by_camera, by_recorder = feeds(self.records.values())
        return channels_dark(action, camera_id, by_camera, by_recorder)

    # ---- actions ------------------------------------------------------------------------------------
    async def run_action(
        self,
        camera_id: str,
        action: pb.Action,
        *,
        dry_run: bool = False,
        on_snapshot: Callable[[dict[str, Json]], Awaitable[None]] | None = None,
        on_retire: Callable[[], Awaitable[None]] | None = None,
        snapshot: Mapping[str, Json] | None = None,
    ) -> ActionReport:
        """Run one action on one camera. CameraErrors end in the report (classified), never raised.

        on_snapshot stores the prior values before the first write (and again, trimmed to what was written,
        afterwards); on_retire drops the stored snapshot when nothing was written after all."""
        name = action_name(action)
        report = ActionReport(camera_id, *self._where(camera_id), action=name, dry_run=dry_run)
        report.recorder_impact = self.recorder_impact(camera_id, action)
        why = refusal(action, report.recorder_impact)
        if why is not None:
            # Nothing is sent: cutting a camera off its recorder needs the operator's explicit acceptance.
            report.error = Refused(why, host=report.host, operation=name)
            return report
        oui = await self._oui_lookup()  # evidence for the vendor probes
        sinks = _Sinks(on_snapshot, on_retire)

        async def work(c: CameraConn) -> None:
            c.oui = c.oui or oui
            c.check_auth()
            try:
                result, goal = await self._dispatch(c, action, name, dry_run, sinks, snapshot, report)
            except AuthFailed as exc:
                c.remember_auth(exc)
                raise
            result.settings.extend(goal.rows)
            report.result = result
            extra = []
            if report._isolation_contradicted():
                assert report.isolation is not None
                extra.append(
                    f"the camera answered from {report.isolation['source']}: the filter does not hold"
                )
            report.goal = evaluate(goal, result.settings, extra=extra)

        try:
            await self._exclusive(camera_id, work)
        except CameraError as exc:
            report.error = exc
        return report

    def _where(self, camera_id: str) -> tuple[str, int]:
        t = self.targets[camera_id]
        return t.host, t.port

    def restrict_spec(self, rn: pb.RestrictNetwork) -> RestrictSpec:
        """The command's RestrictNetwork, its allow list defaulting to the site's (cameras.network_allow)."""
        allow = tuple(rn.allow) or tuple(self.network_allow)
        return RestrictSpec(allow, rn.ntp_server, tuple(rn.keep_protocols), rn.clear_gateway, rn.clear_dns,
                            rn.agent_only)  # fmt: skip

    async def _dispatch(
        self,
        c: CameraConn,
        action: pb.Action,
        name: str,
        dry_run: bool,
        sinks: _Sinks,
        snapshot: Mapping[str, Json] | None,
        report: ActionReport,
    ) -> tuple[engine.ActionResult, GoalSpec]:
        if name == "disable_cloud":
            settings, goal = await disable_cloud(c, list(action.disable_cloud.features))
            return await engine.run(settings, dry_run=dry_run, on_snapshot=sinks.snapshot,
                                    on_retire=sinks.retire), goal  # fmt: skip
        if name == "restrict_network":
            settings, goal = await restrict_network(c, self.restrict_spec(action.restrict_network))
            result = await engine.run(
                settings, dry_run=dry_run, on_snapshot=sinks.snapshot, on_retire=sinks.retire
            )
            filtered = any(
                r.setting.endswith("ip_filter")
                and r.outcome in (engine.Outcome.CHANGED, engine.Outcome.ALREADY)
                for r in result.settings
            )
            if not dry_run and result.ok and c.second_source:
                # Without any IP filter on the camera there is nothing to prove (the row says unsupported).
                proof = await prove_isolation(c) if filtered else None
                report.isolation = {
                    "source": c.second_source,
                    "result": proof.result if proof is not None else "not_applicable",
                }
            return result, goal
        if name == "reboot":
            return await reboot(c, dry_run=dry_run)
        if name == "decommission":
            mode: Literal["soft", "hard"] = (
                "hard" if action.decommission.mode == pb.FACTORY_RESET_MODE_HARD else "soft"
            )
            return await decommission(c, mode, wipe_users=action.decommission.wipe_users, dry_run=dry_run,
                                      on_snapshot=sinks.snapshot)  # fmt: skip
        if name == "rollback":
            sid = ""
            if snapshot is None:
                sid, snapshot = self._lookup_snapshot(action.rollback.snapshot_id, c.camera_id)
            result, goal = await rollback(c, snapshot, dry_run=dry_run)
            if sid and not dry_run and result.ok and self.snapshot_used is not None:
                self.snapshot_used(sid)
            return result, goal
        if name == "inventory":
            r = await inventory_camera(
                c, oui=await self._oui_lookup(), agent_id=self.agent_id, site=self.site
            )
            done = engine.ActionResult(dry_run=dry_run) if r.ok else _failed("inventory", r)
            return done, GoalSpec(parts={"inventory": Part("a complete read of the camera", essential=True)})
        raise CameraError(f"unknown action {name!r}", host=c.host, operation=name)

    def _lookup_snapshot(self, snapshot_id: str, camera_id: str) -> tuple[str, dict[str, Json]]:
        if self.snapshots is None:
            raise CameraError("no snapshot store configured", operation="rollback")
        # The daemon stores one snapshot per command and camera as '<command_id>:<camera_id>': exactly what
        # that command found just before it changed anything.
        for sid in (f"{snapshot_id}:{camera_id}", snapshot_id):
            found = self.snapshots(sid)
            if found is not None and found[0] == camera_id:
                return sid, {k: _decode(v) for k, v in found[2].items()}
        raise CameraError(f"no snapshot {snapshot_id!r} for this camera", operation="rollback")

    # ---- daemon Executor --------------------------------------------------------------------------
    async def execute(self, cmd: pb.Command, camera_id: str, on_snapshot: SnapshotSink) -> CameraOutcome:
        sid = ""

        async def sink(values: dict[str, Json]) -> None:
            nonlocal sid
            sid = await on_snapshot({k: json.dumps(v, sort_keys=True) for k, v in values.items()})

        async def retire() -> None:
            # Empty values: the daemon drops the snapshot it stored (nothing was written after all).
            nonlocal sid
            await on_snapshot({})
            sid = ""

        if camera_id not in self.targets:
            return CameraOutcome(pb.EXECUTION_STATE_FAILED, error_class=pb.ERROR_CLASS_REJECTED,
                                 message="unknown camera")  # fmt: skip
        report = await self.run_action(camera_id, cmd.action, dry_run=cmd.dry_run, on_snapshot=sink,
                                       on_retire=retire)  # fmt: skip
        return report.outcome(sid)

    async def reconcile(self, entry: JournalEntry, cmd: pb.Command) -> CameraOutcome:
        """After a restart mid-command: re-read the camera and report what holds; never write anything."""
        name = action_name(cmd.action)
        if entry.camera_id not in self.targets:
            return CameraOutcome(pb.EXECUTION_STATE_FAILED, error_class=pb.ERROR_CLASS_REJECTED,
                                 message="unknown camera")  # fmt: skip
        if name not in ("disable_cloud", "restrict_network"):
            return CameraOutcome(pb.EXECUTION_STATE_FAILED, error_class=pb.ERROR_CLASS_INTERNAL,
                                 message=f"{name} was interrupted by an agent restart; not re-applied")  # fmt: skip
        before = {k: _decode(v) for k, v in entry.snapshot.items()}
        report = ActionReport(entry.camera_id, *self._where(entry.camera_id), action=name)

        async def work(c: CameraConn) -> None:
            c.check_auth()
            if name == "disable_cloud":
                settings, goal = await disable_cloud(c, list(cmd.action.disable_cloud.features))
            else:
                settings, goal = await restrict_network(c, self.restrict_spec(cmd.action.restrict_network))
            planned = await engine.plan(settings)
            for r in planned:
                if (
                    r.outcome is engine.Outcome.ALREADY
                    and r.setting in before
                    and not engine.same(before[r.setting], r.after)
                ):
                    r.outcome, r.before = engine.Outcome.CHANGED, before[r.setting]
                elif r.outcome is engine.Outcome.WOULD_CHANGE:
                    r.outcome, r.reason = (
                        engine.Outcome.FAILED,
                        "not applied (the agent restarted mid-command)",
                    )
            report.result = engine.ActionResult(settings=planned + goal.rows, snapshot=before)
            report.goal = evaluate(goal, report.result.settings)

        try:
            await self._exclusive(entry.camera_id, work)
        except CameraError as exc:
            report.error = exc
        return report.outcome(f"{entry.command_id}:{entry.camera_id}" if before else "")


def kept_record(rec: pb.CameraRecord) -> pb.CameraRecord:
    """What the fleet keeps of a streamed record to match recorder channels (remember): a recorder whole (its
    channels get their camera ids), a camera only its address and identity. Keeping every camera's whole record
    until the sweep ended held all of them at once (evidence, risk, settings: most of a 10,000-camera sweep's RSS)."""
    if rec.device_class == "recorder":
        return rec
    kept = pb.CameraRecord(camera_id=rec.camera_id, site=rec.site, host=rec.host, port=rec.port,
                           reachable=rec.reachable, device_class=rec.device_class)  # fmt: skip
    kept.identity.macs.extend(rec.identity.macs)
    kept.identity.serial = rec.identity.serial
    return kept


@dataclass(frozen=True)
class _Sinks:
    snapshot: Callable[[dict[str, Json]], Awaitable[None]] | None = None
    retire: Callable[[], Awaitable[None]] | None = None


def _decode(value: Json) -> Json:
    """Snapshot values from the daemon are JSON strings; from the CLI state file they are values already."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _failed(operation: str, r: InventoryResult) -> engine.ActionResult:
    res = engine.ActionResult()
    msg = "; ".join(e.message for e in r.record.errors)
    res.settings.append(engine.SettingResult(operation, engine.Outcome.FAILED, reason=msg))
    return res
