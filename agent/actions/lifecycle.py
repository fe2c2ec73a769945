"""Lifecycle actions: reboot, decommission (backup, optional user wipe, factory default) and rollback."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from agent.actions import engine
from agent.actions.cloud import onvif_setting
from agent.actions.conn import CameraConn, VendorHttp, vendor_setting
from agent.actions.goal import GoalSpec, Part
from agent.actions.network import guarded
from agent.actions.onvif_settings import ONVIF_SETTINGS, field, items, text
from agent.drivers import DRIVERS, HikvisionDriver
from agent.errors import CameraError, Unsupported

log = logging.getLogger(__name__)

SnapshotSink = Callable[[dict[str, engine.Json]], Awaitable[None]]


def _reboot_goal() -> GoalSpec:
    return GoalSpec(parts={"reboot": Part("reboot", essential=True)})


def _keep(current: engine.Json) -> engine.Json:
    return current


async def known_settings(conn: CameraConn) -> list[engine.Setting]:
    """Every setting an action can touch on this camera (ONVIF plus each answering vendor API), wanting no change.

    Network settings keep their commit-confirm so that a rollback can never cut the agent off either.
    """
    out = [onvif_setting(conn, name, _keep) for name in ONVIF_SETTINGS]
    for d in await conn.vendor_drivers():
        out += [vendor_setting(conn, d, n, _keep) for n in DRIVERS[d].setting_names]
    return [guarded(conn, s) for s in out]


async def rollback(
    conn: CameraConn, snapshot: Mapping[str, engine.Json], *, dry_run: bool = False
) -> tuple[engine.ActionResult, GoalSpec]:
    """Re-apply a snapshot: each setting in it gets its prior value back (already where it still has it).
    The goal: every setting of the snapshot holds its value from before the change again."""
    settings = await known_settings(conn)
    by_name = {s.name for s in settings}
    goal = GoalSpec(
        parts={n: Part(f"{n} back to its value before the change", absent_ok=False) for n in snapshot}
    )
    result = await engine.run(engine.rollback_settings(settings, dict(snapshot)), dry_run=dry_run)
    for name in snapshot:
        if name not in by_name:
            result.settings.append(
                engine.SettingResult(
                    name, engine.Outcome.UNSUPPORTED, reason="no such setting on this camera now"
                )
            )
    return result, goal


async def backup(conn: CameraConn) -> dict[str, engine.Json]:
    """Current value of every readable setting (unsupported ones are left out)."""
    snap: dict[str, engine.Json] = {}
    for r in await engine.plan(await known_settings(conn)):
        if r.outcome is engine.Outcome.ALREADY:
            snap[r.setting] = r.before
    return snap


async def reboot(conn: CameraConn, *, dry_run: bool = False) -> tuple[engine.ActionResult, GoalSpec]:
    result = engine.ActionResult(dry_run=dry_run)
    if dry_run:
        result.settings.append(engine.SettingResult("reboot", engine.Outcome.WOULD_CHANGE))
        return result, _reboot_goal()
    result.settings.append(await _reboot_row(conn))
    return result, _reboot_goal()


async def _reboot_row(conn: CameraConn) -> engine.SettingResult:
    try:
        await conn.session.call("SystemReboot", optional=True, idempotent=False)
    except Unsupported:
        if "hikvision" not in await conn.vendor_drivers():
            return engine.SettingResult(
                "reboot", engine.Outcome.UNSUPPORTED, reason="SystemReboot not supported"
            )
        await HikvisionDriver().reboot(VendorHttp(conn.http, write_once=True))
    return engine.SettingResult("reboot", engine.Outcome.CHANGED, reason="camera is rebooting")


async def decommission(
    conn: CameraConn,
    mode: Literal["soft", "hard"],
    *,
    wipe_users: bool = False,
    dry_run: bool = False,
    on_snapshot: SnapshotSink | None = None,
) -> tuple[engine.ActionResult, GoalSpec]:
    """Backup snapshot first (stored before any write), then the optional user wipe, then factory default.
    The goal: the camera is back to its factory state (and, when asked, holds no other account)."""
    goal = GoalSpec(parts={"factory_default": Part("factory default", essential=True),
                           "users.wipe": Part("other accounts removed")})  # fmt: skip
    snap = await backup(conn)
    result = engine.ActionResult(snapshot=snap, dry_run=dry_run)
    rows = result.settings
    if dry_run:
        if wipe_users:
            rows.append(engine.SettingResult("users.wipe", engine.Outcome.WOULD_CHANGE))
        rows.append(engine.SettingResult("factory_default", engine.Outcome.WOULD_CHANGE, after=mode))
        return result, goal
    if on_snapshot is not None:
        await on_snapshot(dict(snap))
    if wipe_users:
        try:
            rows.append(await _wipe_users(conn))
        except CameraError as exc:
            rows.append(engine.SettingResult("users.wipe", engine.Outcome.FAILED, reason=str(exc)))
            return (
                result,
                goal,
            )  # stop: a half-wiped camera must not also be reset without the operator knowing
    rows.append(await _factory_default(conn, mode))
    return result, goal


async def _wipe_users(conn: CameraConn) -> engine.SettingResult:
    """Delete every account except the one the agent logs in with (it is needed for the factory default)."""
    me = conn.session.credentials.username if conn.session.credentials else ""
    names = [text(field(u, "Username")) for u in items(await conn.session.call("GetUsers", optional=True))]
    doomed = [n for n in names if n and n != me]
    if not doomed:
        return engine.SettingResult("users.wipe", engine.Outcome.ALREADY, before=names, after=names)
    await conn.session.call("DeleteUsers", optional=True, idempotent=False, Username=doomed)
    return engine.SettingResult("users.wipe", engine.Outcome.CHANGED, before=names, after=[me])


async def _factory_default(conn: CameraConn, mode: Literal["soft", "hard"]) -> engine.SettingResult:
    onvif_mode = "Hard" if mode == "hard" else "Soft"
    try:
        await conn.session.call(
            "SetSystemFactoryDefault", optional=True, idempotent=False, FactoryDefault=onvif_mode
        )
    except Unsupported:
        if "hikvision" not in await conn.vendor_drivers():
            return engine.SettingResult(
                "factory_default", engine.Outcome.UNSUPPORTED, reason="SetSystemFactoryDefault not supported"
            )
        # ISAPI factoryReset: basic keeps network and users (ONVIF Soft), full is everything (Hard).
        await HikvisionDriver().factory_reset(
            VendorHttp(conn.http, write_once=True), "full" if mode == "hard" else "basic"
        )
    except CameraError as exc:
        return engine.SettingResult("factory_default", engine.Outcome.FAILED, after=mode, reason=str(exc))
    return engine.SettingResult(
        "factory_default", engine.Outcome.CHANGED, after=mode, reason="camera reboots"
    )
