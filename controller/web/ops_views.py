"""Commands (run, watch, cancel), the audit log with chain verification, exports and the printable report."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from controller.api import COMMANDS, STORE, camera_json, cameras_csv
from controller.auth import Perm
from controller.commands import ACTIONS, CommandError, CommandRequest
from controller.store.base import FINAL_STATES, CameraFilter
from controller.web.common import filters_of, page_args, render, require, selection_of
from controller.web.fleet_views import FILTER_KEYS, fleet_summary

# Actions an operator may start from the page; decommission only ever runs through an approved campaign.
PAGE_ACTIONS = tuple(a for a in ACTIONS if a not in ("decommission", "rollback"))
WHERE_KEYS = ("origin", "vendor", "site", "risk", "state", "q", "ids")


async def commands(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    page, per = page_args(request.query)
    rows = await request.app[STORE].list_commands(per, (page - 1) * per)
    return render(
        request, "commands.html", {"title": "Commands", "rows": rows, "page": page, "per": per, "live": True}
    )


async def command_form(request: web.Request) -> web.Response:
    require(request, Perm.COMMAND)
    return render(
        request,
        "command_new.html",
        {
            "title": "Run a command",
            "actions": PAGE_ACTIONS,
            "form": {k: request.query.get(k, "") for k in (*WHERE_KEYS, "all")},
        },
    )


async def command_create(request: web.Request) -> web.StreamResponse:
    user = require(request, Perm.COMMAND)
    form = await request.post()
    action = str(form.get("action", ""))
    ctx: dict[str, Any] = {
        "title": "Run a command",
        "actions": PAGE_ACTIONS,
        "form": {k: str(form.get(k, "")) for k in (*WHERE_KEYS, "all", "allow", "agent_only")}
        | {"action": action},
    }
    if action not in PAGE_ACTIONS:
        return render(
            request, "command_new.html", ctx | {"error": f"choose one of {', '.join(PAGE_ACTIONS)}"}, 400
        )
    params: dict[str, Any] = {}
    if action == "restrict_network":
        params = {"allow": [a for a in str(form.get("allow", "")).replace(",", " ").split() if a]}
        if form.get("agent_only"):
            params["agent_only"] = True
    try:
        req = CommandRequest.parse(
            action, params, selection_of(form, WHERE_KEYS), dry_run=bool(form.get("dry_run"))
        )
        rows = await request.app[COMMANDS].create(req, user.username)
    except (CommandError, ValueError) as exc:
        return render(request, "command_new.html", ctx | {"error": str(exc)}, 400)
    raise web.HTTPSeeOther(f"/commands/{rows[0].command_id}" if len(rows) == 1 else "/commands")


async def command_detail(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    store = request.app[STORE]
    cmd = await store.get_command(request.match_info["command_id"])
    if cmd is None:
        raise web.HTTPNotFound(text="no such command")
    execs = await store.executions(cmd.command_id)
    counts: dict[str, int] = {}
    for e in execs:
        counts[e.state] = counts.get(e.state, 0) + 1
    done = sum(n for s, n in counts.items() if s in FINAL_STATES)
    return render(
        request,
        "command.html",
        {"title": f"Command {cmd.command_id}", "cmd": cmd, "execs": execs, "counts": counts, "done": done,
         "final": FINAL_STATES, "live": True},
    )  # fmt: skip


async def command_cancel(request: web.Request) -> web.StreamResponse:
    user = require(request, Perm.COMMAND)
    cid = request.match_info["command_id"]
    try:
        await request.app[COMMANDS].cancel(cid, user.username)
    except CommandError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    raise web.HTTPSeeOther(f"/commands/{cid}")


async def audit(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    page, per = page_args(request.query, per_default=100)
    entries = await request.app[STORE].audit_entries(per, (page - 1) * per)
    report = await request.app[STORE].verify_audit() if request.query.get("verify") else None
    return render(
        request,
        "audit.html",
        {"title": "Audit log", "entries": entries, "page": page, "per": per, "report": report,
         "more": len(entries) == per},
    )  # fmt: skip


async def _export_rows(request: web.Request) -> list[dict[str, Any]]:
    require(request, Perm.READ)
    rows, _ = await request.app[STORE].query_cameras(_filter(request), limit=10**7)
    return [camera_json(r) for r in rows]


def _filter(request: web.Request) -> CameraFilter:
    try:
        return filters_of(request.query, FILTER_KEYS).camera_filter()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc


async def export_json(request: web.Request) -> web.Response:
    cams = await _export_rows(request)
    return web.Response(
        text=json.dumps({"exported_at": time.time(), "cameras": cams}, indent=1),
        content_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="camfleet-cameras.json"'},
    )


async def export_csv(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    return await cameras_csv(request.app[STORE], _filter(request))


async def report(request: web.Request) -> web.Response:
    """Printable report for the organisation (no filter) or one site: the ministry's question, answered."""
    require(request, Perm.READ)
    store = request.app[STORE]
    site = request.query.get("site", "")
    flt = CameraFilter(site=site or None)
    s = await fleet_summary(store, flt)
    covered, _ = await store.query_cameras(
        CameraFilter(site=site or None, covered=True), limit=2000, order="-risk_score"
    )
    return render(
        request,
        "report.html",
        {"title": f"Fleet report — {site or 'whole organisation'}", "s": s, "site": site, "covered": covered,
         "sites": sorted(await store.counts("site")), "generated": time.time()},
    )  # fmt: skip
