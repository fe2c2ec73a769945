"""The REST API (JSON): agents, cameras, commands, exports, audit. Bad input is a 4xx with a clear message."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel

from controller.auth import Perm, allowed, token_hash
from controller.commands import (
    CommandError,
    CommandRequest,
    CommandService,
    NotFound,
    SelectionGrew,
    reassign_camera,
)
from controller.csvsafe import csv_text
from controller.models import (
    COMMAND_CREATE,
    NUL,
    AuditQuery,
    CamerasQuery,
    CommandsQuery,
    ExportQuery,
    InputError,
    NoQuery,
    Reassign,
    SummaryQuery,
    parse_body,
    parse_json,
    parse_query,
)
from controller.openapi import openapi_document
from controller.store import Store
from controller.store.base import CameraFilter, CameraRow, CommandRow, ExecutionRow, UserRow, marginal
from protos.camfleet.v1 import camfleet_pb2 as pb

log = logging.getLogger(__name__)

STORE = web.AppKey("store", Store)
COMMANDS = web.AppKey("commands", CommandService)
USER = web.RequestKey("user", UserRow)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


def error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def current_user(request: web.Request) -> UserRow | None:
    return request.get(USER)


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@web.middleware
async def refuse_nul_input(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A NUL in the path, the query string or a form field is a 400, for the API and the dashboard alike: no id,
    filter or username holds one, and PostgreSQL refuses it in text, so every lookup with one was a 500
    (`/api/v1/cameras/%00`, `?site=%00`, a login as "\\x00"). JSON bodies are checked by their models. Innermost:
    a request without a valid token is a 401 first, whatever it carries."""
    where = ""
    if "\x00" in request.path:
        where = "the path"
    elif any("\x00" in k or "\x00" in v for k, v in request.query.items()):
        where = "the query string"
    elif request.method == "POST" and request.content_type in _FORMS and not request.path.startswith("/api/"):
        # Dashboard forms only: API bodies are JSON, refused by their models in any other type.
        try:
            form = await request.post()  # aiohttp keeps it: the handler's request.post() reads no further
        except ValueError as exc:  # multipart without a boundary, a malformed part: the client's error
            raise web.HTTPBadRequest(text=f"bad request: malformed form body ({exc})") from None
        if any("\x00" in k or (isinstance(v, str) and "\x00" in v) for k, v in form.items()):
            where = "a form field"
    if not where:
        return await handler(request)
    message = f"bad request: {NUL} in {where}"
    if request.path.startswith("/api/"):
        return error(400, message)
    raise web.HTTPBadRequest(text=message)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn bad input into a 400 with the reason; an unexpected failure is logged and is a 500 without details."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except InputError as exc:
        if not request.path.startswith("/api/"):
            raise
        fields = [{"field": f, "message": m} for f, m in exc.fields]
        return error(400, f"bad request: {exc}", fields=fields)
    except (SelectionGrew, NotFound) as exc:
        if not request.path.startswith("/api/"):
            raise
        return error(409 if isinstance(exc, SelectionGrew) else 404, str(exc))
    except (CommandError, ValueError) as exc:
        if not request.path.startswith("/api/"):
            raise
        return error(400, f"bad request: {exc}")


@web.middleware
async def token_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API calls authenticate with `Authorization: Bearer <token>`; the dashboard uses its session instead."""
    if request.path.startswith("/api/v1/"):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = await request.app[STORE].user_for_token(token_hash(header[7:].strip()))
            if user is None:
                return error(401, "invalid or revoked API token")
            request[USER] = user
        elif request.get(USER) is None:
            return error(401, "authentication required: send Authorization: Bearer <token>")
    return await handler(request)


def need(request: web.Request, perm: Perm) -> UserRow:
    user = current_user(request)
    if user is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "authentication required"}), content_type="application/json"
        )
    if not allowed(user.role, perm):
        raise web.HTTPForbidden(
            text=json.dumps({"error": f"role {user.role} may not {perm.value}"}),
            content_type="application/json",
        )
    return user


def query(request: web.Request, model: type[M]) -> M:
    return parse_query(model, request.query)


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body as `model` (an empty body is `{}`); bad JSON, too deep or wrong input is an InputError."""
    return parse_json(model, await request.read())


