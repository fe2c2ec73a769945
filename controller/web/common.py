"""Shared helpers of the dashboard pages: rendering with the session context, role checks, formatting."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from controller.api import USER
from controller.auth import Perm, allowed
from controller.models import MAX_OFFSET, Filters, Selection, parse_obj
from controller.store.base import UserRow
from controller.web.sessions import SESSION


def user_of(request: web.Request) -> UserRow | None:
    return request.get(USER)


def require(request: web.Request, perm: Perm) -> UserRow:
    """The page-side twin of api.need: hidden buttons are not enough, every handler checks again."""
    user = user_of(request)
    if user is None:
        raise web.HTTPFound("/login")
    if not allowed(user.role, perm):
        raise web.HTTPForbidden(text=f"Your role ({user.role}) may not {perm.value}.")
    return user


def can(request: web.Request, perm: str) -> bool:
    user = user_of(request)
    return user is not None and allowed(user.role, Perm(perm))


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    session = request.get(SESSION)
    ctx = {
        "user": user_of(request),
        "csrf": session.csrf if session is not None else "",
        "can": lambda perm: can(request, perm),
        "path": request.path,
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)


def fmt_time(ts: float | None) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_param(v: Any) -> str:
    """An action parameter as an approver reads it: lists joined, booleans as the API spells them."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v) or "(none)"
    return str(v)


# The dashboard's names for two filters (the API's are manufacturer and lifecycle).
FORM_ALIASES = {"vendor": "manufacturer", "state": "lifecycle"}
LIST_KEYS = ("ids", "tags")


def form_filters(form: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """Filter fields of a dashboard form or query string as the API's JSON: empty fields left out, lists
    split on commas and spaces, true/false read as booleans, the `all` box as `"all": true`."""
    out: dict[str, Any] = {}
    for key in keys:
        raw = str(form.get(key, "")).strip()
        if not raw:
            continue
        name = FORM_ALIASES.get(key, key)
        if key in LIST_KEYS:
            out[name] = [x for x in raw.replace(",", " ").split() if x]
        elif key in ("covered", "cloud_reachable", "all"):
            out[name] = raw.lower() in ("1", "true", "yes", "on")
        else:
            out[name] = raw
    return out


def filters_of(form: Any, keys: tuple[str, ...]) -> Filters:
    """Validated filters (InputError names a bad field) from a page's query string."""
    return parse_obj(Filters, form_filters(form, keys))


def selection_of(form: Any, keys: tuple[str, ...]) -> Selection:
    """A validated selection from a form: filters, or the "all cameras" box (InputError otherwise)."""
    return parse_obj(Selection, form_filters(form, (*keys, "all")), "where")


def page_args(query: Any, *, per_default: int = 50) -> tuple[int, int]:
    """(page, per) from the query string, clamped: a bad value shows page 1 instead of an error page, and a
    huge page number the last page there could be (`?page=10**21` was an OverflowError in the store)."""
    try:
        page = min(max(1, int(query.get("page", "1"))), MAX_OFFSET // 200)
    except ValueError:
        page = 1
    try:
        per = int(query.get("per", str(per_default)))
    except ValueError:
        per = per_default
    return page, per if per in (10, 25, 50, 100, 200) else per_default
