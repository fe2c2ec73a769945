"""The controller's MQTT hub: ingests agent status, inventory, results and events; publishes signed commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiomqtt
from google.protobuf.message import DecodeError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from controller import __version__
from controller.census_ingest import census_rows, channel_rows
from controller.identity import Identity
from controller.ingest import agent_row, camera_row, execution_row
from controller.metrics import METRICS
from controller.store import Store
from controller.store.base import FINAL_STATES, AlertRow, ExecutionRow, QuarantineRow
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSettings:
    host: str = "127.0.0.1"
    port: int = 8883
    tls: ssl.SSLContext | None = None
    protocol: int = 5
    # MQTT 5 shared subscription group: several controller replicas split the ingest between them.
    share_group: str | None = None
    client_id: str = "camfleet-controller"


Listener = Callable[[str, dict[str, Any]], None]
# How long a new QUEUED command is left to the replica that created it (its publish waits 15 s for a PUBACK).
DISPATCH_GRACE_S = 20.0
# At most this many already-queued messages are handled together (one store transaction per run of results).
DRAIN_MAX = 500


class Rejected(Exception):
    """A message the hub refuses on its content (the reason is kept with it in the quarantine)."""


def _lag(at: Any) -> None:
    lag = max(0.0, time.time() - at.ToMicroseconds() / 1e6)
    METRICS.ingest_lag.observe(lag)
    METRICS.hub_lag.set(lag)


def ack(client: aiomqtt.Client, m: aiomqtt.Message) -> None:
    """Acknowledge a QoS 1/2 message once it is stored (or quarantined). aiomqtt has no API for paho 2's
    application-controlled acknowledgements yet (aiomqtt issue #345); this is the workaround its users run in
    production: manual_ack_set(True) on the underlying paho client, then ack(mid, qos) per message."""
    if m.qos > 0:
        client._client.ack(m.mid, m.qos)


def manual_acks(client: aiomqtt.Client) -> aiomqtt.Client:
    # Before connecting: a persistent session's queued messages arrive right after CONNACK.
    client._client.manual_ack_set(True)
    return client


def _status(online: bool, key_ids: list[str]) -> bytes:
    st = pb.ControllerStatus(online=online, version=__version__, key_ids=key_ids)
    st.at.GetCurrentTime()
    return st.SerializeToString()


class Hub:
    def __init__(
        self,
        store: Store,
        settings: HubSettings,
        key_ids: list[str],
        *,
        leader: Callable[[], bool] = lambda: True,
        orphans: Callable[[], list[str]] = lambda: [],
    ) -> None:
        self.store = store
        self.s = settings
        self.key_ids = key_ids
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.listeners: list[Listener] = []
        self._stop = asyncio.Event()
        self._dispatch_wake = asyncio.Event()
        # Several replicas (controller/lease.py): only the leader lease holder dispatches QUEUED commands and
        # expires executions. One controller keeps the default: always.
        self.leader = leader
        self.orphans = orphans  # dead replicas' client ids (PgLease.take_orphans)
        self._was_leader = False
        # How background tasks start: the app hands in its Supervisor's spawn, so a dispatcher or expirer that
        # dies stops the process (exit 1) instead of leaving a controller that no longer dispatches.
        self.spawn: Callable[[str, Coroutine[Any, Any, Any]], asyncio.Task[Any]] = lambda name, coro: (
            asyncio.create_task(coro, name=name)
        )
        self.last_error = ""

    def notify(self, kind: str, data: dict[str, Any]) -> None:
        for fn in list(self.listeners):
            try:
                fn(kind, data)
            except Exception:  # a broken dashboard stream must never stop ingest
                log.exception("listener failed")

    # ---- inbound ---------------------------------------------------------------------------------
    async def handle(self, topic: str, payload: bytes) -> None:
        """Apply one message. One that cannot be applied (undecodable, refused, or the store failed on it) is
        quarantined with its reason and ingest goes on; only a failure to quarantine it raises, and then the
        message is not acknowledged and the broker delivers it again."""
        try:
            t = topics.parse_agent_topic(topic)
        except topics.TopicError:
            return
        try:
            await self._apply(t.kind, t.agent_id, payload)
        except Exception as exc:
            await self.quarantine(topic, t.agent_id, t.kind, payload, exc)

    async def _apply(self, kind: str, agent_id: str, payload: bytes) -> None:
        if kind == "status":
            await self._status(agent_id, payload)
        elif kind == "inventory":
            await self._inventory(agent_id, payload)
        elif kind == "result":
            await self._result(agent_id, payload)
        elif kind == "events":
            await self._event(agent_id, payload)
        elif kind == "census":
            await self._census(agent_id, payload)

    async def quarantine(
        self, topic: str, agent_id: str, kind: str, payload: bytes, exc: BaseException
    ) -> None:
        if isinstance(exc, Rejected):
            reason, label = str(exc), "rejected"
            log.warning("%s message from %s rejected: %s", kind, agent_id, reason)
        elif isinstance(exc, DecodeError):
            reason, label = f"undecodable: {exc}", "undecodable"
            METRICS.malformed.labels(kind).inc()
            log.warning("undecodable %s message from %s quarantined", kind, agent_id)
        else:
            reason, label = f"could not apply: {type(exc).__name__}: {exc}", "error"
            log.error("%s message from %s could not be applied; quarantined", kind, agent_id, exc_info=exc)
        await self.store.quarantine_add(
            QuarantineRow(0, time.time(), topic, agent_id, kind, reason[:2000], payload)
        )
        METRICS.quarantined.labels(kind, label).inc()
        self.notify("quarantine", {"agent_id": agent_id, "kind": kind, "reason": reason[:200]})

    async def _owned(self, agent_id: str, what: str, idents: list[Identity]) -> None:
        """An agent speaks only for its own cameras (the first agent to report a camera owns it until an admin
        reassigns it). References are the agent's own namespace (two sites may both have a 192.168.1.10), so
        another agent's camera is named by what it is: a report with the serial or MACs of a camera of another
        agent (controller.identity) is refused whole, with an audit entry and one open alert per camera and
        agent."""
        foreign = await self.store.same_devices(agent_id, idents)
        if not foreign:
            return
        await self._refused(agent_id, what, foreign)
        names = ", ".join(f"{c} (agent {o})" for c, o in sorted(foreign.items())[:5])
        raise Rejected(f"names {len(foreign)} camera(s) of other agents: {names}")

    async def _refused(self, agent_id: str, what: str, foreign: dict[str, str]) -> None:
        """Audit each refused camera (camera id -> its agent) and raise one open alert per camera and agent."""
        open_alerts = {(a.camera_id, str(a.details.get("agent_id"))) for a in
                       await self.store.alerts(open_only=True, limit=1000) if a.kind == "foreign_report"}  # fmt: skip
        for cam, owner in sorted(foreign.items()):
            raised = False
            async with self.store.tx() as tx:  # the audit entry and the alert commit together
                await tx.audit.append(f"agent:{agent_id}", "agent.foreign_report", cam,
                                      {"owner": owner, "message": what})  # fmt: skip
                if (cam, agent_id) not in open_alerts:
                    msg = f"agent {agent_id} sent a {what} about camera {cam}, which belongs to agent {owner}; refused"
                    await tx.campaigns.alert_add(AlertRow(0, time.time(), "foreign_report", cam, "", msg,
                                                          {"agent_id": agent_id, "owner": owner, "message": what}))  # fmt: skip
                    raised = True
            if raised:
                self.notify("alert", {"kind": "foreign_report", "camera_id": cam, "agent_id": agent_id})

    async def _status(self, agent_id: str, payload: bytes) -> None:
        st = pb.AgentStatus.FromString(payload)
        st.agent_id = agent_id  # the topic, enforced by the broker ACL, names the sender; the body may not
        if st.online:
            await self.store.upsert_agent(agent_row(st))
        else:
            await self.store.mark_agent_offline(agent_id, st.boot_seq, time.time())
        self.notify("agent", {"agent_id": agent_id, "online": st.online})

    async def _inventory(self, agent_id: str, payload: bytes) -> None:
        rep = pb.InventoryReport.FromString(payload)
        if not rep.seq:
            raise Rejected("no sequence number: every report needs a growing seq")
        agents = {a.agent_id: a for a in await self.store.list_agents()}
        site = agents[agent_id].site if agent_id in agents else agent_id
        rows = [camera_row(agent_id, site, r) for r in rep.cameras if r.camera_id]
        await self._owned(agent_id, "inventory report", [Identity.of(r.serial, r.macs) for r in rows])
        channels = {r.camera_id: channel_rows(agent_id, site, r) for r in rep.cameras
                    if r.camera_id and r.device_class == "recorder"}  # fmt: skip
        got = await self.store.ingest_inventory(
            agent_id, rows, channels, full=rep.full, removed=list(rep.removed_camera_ids), seq=rep.seq
        )
        if got.foreign:
            # Another agent reported the device first at the same moment (after the check above): only these
            # records are refused; the rest of the report is stored.
            log.warning(
                "inventory report from %s: %d camera(s) of other agents refused", agent_id, len(got.foreign)
            )
            await self._refused(agent_id, "inventory report", dict(got.foreign.values()))
        if rep.HasField("at"):
            _lag(rep.at)
        self.notify("inventory", {"agent_id": agent_id, "cameras": got.written})

    async def _census(self, agent_id: str, payload: bytes) -> None:
        """One part of an agent's census run (devices found without credentials)."""
        rep = pb.CensusReport.FromString(payload)
        if not rep.seq:
            raise Rejected("no sequence number: every report needs a growing seq")
        agents = {a.agent_id: a for a in await self.store.list_agents()}
        site = agents[agent_id].site if agent_id in agents else agent_id
        rows = census_rows(
            agent_id, site, rep
        )  # the topic names the agent; the body's agent_id is not trusted
        last = rep.parts == 0 or rep.part + 1 >= rep.parts
        n = await self.store.ingest_census(rows, agent_id=agent_id, census_id=rep.census_id, last_part=last)
        self.notify("census", {"agent_id": agent_id, "devices": n, "complete": last})

    async def _result(self, agent_id: str, payload: bytes) -> None:
        upd = pb.ExecutionUpdate.FromString(payload)
        upd.agent_id = agent_id
        if not upd.seq:
            raise Rejected("no sequence number: every report needs a growing seq")
        if upd.HasField("at"):
            _lag(upd.at)
        if not upd.camera_id:
            # A command-level refusal. A replay of a command already running says nothing about its executions.
            if (
                upd.state == pb.EXECUTION_STATE_REJECTED
                and upd.rejection_reason != "replayed"
                and upd.command_id
            ):
                async with self.store.tx() as tx:
                    n = await tx.commands.reject_pending(
                        upd.command_id, agent_id, upd.message or upd.rejection_reason
                    )
                    await tx.audit.append(f"agent:{agent_id}", "command.rejected", upd.command_id,
                                          {"reason": upd.rejection_reason, "message": upd.message, "executions": n})  # fmt: skip
                self.notify("execution", {"command_id": upd.command_id, "state": "REJECTED"})
            return
        await self._apply_results([execution_row(upd)])

    async def handle_many(self, messages: list[tuple[str, bytes]]) -> None:
        """handle() for each message in arrival order, except that a run of consecutive execution updates is
        applied as one batch (Store.apply_updates + append_audit_many: one transaction each instead of two per
        update, bench/ingest.py). Anything else first flushes the run, so every message still takes effect in
        arrival order, and per-agent order holds. A run the store fails on is applied again one by one, so
        only the message at fault is quarantined."""
        run: list[tuple[str, bytes, ExecutionRow]] = []
        for topic, payload in messages:
            try:
                t = topics.parse_agent_topic(topic)
            except topics.TopicError:
                continue
            if t.kind == "result":
                try:
                    upd = pb.ExecutionUpdate.FromString(payload)
                except DecodeError:
                    upd = None
                if upd is not None and upd.camera_id and upd.seq:
                    upd.agent_id = t.agent_id
                    if upd.HasField("at"):
                        _lag(upd.at)
                    run.append((topic, payload, execution_row(upd)))
                    continue
            await self._flush(run)
            run = []
            await self.handle(topic, payload)
        await self._flush(run)

    async def _flush(self, run: list[tuple[str, bytes, ExecutionRow]]) -> None:
        if not run:
            return
        try:
            await self._apply_results([r for _, _, r in run])
        except Exception:
            if len(run) > 1:
                log.warning("a batch of %d results failed; applying them one by one", len(run))
            for topic, payload, _ in run:
                await self.handle(topic, payload)

    async def _apply_results(self, rows: list[ExecutionRow]) -> None:
        # The updates and the audit entries of the final ones commit together (a crash leaves neither).
        async with self.store.tx() as tx:
            applied = await tx.commands.apply_updates(rows)
            done = [r for r, ok in zip(rows, applied, strict=True) if ok]
            await tx.audit.append_many([
                (f"agent:{r.agent_id}", "execution.final", f"{r.command_id}/{r.camera_id}",
                 {"state": r.state, "error_class": r.error_class, "message": r.message,
                  "changed": [s["setting"] for s in r.settings if s["outcome"] == "changed"]})
                for r in done if r.state in FINAL_STATES
            ])  # fmt: skip
        for r in done:
            METRICS.updates.labels(r.state).inc()
            self.notify("execution", {"command_id": r.command_id, "camera_id": r.camera_id, "state": r.state})

    async def _event(self, agent_id: str, payload: bytes) -> None:
        ev = pb.Event.FromString(payload)
        if not ev.seq:
            raise Rejected("no sequence number: every report needs a growing seq")
        kind = pb.EventKind.Name(ev.kind) if ev.kind in pb.EventKind.values() else str(ev.kind)
        ref = ev.camera_id
        async with self.store.tx() as tx:  # the sequence number moves with the audit entry, or neither does
            # The event names the camera by the agent's reference, which only means something among its own
            # cameras (one it has no camera by stays qualified by the agent, never taken for another's id).
            subject = (
                (await tx.cameras.ids_for(agent_id, [ref])).get(ref, f"{agent_id}/{ref}") if ref else agent_id
            )
            last = await tx.agents.advance_event_seq(agent_id, ev.seq)
            if last >= ev.seq:
                # A redelivery or a replay (an event is a fact: applied twice it would be audited twice), or an
                # event that arrived after a newer one. Kept in the quarantine, where it can be read.
                raise Rejected(f"event seq {ev.seq} is not newer than the last applied from this agent ({last}): "
                               "replayed or out of order")  # fmt: skip
            await tx.audit.append(f"agent:{agent_id}", "agent.event", subject,
                                  {"kind": kind, "message": ev.message, "details": dict(ev.details),
                                   **({"reference": ref} if ref else {})})  # fmt: skip
        self.notify("event", {"agent_id": agent_id, "kind": kind, "message": ev.message})

    # ---- outbound --------------------------------------------------------------------------------
    async def publish_command(self, agent_id: str, envelope: bytes) -> bool:
        """Publish at QoS 1 and wait for the broker's PUBACK; False when not connected (kept QUEUED)."""
        client = self.client
        if client is None or not self.connected.is_set():
            return False
        try:
            await client.publish(topics.agent_topic(agent_id, "cmd"), envelope, qos=1, timeout=15)
        except aiomqtt.MqttError as exc:
            log.warning("publishing a command to %s failed: %s", agent_id, exc)
            return False
        return True

    def wake_dispatcher(self) -> None:
        self._dispatch_wake.set()

    async def dispatch_queued(self) -> int:
        """Send commands still QUEUED (created while the broker was away). Agents drop duplicates by id."""
        sent = 0
        now = time.time()
        for cmd in await self.store.commands_in_state("QUEUED", now):
            if not self.store.replicated:
                if await self.publish_command(cmd.agent_id, cmd.envelope):
                    await self.store.set_command_state(cmd.command_id, "SENT")
                    sent += 1
                continue
            # A store shared by replicas: claim (QUEUED -> DISPATCHING, one winner) before publishing, put it
            # back on failure. A command younger than the publish timeout may still be in its creator's hands
            # (CommandService publishes a QUEUED row itself), so it is left to the creator for now.
            if now - cmd.created_at < DISPATCH_GRACE_S or not await self.store.claim_command(cmd.command_id):
                continue
            ok = await self.publish_command(cmd.agent_id, cmd.envelope)
            await self.store.release_command(cmd.command_id, ok)
            sent += ok
        return sent

    async def _dispatcher(self) -> None:
        while True:
            leader = self.leader()
            if leader and not self._was_leader and self.store.replicated:
                # Taking over: claims the previous holder made and never released go back to QUEUED.
                await self.store.requeue_claimed()
            self._was_leader = leader
            if leader:
                for peer in self.orphans():
                    await self.adopt_session(peer)
                await self.dispatch_queued()
            self._dispatch_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dispatch_wake.wait(), 5.0)

    async def _expirer(self) -> None:
        while True:
            expired: list[ExecutionRow] = []
            if self.leader():
                # A timeout is a state change like any other: it goes into the audit chain, in its transaction.
                async with self.store.tx() as tx:
                    expired = await tx.commands.expire(time.time())
                    await tx.audit.append_many(
                        [("controller", "execution.final", f"{r.command_id}/{r.camera_id}",
                          {"state": r.state, "error_class": r.error_class, "message": r.message, "changed": []})
                         for r in expired]
                    )  # fmt: skip
            for row in expired:
                self.notify("execution", {"command_id": row.command_id, "camera_id": row.camera_id,
                                          "state": row.state})  # fmt: skip
            await asyncio.sleep(1.0)

    async def adopt_session(self, client_id: str, idle_s: float = 3.0) -> int:
        """Drain and end the persistent session of a replica that died (MQTT 5 shared subscriptions only).

        Mosquitto keeps routing a shared group's messages to a disconnected member whose session persists
        and parks them there, so a dead replica's share of the results would wait for it to return (up to
        the session expiry). The lease holder resumes that session under the dead replica's client id with a
        session expiry of 0: the broker delivers what it parked, and when we disconnect the session and its
        group membership end. Should the owner come back meanwhile, it takes its session over (the broker
        disconnects us) and drains the rest itself."""
        if self.s.protocol != 5 or self.s.share_group is None or client_id == self.s.client_id:
            return 0
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        n = 0
        try:
            async with manual_acks(aiomqtt.Client(
                self.s.host, self.s.port, identifier=client_id, tls_context=self.s.tls,
                protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=props, timeout=15, keepalive=30,
            )) as client:  # fmt: skip
                messages = aiter(client.messages)
                while True:
                    try:
                        m = await asyncio.wait_for(anext(messages), idle_s)
                    except TimeoutError:
                        break
                    payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                    await self.handle(str(m.topic), payload)
                    ack(client, m)
                    n += 1
        except aiomqtt.MqttError as exc:
            log.warning("adopting the session of %s stopped: %s", client_id, exc)
        log.warning("adopted the MQTT session of dead replica %s: %d message(s)", client_id, n)
        # Its Last Will said "controller offline" on the shared status topic; we are still here.
        own = self.client
        if own is not None and self.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await own.publish(topics.controller_status(), _status(True, self.key_ids), qos=1, retain=True,
                                  timeout=15)  # fmt: skip
        return n

    # ---- connection ------------------------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(topics.controller_status(), _status(False, self.key_ids), qos=1, retain=True)
        # A persistent session: while the controller restarts, the broker queues the agents' results for it,
        # so an execution finished during the outage is not stuck IN_PROGRESS until it times out.
        if self.s.protocol == 5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 24 * 3600
            return manual_acks(aiomqtt.Client(
                self.s.host, self.s.port, identifier=self.s.client_id, tls_context=self.s.tls, will=will,
                protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=props, timeout=15, keepalive=30,
                max_queued_incoming_messages=100_000,
            ))  # fmt: skip
        return manual_acks(aiomqtt.Client(
            self.s.host, self.s.port, identifier=self.s.client_id, tls_context=self.s.tls, will=will,
            protocol=aiomqtt.ProtocolVersion.V311, clean_session=False, timeout=15, keepalive=30,
            max_queued_incoming_messages=100_000,
        ))  # fmt: skip

    async def _session(self) -> None:
        async with self._client() as client:
            self.client = client
            await client.publish(topics.controller_status(), _status(True, self.key_ids), qos=1, retain=True,
                                 timeout=15)  # fmt: skip
            for kind in ("status", "inventory", "result", "events", "census"):
                share = self.s.share_group if self.s.protocol == 5 and kind != "status" else None
                await client.subscribe(topics.all_agents(kind, share), qos=1, timeout=15)
            self.connected.set()
            log.info("controller hub connected to %s:%s", self.s.host, self.s.port)
            bg = [self.spawn("dispatcher", self._dispatcher()), self.spawn("expirer", self._expirer())]
            try:
                async for m in client.messages:
                    # Drain what has already arrived (no waiting: an idle hub keeps its latency) so a burst
                    # of results is written in batches (handle_many).
                    batch = [m]
                    while len(client.messages) and len(batch) < DRAIN_MAX:
                        batch.append(await anext(client.messages))
                    METRICS.hub_backlog.set(len(client.messages))
                    todo: list[tuple[str, bytes]] = []
                    for b in batch:
                        payload = b.payload if isinstance(b.payload, bytes) else str(b.payload).encode()
                        METRICS.messages.labels(str(b.topic).rsplit("/", 1)[-1]).inc()
                        todo.append((str(b.topic), payload))
                    await self.handle_many(todo)
                    # Only now, with every message of the batch stored or quarantined: a controller killed
                    # before this point gets them again from the broker (the session is persistent).
                    for b in batch:
                        ack(client, b)
            finally:
                self.connected.clear()
                self.client = None
                for t in bg:
                    t.cancel()
                await asyncio.gather(*bg, return_exceptions=True)

    async def run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                self.last_error = f"broker: {exc}"
                log.warning("hub lost the broker: %s", exc)
            except Exception as exc:
                # Most likely the store refused even the quarantine: nothing of the batch was acknowledged, so
                # a new session gets it again. /readyz says not ready meanwhile.
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("hub session failed; reconnecting")
            if time.monotonic() - started > 30:
                delay = 1.0
            await asyncio.sleep(min(delay, 20.0) * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 20.0)

    async def announce_offline(self) -> None:
        """Clean shutdown: say offline ourselves (the Last Will only fires on an unclean disconnect)."""
        client = self.client
        if client is not None and self.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(topics.controller_status(), _status(False, self.key_ids), qos=1, retain=True,
                                     timeout=5)  # fmt: skip
