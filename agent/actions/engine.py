"""The plan → snapshot → apply → verify engine every camera action runs through."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from agent.errors import AuthFailed, CameraError, Unreachable, Unsupported

log = logging.getLogger(__name__)

Json = Any  # a JSON-serialisable value


class Outcome(StrEnum):
    CHANGED = "changed"
    ALREADY = "already"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"
    WOULD_CHANGE = "would_change"


@dataclass(frozen=True)
class Setting:
    """One thing an action may change on one camera.

    `read` returns the current value (raising Unsupported when the camera has no such setting), `want` maps the
    current value to the wanted one, `write` stores a value. `confirm`, when given, runs right after the write;
    if it says False the old value is written back at once (commit-confirm: a filter that locked the agent out).
    `fatal_auth`: an authentication failure reading it ends the whole plan (ONVIF: the camera's one login);
    False for a vendor API, whose refusal fails only its own settings. `hold`: why this setting must not be
    changed on this camera now (a gateway the agent is reached through): planned as unsupported with that reason.
    """

    name: str
    read: Callable[[], Awaitable[Json]]
    write: Callable[[Json], Awaitable[None]]
    want: Callable[[Json], Json]
    confirm: Callable[[], Awaitable[bool]] | None = None
    fatal_auth: bool = True
    hold: str = ""


@dataclass
class SettingResult:
    setting: str
    outcome: Outcome
    before: Json = None
    after: Json = None
    reason: str = ""

    def to_dict(self) -> dict[str, Json]:
        return {
            "setting": self.setting,
            "outcome": self.outcome.value,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
        }


@dataclass
class ActionResult:
    settings: list[SettingResult] = field(default_factory=list)
    snapshot: dict[str, Json] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not any(s.outcome is Outcome.FAILED for s in self.settings)

    @property
    def changed(self) -> list[str]:
        return [s.setting for s in self.settings if s.outcome is Outcome.CHANGED]


def same(a: Json, b: Json) -> bool:
    """Compare settings as JSON, so list/tuple and key order do not count as a change."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _reason(exc: CameraError) -> str:
    return f"{exc.error_class}: {exc.message}"


async def plan(settings: Sequence[Setting]) -> list[SettingResult]:
    """Read every setting and state exactly what would change. Writes nothing.

    Auth failures and an unreachable camera end the whole plan (raised): nothing per-setting can be said then.
    """
    out: list[SettingResult] = []
    for s in settings:
        try:
            before = await s.read()
        except Unsupported as exc:
            out.append(SettingResult(s.name, Outcome.UNSUPPORTED, reason=exc.message))
            continue
        except AuthFailed as exc:
            if s.fatal_auth:
                raise
            out.append(SettingResult(s.name, Outcome.FAILED, reason=_reason(exc)))
            continue
        except Unreachable:
            raise
        except CameraError as exc:
            out.append(SettingResult(s.name, Outcome.FAILED, reason=_reason(exc)))
            continue
        after = s.want(before)
        if same(before, after):
            out.append(SettingResult(s.name, Outcome.ALREADY, before, after))
        elif s.hold:
            out.append(SettingResult(s.name, Outcome.UNSUPPORTED, before, before, reason=s.hold))
        else:
            out.append(SettingResult(s.name, Outcome.WOULD_CHANGE, before, after))
    return out


async def run(
    settings: Sequence[Setting],
    *,
    dry_run: bool = False,
    on_snapshot: Callable[[dict[str, Json]], Awaitable[None]] | None = None,
    on_retire: Callable[[], Awaitable[None]] | None = None,
) -> ActionResult:
    """Plan, then (unless dry run) persist the snapshot, apply the changes in order and verify by read-back.

    The first failed write stops the rest: what changed before it is reported as changed and stays in the
    snapshot, so it can be rolled back; nothing after it is attempted. Afterwards the snapshot keeps only the
    settings a write may have reached (stored again through on_snapshot); when no write reached the camera
    (every one unsupported) it is retired through on_retire, so a repeated apply that changes nothing leaves
    no snapshot behind.
    """
    planned = await plan(settings)
    result = ActionResult(settings=planned, dry_run=dry_run)
    if dry_run:
        return result
    by_name = {s.name: s for s in settings}
    todo = [r for r in planned if r.outcome is Outcome.WOULD_CHANGE]
    result.snapshot = {r.setting: r.before for r in todo}
    if not todo:
        return result
    # The snapshot is stored before the first write so that a crash mid-apply can still be rolled back.
    if on_snapshot is not None:
        await on_snapshot(dict(result.snapshot))
    stopped: str | None = None
    reached: list[str] = []  # writes that may have reached the camera
    for r in todo:
        if stopped is not None:
            r.outcome, r.reason = Outcome.FAILED, f"not attempted: {stopped} failed before it"
            continue
        s = by_name[r.setting]
        try:
            await s.write(r.after)
        except Unsupported as exc:
            r.outcome, r.reason = Outcome.UNSUPPORTED, exc.message
            continue
        except CameraError as exc:
            r.outcome, r.reason = Outcome.FAILED, _reason(exc)
            reached.append(r.setting)  # a lost reply may still have been applied
            stopped = r.setting
            if s.confirm is not None and isinstance(exc, Unreachable) and not await _confirmed(s):
                # The reply was lost because the change itself cut us off (a cleared gateway): put it back.
                await _revert(s, r)
            continue
        reached.append(r.setting)
        r.outcome = Outcome.CHANGED
        if s.confirm is not None and not await _confirmed(s):
            await _revert(s, r)
            stopped = r.setting
    await verify(by_name, result)
    kept = {name: result.snapshot[name] for name in reached}
    if kept != result.snapshot:
        result.snapshot = kept
        if kept and on_snapshot is not None:
            await on_snapshot(dict(kept))
        elif not kept and on_retire is not None:
            await on_retire()
    return result


async def _confirmed(s: Setting) -> bool:
    assert s.confirm is not None
    try:
        return await s.confirm()
    except CameraError:
        return False


async def _revert(s: Setting, r: SettingResult) -> None:
    try:
        await s.write(r.before)
    except CameraError as exc:
        r.outcome = Outcome.FAILED
        r.reason = f"lost access after the change and could not revert it ({_reason(exc)})"
        return
    r.outcome = Outcome.FAILED
    r.reason = "reverted: the agent lost access to the camera after this change"


async def verify(by_name: dict[str, Setting], result: ActionResult) -> None:
    """Read back every changed setting; a write that did not stick is a failure."""
    for r in result.settings:
        if r.outcome is not Outcome.CHANGED:
            continue
        try:
            now = await by_name[r.setting].read()
        except CameraError as exc:
            r.outcome, r.reason = Outcome.FAILED, f"written but not verified ({_reason(exc)})"
            continue
        if not same(now, r.after):
            r.outcome = Outcome.FAILED
            r.reason = f"did not stick: reads back {json.dumps(now, default=str)}"


def rollback_settings(settings: Sequence[Setting], snapshot: dict[str, Json]) -> list[Setting]:
    """The same settings, now wanting exactly the snapshot values (settings not in the snapshot are left)."""

    def wanting(value: Json) -> Callable[[Json], Json]:
        return lambda _current: value

    return [replace(s, want=wanting(snapshot[s.name])) for s in settings if s.name in snapshot]