def camera_json(r: CameraRow, *, full: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "camera_id": r.camera_id, "agent_id": r.agent_id, "site": r.site, "host": r.host, "port": r.port,
        "manufacturer": r.manufacturer, "model": r.model, "firmware": r.firmware,
        "origin": {"manufacturer": r.origin, "covered": r.covered, "oem_rebrand": r.oem_rebrand,
                   "confidence": round(r.confidence, 3)},
        "risk": {"score": r.risk_score, "level": r.risk_level}, "cloud_reachable": r.cloud_reachable,
        "reachable": r.reachable, "lifecycle": r.lifecycle, "tags": r.tags, "observed_at": r.observed_at,
        "agent_ref": r.agent_ref,
        "identity": {"serial": r.serial, "macs": r.macs, "identified_by": r.identified_by},
    }  # fmt: skip
    if full:
        rec = pb.CameraRecord.FromString(r.record)
        d["record"] = MessageToDict(rec, preserving_proto_field_name=True)
    return d


def command_json(c: CommandRow, executions: list[ExecutionRow] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "command_id": c.command_id, "agent_id": c.agent_id, "action": c.action, "params": c.params,
        "dry_run": c.dry_run, "created_at": c.created_at, "not_after": c.not_after, "created_by": c.created_by,
        "campaign_id": c.campaign_id, "batch_id": c.batch_id, "state": c.state,
    }  # fmt: skip
    if executions is not None:
        d["executions"] = [
            {"camera_id": e.camera_id, "state": e.state, "settings": e.settings, "snapshot_id": e.snapshot_id,
             "error_class": e.error_class, "message": e.message, "updated_at": e.updated_at, "goal": e.goal}
            for e in executions
        ]  # fmt: skip
        counts: dict[str, int] = {}
        for e in executions:
            counts[e.state] = counts.get(e.state, 0) + 1
        d["counts"] = counts
    return d


