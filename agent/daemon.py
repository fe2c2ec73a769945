"""The agent daemon: MQTT over mTLS, signed commands in, execution updates and inventory out, via the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
import time
from collections.abc import Sequence
from typing import Protocol

import aiomqtt
from google.protobuf.timestamp_pb2 import Timestamp
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent import __version__
from agent.attribution import VendorLookup, load_oui
from agent.census.runner import CensusConfig, CensusError, run_census
from agent.census.wire import known_from_records
from agent.census.wire import reports as census_reports
from agent.config import AgentConfig
from agent.durable import private_dir
from agent.metrics import build_metrics
from agent.outbox import Outbox
from agent.outcome import CameraOutcome, SnapshotSink
from agent.state import AgentState, JournalEntry
from agent.targets import RangeAllowList
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import action_name, is_destructive
from protos.keys import Keyring
from protos.verify import VerificationError, Verifier

log = logging.getLogger(__name__)

#: Actions after which the cameras they touched are re-read and reported at once.
CHANGING_ACTIONS = frozenset({"disable_cloud", "restrict_network", "decommission", "rollback", "reboot"})
FINAL = frozenset({pb.EXECUTION_STATE_SUCCEEDED, pb.EXECUTION_STATE_FAILED, pb.EXECUTION_STATE_REJECTED,
                   pb.EXECUTION_STATE_TIMED_OUT, pb.EXECUTION_STATE_CANCELED})  # fmt: skip


class Executor(Protocol):
    """The camera layer as the daemon sees it (agent.fleet.CameraFleet implements it over ONVIF/vendor APIs)."""

    async def execute(self, cmd: pb.Command, camera_id: str, on_snapshot: SnapshotSink) -> CameraOutcome: ...

    async def reconcile(self, entry: JournalEntry, cmd: pb.Command) -> CameraOutcome: ...

    async def inventory(self, camera_ids: Sequence[str] | None = None) -> list[pb.CameraRecord]:
        """Full reads of these cameras (all when None)."""
        ...

    async def check(self, camera_ids: Sequence[str] | None = None) -> list[str]:
        """Cheap reachability/identity checks; returns the cameras that need a full read now."""
        ...

    def camera_ids(self) -> list[str]: ...


def _now_ts() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def tls_context(cfg: AgentConfig) -> ssl.SSLContext | None:
    b = cfg.broker
    if b.ca is None:
        return None
    ctx = ssl.create_default_context(cafile=str(b.ca))
    if b.cert is not None and b.key is not None:
        ctx.load_cert_chain(str(b.cert), str(b.key))
    return ctx


class AgentDaemon:
    def __init__(self, cfg: AgentConfig, executor: Executor) -> None:
        self.cfg = cfg
        self.executor = executor
        private_dir(cfg.state_dir)
        self.outbox = Outbox(cfg.state_dir / "outbox.db")
        self.state = AgentState(cfg.state_dir / "agent.db")
        self.boot_seq = self.outbox.next("boot")
        approvers = Keyring.load(cfg.approver_keyring) if cfg.approver_keyring else Keyring()
        self.verifier = Verifier(
            cfg.agent_id,
            Keyring.load(cfg.controller_keyring),
            self.state,
            approver_keys=approvers,
            approvals_required=cfg.approvals_required,
            clock_slack_s=cfg.clock_slack_s,
        )
        self.controller_online = False
        self._controller_online_evt = asyncio.Event()
        self._outbox_wake = asyncio.Event()
        self._inventory_wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._sem = asyncio.Semaphore(max(1, cfg.concurrency))
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_inventory: dict[str, bytes] = {}
        self._last_records: list[pb.CameraRecord] = []
        self._auth_alerted: set[str] = set()  # cameras whose refused credentials were reported (lockout risk)
        self._inventoried = asyncio.Event()  # the first inventory is out: the census can merge with it
        self._oui: VendorLookup | None = None
        self.connected = asyncio.Event()
        self.metrics = build_metrics()
        self.metrics.cameras.set(len(executor.camera_ids()))

    # ---- outbound ------------------------------------------------------------------------------
    def _enqueue(self, kind: topics.AgentTopicKind, payload: bytes, *, retain: bool = False) -> None:
        self.outbox.put(topics.agent_topic(self.cfg.agent_id, kind), payload, retain=retain)
        self._outbox_wake.set()

    def report(self, cmd_id: str, camera_id: str, state: pb.ExecutionState, outcome: CameraOutcome | None = None,
               reason: str = "") -> None:  # fmt: skip
        upd = pb.ExecutionUpdate(
            command_id=cmd_id, camera_id=camera_id, agent_id=self.cfg.agent_id, state=state,
            seq=self.outbox.next("msg"), rejection_reason=reason,
        )  # fmt: skip
        upd.at.CopyFrom(_now_ts())
        if outcome is not None:
            upd.settings.extend(outcome.settings)
            upd.error_class = outcome.error_class
            upd.message = outcome.message
            upd.goal = outcome.goal
            upd.residual_exposure.extend(outcome.residual)
            if outcome.snapshot:
                upd.snapshot.snapshot_id = outcome.snapshot_id
                upd.snapshot.camera_id = camera_id
                upd.snapshot.values.update(outcome.snapshot)
        self._enqueue("result", upd.SerializeToString())

    def event(self, kind: pb.EventKind, message: str, camera_id: str = "", **details: str) -> None:
        ev = pb.Event(agent_id=self.cfg.agent_id, kind=kind, camera_id=camera_id, message=message,
                      seq=self.outbox.next("msg"))  # fmt: skip
        ev.at.CopyFrom(_now_ts())
        ev.details.update(details)
        self._enqueue("events", ev.SerializeToString())

    def status(self, online: bool) -> pb.AgentStatus:
        st = pb.AgentStatus(
            agent_id=self.cfg.agent_id, version=__version__, boot_seq=self.boot_seq, online=online,
            site=self.cfg.site, camera_count=len(self.executor.camera_ids()),
            capabilities=["inventory", "disable_cloud", "restrict_network", "decommission", "rollback", "reboot",
                          *(["census"] if self.cfg.census.enabled else [])],
        )  # fmt: skip
        st.at.CopyFrom(_now_ts())
        return st

    async def publish_inventory(self, *, full: bool, camera_ids: Sequence[str] | None = None) -> int:
        """Read cameras and report them: `full` replaces the controller's set; a round over every camera reports
        what changed (and what went away); a round over `camera_ids` reports those cameras as just read."""
        records = await self.executor.inventory(camera_ids)
        self._alert_refused(records)
        if camera_ids is None:
            self._last_records = records
        else:
            merged = {r.camera_id: r for r in self._last_records}
            merged.update((r.camera_id, r) for r in records)
            self._last_records = list(merged.values())
        current = {r.camera_id: r.SerializeToString(deterministic=True) for r in records}
        removed: list[str] = []
        if full or camera_ids is not None:
            changed = records
        else:
            changed = [r for r in records if self._last_inventory.get(r.camera_id) != current[r.camera_id]]
            removed = [cid for cid in self._last_inventory if cid not in current]
            if not changed and not removed:
                return 0
        # Big fleets go out in chunks so no single MQTT message grows past the broker's limits.
        chunk = 200
        parts = [changed[i : i + chunk] for i in range(0, len(changed), chunk)] or [[]]
        for i, part in enumerate(parts):
            rep = pb.InventoryReport(
                agent_id=self.cfg.agent_id, full=full and i == 0 and len(parts) == 1, seq=self.outbox.next("msg"),
                removed_camera_ids=removed if i == 0 else [],
            )  # fmt: skip
            rep.cameras.extend(part)
            rep.at.CopyFrom(_now_ts())
            self._enqueue("inventory", rep.SerializeToString())
        if camera_ids is None:
            self._last_inventory = current
        else:
            self._last_inventory.update(current)
        return len(changed)

    def _alert_refused(self, records: Sequence[pb.CameraRecord]) -> None:
        """A camera (or one of its vendor APIs) that refused our credentials is not sent them again until they
        change: cameras lock accounts. Say so once per camera, as a lockout-risk event, so an operator fixes the
        credentials instead of finding a silent camera weeks later. A clean read later re-arms the alert."""
        for r in records:
            refused = [
                e for e in r.errors if e.error_class in (pb.ERROR_CLASS_AUTH, pb.ERROR_CLASS_LOCKED_OUT)
            ]
            if not refused:
                self._auth_alerted.discard(r.camera_id)
            elif r.camera_id not in self._auth_alerted:
                self._auth_alerted.add(r.camera_id)
                e = refused[0]
                self.event(pb.EVENT_KIND_LOCKOUT_RISK,
                           f"{e.operation}: {e.message}; not retried until the credentials change", r.camera_id,
                           operation=e.operation, error_class=pb.ErrorClass.Name(e.error_class))  # fmt: skip

    async def publish_census(self) -> int:
        """One census run (no credentials), merged with the last inventory, published in parts; returns devices."""
        c = self.cfg.census
        cfg = CensusConfig(
            interfaces=tuple(c.interfaces), ranges=tuple(c.ranges),
            allow=RangeAllowList.from_config(self.cfg.discovery_ranges), http_ports=tuple(c.http_ports),
            rtsp_ports=tuple(c.rtsp_ports), tls_ports=tuple(c.tls_ports), window_s=c.window_s,
            timeout_s=min(self.cfg.timeout_s, 5.0), rate_per_s=c.rate_per_s, max_messages=c.max_messages,
            scope=c.scope,
        )  # fmt: skip
        if self._oui is None:
            with contextlib.suppress(OSError, RuntimeError):
                self._oui = await load_oui()
        known = known_from_records(self._last_records, self.executor.camera_ids())
        result = await run_census(cfg, oui=self._oui, known=known)
        seqs = (self.outbox.next("msg") for _ in itertools.count())
        for rep in census_reports(result, self.cfg.agent_id, seqs):
            self._enqueue("census", rep.SerializeToString())
        log.info("census: %d devices, sent %s", len(result.devices), dict(result.sent))
        return len(result.devices)

    async def _census_loop(self) -> None:
        await self._inventoried.wait()
        while not self._stop.is_set():
            try:
                await self.publish_census()
            except CensusError as exc:
                log.error("census refused: %s", exc)
                self.event(pb.EVENT_KIND_CENSUS_FAILED, f"census refused: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.cfg.census.interval_s)

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish outbox messages in order; each is deleted only once the broker acknowledged it."""
        while True:
            batch = self.outbox.pending()
            if not batch:
                self._outbox_wake.clear()
                await self._outbox_wake.wait()
                continue
            for m in batch:
                await client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain, timeout=30)
                self.outbox.ack(m.id)
            self.metrics.outbox.set(self.outbox.size())

    # ---- inbound -------------------------------------------------------------------------------
    async def handle_command(self, raw: bytes) -> None:
        try:
            verified = self.verifier.verify(raw)
        except VerificationError as exc:
            log.warning("command rejected: %s (%s)", exc.reason, exc)
            self.metrics.commands.labels(exc.reason).inc()
            self.report(exc.command_id, "", pb.EXECUTION_STATE_REJECTED,
                        CameraOutcome(pb.EXECUTION_STATE_REJECTED, error_class=pb.ERROR_CLASS_REJECTED,
                                      message=str(exc)), reason=exc.reason)  # fmt: skip
            self.event(pb.EVENT_KIND_COMMAND_REJECTED, str(exc), reason=exc.reason, command_id=exc.command_id)
            return
        cmd = verified.command
        self.metrics.commands.labels("accepted").inc()
        task = asyncio.create_task(self._run_command(cmd))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_command(self, cmd: pb.Command) -> None:
        action = action_name(cmd.action)
        if is_destructive(cmd.action) and not cmd.dry_run and not self.controller_online:
            # Destructive work waits for the controller: it may have been compromised or restarted mid-campaign.
            log.info("holding %s %s until the controller is online", action, cmd.command_id)
            deadline = cmd.not_after.ToMicroseconds() / 1e6 - time.time()
            try:
                await asyncio.wait_for(self._controller_online_evt.wait(), max(0.0, deadline))
            except TimeoutError:
                for cid in cmd.camera_ids:
                    self.report(cmd.command_id, cid, pb.EXECUTION_STATE_TIMED_OUT,
                                CameraOutcome(pb.EXECUTION_STATE_TIMED_OUT, error_class=pb.ERROR_CLASS_TIMEOUT,
                                              message="held while the controller was offline; command expired"))  # fmt: skip
                return
        known = set(self.executor.camera_ids())
        payload = cmd.SerializeToString(deterministic=True)
        targets = list(cmd.camera_ids) or sorted(known)
        await asyncio.gather(*(self._run_camera(cmd, cid, payload, action, cid in known) for cid in targets))
        if action in CHANGING_ACTIONS and not cmd.dry_run:
            await self._reread([cid for cid in targets if cid in known])

    async def _reread(self, camera_ids: list[str]) -> None:
        """Re-read and report every camera an action touched, right after it: the controller's view of them
        (cloud reachable, exposure, lifecycle evidence) is then current within seconds, not at the next round."""
        if not camera_ids:
            return
        try:
            n = await self.publish_inventory(full=False, camera_ids=camera_ids)
        except Exception:  # the action's results are already reported; the next round reads them again
            log.exception("re-reading %d cameras after an action failed", len(camera_ids))
            return
        log.info("re-read %d cameras after an action", n)

    async def _run_camera(
        self, cmd: pb.Command, camera_id: str, payload: bytes, action: str, known: bool
    ) -> None:
        if not known:
            self.report(cmd.command_id, camera_id, pb.EXECUTION_STATE_FAILED,
                        CameraOutcome(pb.EXECUTION_STATE_FAILED, error_class=pb.ERROR_CLASS_REJECTED,
                                      message="this agent does not manage that camera"))  # fmt: skip
            return
        self.state.journal(cmd.command_id, camera_id, action, "accepted", payload)
        self.report(cmd.command_id, camera_id, pb.EXECUTION_STATE_ACCEPTED)
        async with self._sem:
            self.report(cmd.command_id, camera_id, pb.EXECUTION_STATE_IN_PROGRESS)

            async def on_snapshot(values: dict[str, str]) -> str:
                # One snapshot per camera and command: a rollback names the command it undoes.
                sid = f"{cmd.command_id}:{camera_id}"
                if not values:  # nothing was written after all: a no-op apply leaves no snapshot behind
                    self.state.delete_snapshot(sid)
                    return ""
                self.state.save_snapshot(sid, camera_id, action, dict(values))
                self.state.journal(cmd.command_id, camera_id, action, "applying", payload, dict(values))
                return sid

            try:
                outcome = await self.executor.execute(cmd, camera_id, on_snapshot)
            except Exception as exc:  # the executor classifies camera errors; anything else is our bug
                log.exception("executor crashed on %s/%s", cmd.command_id, camera_id)
                outcome = CameraOutcome(pb.EXECUTION_STATE_FAILED, error_class=pb.ERROR_CLASS_INTERNAL,
                                        message=f"internal error: {type(exc).__name__}")  # fmt: skip
        self.report(cmd.command_id, camera_id, outcome.state, outcome)
        self.state.journal(cmd.command_id, camera_id, action, "done", payload)
        self.metrics.executions.labels(pb.ExecutionState.Name(outcome.state)).inc()

    async def reconcile(self) -> int:
        """After a crash mid-command: re-read each camera and report the verified state; never re-apply."""
        entries = self.state.unfinished()
        for e in entries:
            cmd = pb.Command()
            cmd.ParseFromString(e.command)
            try:
                outcome = await self.executor.reconcile(e, cmd)
            except Exception as exc:
                log.exception("reconcile failed for %s/%s", e.command_id, e.camera_id)
                outcome = CameraOutcome(pb.EXECUTION_STATE_FAILED, error_class=pb.ERROR_CLASS_INTERNAL,
                                        message=f"could not re-read the camera after a restart: {type(exc).__name__}")  # fmt: skip
            self.report(e.command_id, e.camera_id, outcome.state, outcome)
            self.state.journal(e.command_id, e.camera_id, e.action, "done", e.command)
        return len(entries)

    async def _on_message(self, m: aiomqtt.Message) -> None:
        topic = str(m.topic)
        payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
        if topic == topics.controller_status():
            st = pb.ControllerStatus()
            try:
                st.ParseFromString(payload)
            except Exception:
                log.warning("unreadable controller status; treating the controller as offline")
                st.online = False
            if st.online != self.controller_online:
                log.info("controller is %s", "online" if st.online else "offline")
            self.controller_online = st.online
            if st.online:
                self._controller_online_evt.set()
            else:
                self._controller_online_evt.clear()
            return
        if topic == topics.agent_topic(self.cfg.agent_id, "cmd"):
            await self.handle_command(payload)

    # ---- connection loop -----------------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        cfg = self.cfg
        offline = self.status(False).SerializeToString()
        will = aiomqtt.Will(topics.agent_topic(cfg.agent_id, "status"), offline, qos=1, retain=True)
        common = dict(
            hostname=cfg.broker.host, port=cfg.broker.port, identifier=f"agent-{cfg.agent_id}",
            tls_context=tls_context(cfg), will=will, keepalive=cfg.broker.keepalive, timeout=15,
            max_queued_incoming_messages=10_000,
        )  # fmt: skip
        if cfg.broker.protocol == 5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 7 * 24 * 3600  # keep queued commands while we are away
            return aiomqtt.Client(**common, protocol=aiomqtt.ProtocolVersion.V5, clean_start=False,  # type: ignore[arg-type]
                                  properties=props)  # fmt: skip
        return aiomqtt.Client(**common, protocol=aiomqtt.ProtocolVersion.V311, clean_session=False)  # type: ignore[arg-type]

    async def _session(self) -> None:
        async with self._client() as client:
            await client.publish(
                topics.agent_topic(self.cfg.agent_id, "status"), self.status(True).SerializeToString(), qos=1,
                retain=True, timeout=15,
            )  # fmt: skip
            await client.subscribe(topics.agent_topic(self.cfg.agent_id, "cmd"), qos=1, timeout=15)
            await client.subscribe(topics.controller_status(), qos=1, timeout=15)
            self.connected.set()
            self.metrics.connected.set(1)
            log.info("connected to %s:%s as %s (boot %d)", self.cfg.broker.host, self.cfg.broker.port,
                     self.cfg.agent_id, self.boot_seq)  # fmt: skip
            drain = asyncio.create_task(self._drain(client))
            try:
                async for m in client.messages:
                    await self._on_message(m)
                    if drain.done():
                        drain.result()
            finally:
                self.connected.clear()
                self.metrics.connected.set(0)
                drain.cancel()
                await asyncio.gather(drain, return_exceptions=True)
                if self._stop.is_set():
                    # A clean stop says offline itself: the Last Will only fires on an unclean disconnect.
                    with contextlib.suppress(aiomqtt.MqttError):
                        await client.publish(topics.agent_topic(self.cfg.agent_id, "status"),
                                             self.status(False).SerializeToString(), qos=1, retain=True, timeout=5)  # fmt: skip

    async def _inventory_loop(self) -> None:
        """Full reads of every camera at the site's cadence (inventory_interval_s); in between, cheap checks
        (check_interval_s: one pre-auth request per camera) and a full read of only the cameras whose
        reachability or identity changed. A steady site then costs one request per camera per check round."""
        await self.publish_inventory(full=True)
        self._inventoried.set()
        now = time.monotonic()
        next_full = now + self.cfg.inventory_interval_s
        next_check = now + self.cfg.check_interval_s
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._inventory_wake.wait(), max(0.0, min(next_full, next_check) - now)
                )
            woken = self._inventory_wake.is_set()
            self._inventory_wake.clear()
            if self._stop.is_set():
                break
            now = time.monotonic()
            if woken or now >= next_full:
                await self.publish_inventory(full=False)
                now = time.monotonic()
                next_full, next_check = now + self.cfg.inventory_interval_s, now + self.cfg.check_interval_s
            elif now >= next_check:
                stale = await self.executor.check()
                if stale:
                    await self.publish_inventory(full=False, camera_ids=stale)
                now = time.monotonic()
                next_check = now + self.cfg.check_interval_s

    async def run(self) -> None:
        """Run until stop(): reconcile unfinished work, then stay connected with capped jittered backoff."""
        await self.reconcile()
        inv = asyncio.create_task(self._inventory_loop())
        census = asyncio.create_task(self._census_loop()) if self.cfg.census.enabled else None
        delay = 1.0
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    session = asyncio.create_task(self._session())
                    stop = asyncio.create_task(self._stop.wait())
                    done, _ = await asyncio.wait({session, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop in done:
                        await self._leave(session)
                        break
                    stop.cancel()
                    session.result()
                except aiomqtt.MqttError as exc:
                    log.warning("broker connection lost: %s", exc)
                if time.monotonic() - started > 30:
                    delay = 1.0
                # Capped, jittered backoff so a fleet of agents does not reconnect in lockstep after an outage.
                await asyncio.sleep(min(delay, 30.0) * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 30.0)
        finally:
            inv.cancel()
            if census is not None:
                census.cancel()
            await asyncio.gather(inv, *([census] if census else []), *self._tasks, return_exceptions=True)

    async def _leave(self, session: asyncio.Task[None]) -> None:
        """Let running camera work finish (bounded), deliver what is in the outbox, then disconnect."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=20)
        deadline = time.monotonic() + 5
        while self.outbox.size() and self.connected.is_set() and time.monotonic() < deadline:
            self._outbox_wake.set()
            await asyncio.sleep(0.05)
        session.cancel()
        await asyncio.gather(session, return_exceptions=True)

    def stop(self) -> None:
        self._stop.set()
        self._inventory_wake.set()

    def close(self) -> None:
        self.outbox.close()
        self.state.close()
