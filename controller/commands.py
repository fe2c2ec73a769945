"""Creating, signing, publishing and cancelling fleet commands (one signed command per agent)."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from controller.publisher import Publisher
from controller.recorders import impact as recorder_impact
from controller.store import Store
from controller.store.base import CameraFilter, CommandRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import is_destructive

ACTIONS = ("inventory", "disable_cloud", "restrict_network", "decommission", "rollback", "reboot")
MAX_TARGETS = 100_000
#: Protocols restrict_network may leave on: ONVIF's three, and Hikvision's SDK service (adminAccesses DEV_MANAGE).
KEEPABLE = ("HTTP", "HTTPS", "RTSP", "DEV_MANAGE")


class CommandError(ValueError):
    """A command request that cannot be carried out; the message says why (shown to the API caller)."""


def _strs(params: dict[str, Any], key: str) -> list[str]:
    v = params.get(key, [])
    if isinstance(v, str):
        v = [x for x in v.split(",") if x]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise CommandError(f"{key}: expected a list of strings")
    return [x.strip() for x in v]


def build_action(name: str, params: dict[str, Any]) -> pb.Action:
    """Validate the parameters of an action and build its protobuf form."""
    if name == "inventory":
        return pb.Action(
            inventory=pb.Inventory(include_vendor_apis=bool(params.get("include_vendor_apis", True)))
        )
    if name == "disable_cloud":
        return pb.Action(disable_cloud=pb.DisableCloud(features=_strs(params, "features")))
    if name == "restrict_network":
        allow = _strs(params, "allow")
        for a in allow:
            try:
                ipaddress.ip_network(a, strict=False)
            except ValueError as exc:
                raise CommandError(f"allow: {a!r} is not an address or CIDR range") from exc
        if not allow:
            raise CommandError("allow: name at least the recorder's address (the agent is always added)")
        keep = [p.upper() for p in _strs(params, "keep_protocols") or ["RTSP"]]
        bad = [p for p in keep if p not in KEEPABLE]
        if bad:
            raise CommandError(
                f"keep_protocols: unknown {bad}; ONVIF knows HTTP, HTTPS and RTSP, Hikvision adds DEV_MANAGE "
                "(the SDK port 8000 its recorders pull streams over)"
            )
        gap = params.get("accept_recording_gap", False)
        if not isinstance(gap, bool):
            raise CommandError("accept_recording_gap: true or false")
        return pb.Action(
            restrict_network=pb.RestrictNetwork(
                allow=allow, ntp_server=str(params.get("ntp_server", "")), keep_protocols=keep,
                clear_gateway=bool(params.get("clear_gateway", True)), clear_dns=bool(params.get("clear_dns", True)),
                accept_recording_gap=gap,
            )
        )  # fmt: skip
    if name == "decommission":
        mode = str(params.get("mode", "soft")).lower()
        if mode not in ("soft", "hard"):
            raise CommandError("mode: soft or hard")
        m = pb.FACTORY_RESET_MODE_HARD if mode == "hard" else pb.FACTORY_RESET_MODE_SOFT
        return pb.Action(
            decommission=pb.Decommission(mode=m, wipe_users=bool(params.get("wipe_users", False)))
        )
    if name == "rollback":
        sid = str(params.get("snapshot_id") or params.get("command_id") or "")
        if not sid:
            raise CommandError("rollback: name the command to undo (snapshot_id = its command_id)")
        return pb.Action(rollback=pb.Rollback(snapshot_id=sid))
    if name == "reboot":
        return pb.Action(reboot=pb.Reboot())
    raise CommandError(f"unknown action {name!r}; one of {', '.join(ACTIONS)}")


@dataclass
class CommandRequest:
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    where: CameraFilter = field(default_factory=CameraFilter)
    dry_run: bool = False
    ttl_s: float = 900.0
    campaign_id: str = ""
    batch_id: str = ""
    approval_manifest: bytes = b""
    approvals: list[pb.Signature] = field(default_factory=list)


class CommandService:
    """Ad-hoc commands (API, dashboard, fleetctl): one signed command per agent, out through the publisher."""

    def __init__(self, store: Store, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher

    async def targets(self, where: CameraFilter) -> dict[str, list[str]]:
        rows, total = await self.store.query_cameras(where, limit=MAX_TARGETS)
        if total > MAX_TARGETS:
            raise CommandError(f"{total} cameras match; narrow the selection (at most {MAX_TARGETS})")
        by_agent: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            by_agent[r.agent_id].append(r.camera_id)
        return dict(by_agent)

    async def create(self, req: CommandRequest, actor: str) -> list[CommandRow]:
        action = build_action(req.action, req.params)
        if not 10 <= req.ttl_s <= 7 * 86400:
            raise CommandError("ttl_s: between 10 seconds and 7 days")
        if is_destructive(action) and not req.dry_run and len(req.approvals) < 1:
            raise CommandError("a destructive action needs approvals: run it through a campaign")
        by_agent = await self.targets(req.where)
        if not by_agent:
            raise CommandError("no camera matches the selection")
        if not req.dry_run and action.WhichOneof("kind") == "restrict_network":
            # A dry run shows what would be cut (each agent lists it); a real run that cuts a camera off its
            # recorder needs accept_recording_gap (protos.recorders).
            targeted, _ = await self.store.query_cameras(req.where, limit=MAX_TARGETS)
            refused = (await recorder_impact(self.store, action, targeted)).refused
            if refused is not None:
                raise CommandError(refused)
        return [
            await self.publisher.issue(
                agent_id, action, req.params, sorted(cams), actor=actor, ttl_s=req.ttl_s, dry_run=req.dry_run,
                campaign_id=req.campaign_id, batch_id=req.batch_id, approval_manifest=req.approval_manifest,
                approvals=req.approvals, audit={"params": req.params},
            )
            for agent_id, cams in sorted(by_agent.items())
        ]  # fmt: skip

    async def cancel(self, command_id: str, actor: str) -> int:
        async with self.store.tx() as tx:
            if await tx.commands.get(command_id) is None:
                raise CommandError(f"no command {command_id}")
            n = await tx.commands.cancel(command_id)
            await tx.audit.append(actor, "command.cancel", command_id, {"executions_canceled": n})
        return n
