"""ONVIF Device service: user management and unrecoverable maintenance (reboot, factory default)."""

from __future__ import annotations

from camsim import soap
from camsim.model import User, UserLevel
from camsim.onvif_common import Ctx, Handler, children, req_text, text, x

MAX_USERS = 16  # advertised as Security@MaxUsers
_LEVELS: dict[str, UserLevel] = {
    "Administrator": "Administrator",
    "Operator": "Operator",
    "User": "User",
    "Anonymous": "Anonymous",
    "Extended": "Extended",
}


def _min_password(ctx: Ctx) -> int:
    # Hikvision and Dahua firmwares refuse passwords shorter than 8 characters; others take anything.
    return 8 if ctx.camera.identity.personality in ("hikvision", "dahua") else 1


def _fixed_users(ctx: Ctx) -> set[str]:
    # The built-in "admin" of Hikvision/Dahua can be changed but never deleted or demoted.
    return {"admin"} if ctx.camera.identity.personality in ("hikvision", "dahua") else set()


def _level(value: str | None) -> UserLevel:
    lvl = _LEVELS.get(value or "")
    if lvl is None:
        raise soap.invalid_arg_val(reason="Unknown UserLevel")
    if lvl == "Anonymous":
        raise soap.operation_prohibited("AnonymousNotAllowed", "Anonymous users are not allowed")
    return lvl


def get_users(ctx: Ctx) -> str:
    # Core: GetUsers "shall not return the credentials" (the agsh recording does; real devices must not).
    body = "".join(
        f"<tds:User><tds:Username>{x(u.username)}</tds:Username><tds:UserLevel>{u.level}</tds:UserLevel></tds:User>"
        for u in ctx.camera.users
    )
    return f"<tds:GetUsersResponse>{body}</tds:GetUsersResponse>"


def create_users(ctx: Ctx) -> str:
    cam = ctx.camera
    new: list[User] = []
    existing = {u.username for u in cam.users}
    for el in children(ctx.op, "User"):
        name = req_text(el, "Username")
        password = text(el, "Password") or ""
        if not name:
            raise soap.operation_prohibited("UsernameTooShort", "Username too short")
        if len(name) > 32:
            raise soap.operation_prohibited("UsernameTooLong", "Username too long")
        if name in existing or any(u.username == name for u in new):
            raise soap.operation_prohibited("UsernameClash", "Username already exists")
        if len(password) < _min_password(ctx):
            raise soap.operation_prohibited("PasswordTooWeak", "Password too weak")
        if len(password) > 64:
            raise soap.operation_prohibited("PasswordTooLong", "Password too long")
        new.append(User(name, password, _level(text(el, "UserLevel"))))
    if not new:
        raise soap.SoapError("Sender", ["InvalidArgs"], "User required")
    if len(cam.users) + len(new) > MAX_USERS:
        raise soap.SoapError("Receiver", ["Action", "TooManyUsers"], "Maximum number of users reached")
    # All-or-nothing (Core): every user was validated before any is added.
    for u in new:
        cam.users.append(u)
        cam.record_write(f"user.{u.username}")
    return "<tds:CreateUsersResponse></tds:CreateUsersResponse>"


def set_user(ctx: Ctx) -> str:
    cam = ctx.camera
    changes: list[tuple[int, User]] = []
    for el in children(ctx.op, "User"):
        name = req_text(el, "Username")
        idx = next((i for i, u in enumerate(cam.users) if u.username == name), None)
        if idx is None:
            raise soap.invalid_arg_val("UsernameMissing", "No such user")
        password = text(el, "Password")
        if password is not None and len(password) < _min_password(ctx):
            raise soap.operation_prohibited("PasswordTooWeak", "Password too weak")
        level = _level(text(el, "UserLevel"))
        if name in _fixed_users(ctx) and level != "Administrator":
            raise soap.operation_prohibited("FixedUser", "The built-in user cannot be changed")
        old = cam.users[idx]
        changes.append((idx, User(name, password if password is not None else old.password, level)))
    if not changes:
        raise soap.SoapError("Sender", ["InvalidArgs"], "User required")
    for idx, u in changes:
        cam.users[idx] = u
        cam.record_write(f"user.{u.username}")
    return "<tds:SetUserResponse></tds:SetUserResponse>"


def delete_users(ctx: Ctx) -> str:
    cam = ctx.camera
    names = [(el.text or "").strip() for el in children(ctx.op, "Username")]
    if not names:
        raise soap.SoapError("Sender", ["InvalidArgs"], "Username required")
    present = {u.username for u in cam.users}
    for n in names:
        if n not in present:
            raise soap.invalid_arg_val("UsernameMissing", "No such user")
        if n in _fixed_users(ctx):
            raise soap.operation_prohibited("FixedUser", "The built-in user cannot be deleted")
    cam.users = [u for u in cam.users if u.username not in names]
    for n in dict.fromkeys(names):
        cam.record_write(f"user.{n}")
    return "<tds:DeleteUsersResponse></tds:DeleteUsersResponse>"


def system_reboot(ctx: Ctx) -> str:
    cam = ctx.camera
    ctx.after.append(cam.reboot)  # the reply goes out first, then the camera drops off the network
    secs = int(cam.faults.reboot_seconds)
    msg = "System reboot..." if ctx.hik else f"Reboot in {secs} secs"
    return f"<tds:SystemRebootResponse><tds:Message>{msg}</tds:Message></tds:SystemRebootResponse>"


def set_system_factory_default(ctx: Ctx) -> str:
    mode = req_text(ctx.op, "FactoryDefault")
    cam = ctx.camera
    if mode == "Hard":
        ctx.after.append(lambda: cam.factory_reset("Hard"))
    elif mode == "Soft":
        ctx.after.append(lambda: cam.factory_reset("Soft"))
    else:
        raise soap.invalid_arg_val(reason="FactoryDefault must be Hard or Soft")
    return "<tds:SetSystemFactoryDefaultResponse></tds:SetSystemFactoryDefaultResponse>"


HANDLERS: dict[str, Handler] = {
    "GetUsers": get_users,
    "CreateUsers": create_users,
    "SetUser": set_user,
    "DeleteUsers": delete_users,
    "SystemReboot": system_reboot,
    "SetSystemFactoryDefault": set_system_factory_default,
}
