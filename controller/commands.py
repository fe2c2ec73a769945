"""Creating, signing, publishing and cancelling fleet commands (one signed command per agent)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pydantic import ValidationError

from controller.actions import ACTIONS, ActionParams, build_action, parse_params, to_action
from controller.models import MAX_TARGETS, AnyCommand, Selection, input_error
from controller.publisher import Publisher
from controller.recorders import impact as recorder_impact
from controller.store import Store
from controller.store.base import CameraRow, CommandRow
from protos.envelope import is_destructive

__all__ = [
    "ACTIONS", "CommandError", "CommandRequest", "CommandService", "NotFound", "SelectionGrew", "build_action",
    "reassign_camera", "select_cameras",
]  # fmt: skip


class CommandError(ValueError):
    """A command request that cannot be carried out; the message says why (shown to the API caller)."""


class SelectionGrew(CommandError):
    """The selection now holds more cameras than the operator previewed (a 409: preview again)."""


async def select_cameras(
    store: Store, where: Selection, *, retired: frozenset[str] = frozenset()
) -> list[CameraRow]:
    """The cameras a selection names: its filters, every tag present, none in a `retired` lifecycle. Too many
    to target at once is an error (narrow the selection)."""
    rows, total = await store.query_cameras(where.camera_filter(), limit=MAX_TARGETS)
    if total > MAX_TARGETS:
        raise CommandError(f"{total} cameras match; narrow the selection (at most {MAX_TARGETS})")
    tags = where.tags or []
    return [r for r in rows if r.lifecycle not in retired and all(t in r.tags for t in tags)]


def check_growth(where: Selection, found: int, expected: int | None, *, required: bool) -> None:
    """A destructive command or campaign acts only on what the operator saw: refused when the selection grew."""
    if expected is None:
        if required:
            raise CommandError(
                "expect_cameras: required for a destructive action: preview the selection and send the number "
                "of cameras you saw"
            )
        return
    if found > expected:
        raise SelectionGrew(
            f"the selection {where.given() or 'all'} now holds {found} cameras, more than the {expected} "
            "previewed; preview it again"
        )


class NotFound(CommandError):
    """Nothing by that id (a 404)."""


async def reassign_camera(store: Store, camera_id: str, agent_id: str, note: str, actor: str) -> str:
    """An admin moves a camera to another agent (it really moved sites): from now on only that agent may report
    on it. Audited; returns the previous owner."""
    cam = await store.get_camera(camera_id)
    if cam is None:
        raise NotFound(f"no camera {camera_id}")
    if cam.agent_id == agent_id:
        raise CommandError(f"agent_id: camera {camera_id} already belongs to {agent_id}")
    if agent_id not in {a.agent_id for a in await store.list_agents()}:
        raise CommandError(f"agent_id: no agent {agent_id} has reported to this controller")
    async with store.tx() as tx:  # the change and its audit entry commit together, or neither does
        await tx.cameras.set_agent(camera_id, agent_id)
        await tx.audit.append(actor, "camera.reassign", camera_id,
                              {"from": cam.agent_id, "to": agent_id, "note": note.strip()})  # fmt: skip
    return cam.agent_id


@dataclass
class CommandRequest:
    action: str
    params: ActionParams
    where: Selection
    dry_run: bool = False
    ttl_s: float = 900.0
    expect_cameras: int | None = None

    @classmethod
    def of(cls, m: AnyCommand) -> CommandRequest:
        return cls(m.action, m.params, m.where, m.dry_run, m.ttl_s, m.expect_cameras)

    @classmethod
    def parse(cls, action: str, params: object, where: Selection, **kw: object) -> CommandRequest:
        """Parameters from a form: a bad one is an InputError naming `params.<field>`, as the API says it."""
        try:
            return cls(action, parse_params(action, params), where, **kw)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise input_error(exc, "params") from None


class CommandService:
    """Ad-hoc commands (API, dashboard, fleetctl): one signed command per agent, out through the publisher."""

    def __init__(self, store: Store, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher

    async def targets(self, where: Selection) -> dict[str, list[str]]:
        by_agent: dict[str, list[str]] = defaultdict(list)
        for r in await select_cameras(self.store, where):
            by_agent[r.agent_id].append(r.camera_id)
        return dict(by_agent)

    async def create(self, req: CommandRequest, actor: str) -> list[CommandRow]:
        action = to_action(req.params)
        if not 10 <= req.ttl_s <= 7 * 86400:
            raise CommandError("ttl_s: between 10 seconds and 7 days")
        if is_destructive(action) and not req.dry_run:
            raise CommandError("a destructive action needs approvals: run it through a campaign")
        by_agent = await self.targets(req.where)
        if not by_agent:
            raise CommandError("no camera matches the selection")
        check_growth(req.where, sum(len(c) for c in by_agent.values()), req.expect_cameras,
                     required=is_destructive(action))  # fmt: skip
        if not req.dry_run and action.WhichOneof("kind") == "restrict_network":
            # A dry run shows what would be cut (each agent lists it); a real run that cuts a camera off its
            # recorder needs accept_recording_gap (protos.recorders).
            targeted = await select_cameras(self.store, req.where)
            refused = (await recorder_impact(self.store, action, targeted)).refused
            if refused is not None:
                raise CommandError(refused)
        # Stored and audited as signed: every default filled in (`features: []` means every feature).
        params = req.params.model_dump(mode="json")
        where = req.where.model_dump(mode="json", exclude_defaults=True)
        return [
            await self.publisher.issue(
                agent_id, action, params, sorted(cams), actor=actor, ttl_s=req.ttl_s, dry_run=req.dry_run,
                audit={"params": params, "where": where},
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