# ---- handlers ----------------------------------------------------------------------------------
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def list_agents(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    query(request, NoQuery)
    agents = await request.app[STORE].list_agents()
    return web.json_response({"agents": [a.__dict__ for a in agents]})


async def list_cameras(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = query(request, CamerasQuery)
    rows, total = await request.app[STORE].query_cameras(
        q.camera_filter(), limit=q.limit, offset=q.offset, order=q.order
    )
    return web.json_response(
        {"total": total, "limit": q.limit, "offset": q.offset, "cameras": [camera_json(r) for r in rows]}
    )


async def get_camera(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    query(request, NoQuery)
    store = request.app[STORE]
    row = await store.get_camera(request.match_info["camera_id"])
    if row is None:
        return error(404, "no such camera")
    d = camera_json(row, full=True)
    d["history"] = await store.camera_history(row.camera_id)
    return web.json_response(d)


async def reassign(request: web.Request) -> web.Response:
    """A camera that really moved sites: an admin names its new agent (audited)."""
    user = need(request, Perm.ADMIN)
    b = await body(request, Reassign)
    cam = request.match_info["camera_id"]
    before = await reassign_camera(request.app[STORE], cam, b.agent_id, b.note, user.username)
    return web.json_response({"camera_id": cam, "agent_id": b.agent_id, "previous_agent_id": before})


async def quarantine(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = query(request, CommandsQuery)
    rows = await request.app[STORE].quarantine_list(q.limit, q.offset)
    return web.json_response({"messages": [
        {"id": r.id, "at": r.at, "topic": r.topic, "agent_id": r.agent_id, "kind": r.kind, "reason": r.reason,
         "size": len(r.payload)} for r in rows
    ]})  # fmt: skip


async def summary(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    store = request.app[STORE]
    flt = query(request, SummaryQuery).camera_filter()
    cols = (
        "origin",
        "site",
        "risk_level",
        "lifecycle",
        "manufacturer",
        "cloud_reachable",
        "oem_rebrand",
        "covered",
    )
    rows = await store.breakdown(cols, flt)
    out: dict[str, Any] = {"total": sum(n for _, n in rows)}
    for i, col in enumerate(cols[:5]):
        out[col] = marginal(rows, i)
    for i, col in enumerate(cols[5:], start=5):
        out[col] = marginal(rows, i).get("1", 0)
    return web.json_response(out)


async def create_command(request: web.Request) -> web.Response:
    user = need(request, Perm.COMMAND)
    m = parse_body(COMMAND_CREATE, await request.read())
    rows = await request.app[COMMANDS].create(CommandRequest.of(m), user.username)
    return web.json_response({"commands": [command_json(r) for r in rows]}, status=201)


async def list_commands(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = query(request, CommandsQuery)
    rows = await request.app[STORE].list_commands(q.limit, q.offset)
    return web.json_response({"commands": [command_json(r) for r in rows]})


async def get_command(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    query(request, NoQuery)
    store = request.app[STORE]
    cmd = await store.get_command(request.match_info["command_id"])
    if cmd is None:
        return error(404, "no such command")
    return web.json_response(command_json(cmd, await store.executions(cmd.command_id)))


async def cancel_command(request: web.Request) -> web.Response:
    user = need(request, Perm.COMMAND)
    if await request.app[STORE].get_command(request.match_info["command_id"]) is None:
        return error(404, "no such command")  # like GET; CommandService.cancel's error would be a 400
    n = await request.app[COMMANDS].cancel(request.match_info["command_id"], user.username)
    return web.json_response({"canceled": n})


EXPORT_FIELDS = ["camera_id", "site", "agent_id", "host", "port", "manufacturer", "model", "firmware", "origin",
                 "covered", "oem_rebrand", "confidence", "risk_score", "risk_level", "cloud_reachable", "lifecycle",
                 "agent_ref", "serial", "identified_by"]  # fmt: skip


async def cameras_csv(store: Store, flt: CameraFilter) -> web.Response:
    """The CSV export, of the API and of the dashboard: the export's columns alone, straight from the store."""
    return web.Response(
        text=csv_text(EXPORT_FIELDS, await store.export_cameras(flt, EXPORT_FIELDS)), content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="camfleet-cameras.csv"'},
    )  # fmt: skip


async def export(request: web.Request) -> web.StreamResponse:
    need(request, Perm.READ)
    q = query(request, ExportQuery)
    if q.format == "csv":
        return await cameras_csv(request.app[STORE], q.camera_filter())
    rows, _ = await request.app[STORE].query_cameras(q.camera_filter(), limit=10**7)
    return web.json_response({"cameras": [camera_json(r) for r in rows]})


async def audit(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = query(request, AuditQuery)
    entries = await request.app[STORE].audit_entries(q.limit, q.offset)
    return web.json_response({"entries": [e.to_dict() for e in entries]})


async def audit_verify(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    query(request, NoQuery)
    rep = await request.app[STORE].verify_audit()
    return web.json_response({"ok": rep.ok, "entries": rep.entries, "problems": rep.problems})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/openapi.json", openapi)
    r.add_get("/api/v1/agents", list_agents)
    r.add_get("/api/v1/cameras", list_cameras)
    r.add_get("/api/v1/cameras/{camera_id}", get_camera)
    r.add_post("/api/v1/cameras/{camera_id}/owner", reassign)
    r.add_get("/api/v1/quarantine", quarantine)
    r.add_get("/api/v1/summary", summary)
    r.add_post("/api/v1/commands", create_command)
    r.add_get("/api/v1/commands", list_commands)
    r.add_get("/api/v1/commands/{command_id}", get_command)
    r.add_post("/api/v1/commands/{command_id}/cancel", cancel_command)
    r.add_get("/api/v1/export", export)
    r.add_get("/api/v1/audit", audit)
    r.add_get("/api/v1/audit/verify", audit_verify)
