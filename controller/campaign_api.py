"""REST routes of staged decommission campaigns, approvals, removal confirmation and alerts (/api/v1).

Roles: viewer reads; operator (Perm.COMMAND) creates, starts, pauses, resumes, aborts, rolls back and confirms
physical removal; approver (Perm.APPROVE) signs batch manifests. The creator of a campaign cannot approve it
(four eyes, even an admin). `fleetctl approve` does: GET .../manifest -> {manifest_b64, digest, describe};
show the description and digest; sign approver_signed_bytes(manifest) with the person's Ed25519 key
(controller.campaigns.approvals.sign_manifest); POST .../approvals {"key_id", "signature": base64}.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from controller.api import STORE, body, error, need, query
from controller.auth import Perm
from controller.campaigns.approvals import ApprovalError, decode_signature, describe
from controller.campaigns.engine import CampaignEngine, CampaignError
from controller.health import SUPERVISOR
from controller.models import (
    AlertsQuery,
    ApprovalCreate,
    CampaignCreate,
    CampaignsQuery,
    NoQuery,
    Reason,
    RemovedCreate,
    parse_json,
)
from controller.recorders import status_impact

ENGINE = web.AppKey("campaign_engine", CampaignEngine)


@web.middleware
async def campaign_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """CampaignError carries its own status (404 unknown, 409 wrong state, 403 four-eyes, 400 bad input)."""
    try:
        resp: web.StreamResponse = await handler(request)
        return resp
    except (CampaignError, ApprovalError) as exc:
        if not request.path.startswith("/api/"):
            raise  # the dashboard shows its own error pages
        return error(exc.status if isinstance(exc, CampaignError) else 400, str(exc))


def _engine(request: web.Request) -> CampaignEngine:
    return request.app[ENGINE]


async def create(request: web.Request) -> web.Response:
    user = need(request, Perm.COMMAND)
    spec = parse_json(CampaignCreate, await request.read())
    c = await _engine(request).create(spec, user.username)
    return web.json_response(await _engine(request).status(c.campaign_id), status=201)


async def list_campaigns(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = query(request, CampaignsQuery)
    rows = await request.app[STORE].campaign_list(q.limit, q.offset)
    return web.json_response(
        {"campaigns": [{"campaign_id": c.campaign_id, "name": c.name, "state": c.state, "reason": c.reason,
                        "created_by": c.created_by, "created_at": c.created_at, "updated_at": c.updated_at}
                       for c in rows]}
    )  # fmt: skip


async def status(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    query(request, NoQuery)
    return web.json_response(await _engine(request).status(request.match_info["cid"]))


async def plan(request: web.Request) -> web.Response:
    """The batch plan: sizes and cameras per batch, with their current states."""
    need(request, Perm.READ)
    query(request, NoQuery)
    st = await _engine(request).status(request.match_info["cid"])
    return web.json_response(
        {"campaign_id": st["campaign_id"], "plan": st["spec"]["plan"], "stages": st["spec"]["stages"],
         "batches": [{k: b[k] for k in ("batch_id", "index", "state", "size", "camera_ids")} for b in st["batches"]]}
    )  # fmt: skip


async def preview(request: web.Request) -> web.Response:
    """The dry-run results, and per batch the recorder channels its restrict_network/decommission would take dark."""
    need(request, Perm.READ)
    query(request, NoQuery)
    eng = _engine(request)
    out = await eng.preview(request.match_info["cid"])
    out["recorder_impact"] = await status_impact(
        request.app[STORE], await eng.status(request.match_info["cid"])
    )
    return web.json_response(out)


async def _op(request: web.Request, op: str) -> web.Response:
    user = need(request, Perm.COMMAND)
    eng = _engine(request)
    cid = request.match_info["cid"]
    reason = (await body(request, Reason)).reason
    if op == "start":
        await eng.start(cid, user.username)
    elif op == "pause":
        await eng.pause(cid, user.username, reason)
    elif op == "resume":
        await eng.resume(cid, user.username)
    else:
        await eng.abort(cid, user.username, reason)
    return web.json_response(await eng.status(cid))


async def start(request: web.Request) -> web.Response:
    return await _op(request, "start")


async def pause(request: web.Request) -> web.Response:
    return await _op(request, "pause")


async def resume(request: web.Request) -> web.Response:
    return await _op(request, "resume")


async def abort(request: web.Request) -> web.Response:
    return await _op(request, "abort")


async def rollback(request: web.Request) -> web.Response:
    user = need(request, Perm.COMMAND)
    await body(request, Reason)
    cid, bid = request.match_info["cid"], request.match_info["bid"]
    await _engine(request).rollback(cid, bid, user.username)
    return web.json_response(await _engine(request).status(cid), status=202)


async def manifest(request: web.Request) -> web.Response:
    """What an approver signs: the manifest bytes (base64), their SHA-256 digest and a readable description."""
    need(request, Perm.READ)
    query(request, NoQuery)
    cid, bid = request.match_info["cid"], request.match_info["bid"]
    batches = await request.app[STORE].campaign_batches(cid)
    b = next((x for x in batches if x.batch_id == bid), None)
    if b is None:
        return error(404, "no such campaign batch")
    if not b.manifest:
        return error(404, "this batch needs no approval (no destructive stage)")
    return web.json_response(
        {"campaign_id": cid, "batch_id": bid, "state": b.state, "manifest_b64": base64.b64encode(b.manifest).decode(),
         "digest": b.manifest_digest, "not_after": b.manifest_not_after, "describe": describe(b.manifest)}
    )  # fmt: skip


async def add_approval(request: web.Request) -> web.Response:
    user = need(request, Perm.APPROVE)
    a = await body(request, ApprovalCreate)
    sig = decode_signature(a.signature)
    cid, bid = request.match_info["cid"], request.match_info["bid"]
    out = await _engine(request).approve(cid, bid, user, a.key_id, sig)
    return web.json_response(out, status=201)


async def confirm_removed(request: web.Request) -> web.Response:
    # Physical removal ends a camera's story: admins only, as on the dashboard.
    user = need(request, Perm.ADMIN)
    b = await body(request, RemovedCreate)
    cam = request.match_info["camera_id"]
    await _engine(request).confirm_removed(cam, user.username, b.note)
    return web.json_response({"camera_id": cam, "lifecycle": "REMOVED"})


async def list_alerts(request: web.Request) -> web.Response:
    need(request, Perm.READ)
    q = query(request, AlertsQuery)
    rows = await request.app[STORE].alerts(open_only=q.open, limit=q.limit, offset=q.offset)
    return web.json_response({"alerts": [a.__dict__ for a in rows]})


async def ack_alert(request: web.Request) -> web.Response:
    user = need(request, Perm.COMMAND)
    await body(request, Reason)
    try:
        alert_id = int(request.match_info["alert_id"])
    except ValueError:
        return error(400, "alert id: an integer")
    # Found by schemathesis: an id beyond int64 was an OverflowError in the store (a 500).
    if not 0 <= alert_id < 2**63:
        return error(404, f"no open alert {alert_id}")
    await _engine(request).ack_alert(alert_id, user.username)
    return web.json_response({"alert_id": alert_id, "acknowledged_by": user.username})


def add_campaign_routes(
    app: web.Application, engine: CampaignEngine, *, hub: Any = None, background: bool = True
) -> CampaignEngine:
    """Routes for the engine and, with `background`, its run loop as a cleanup context after the store's. The
    hub, if given, wakes it on results and inventory."""
    app[ENGINE] = engine
    app.middlewares.append(campaign_errors)
    if hub is not None:
        hub.listeners.append(engine.listener)

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        sup = app.get(SUPERVISOR)
        task = (
            sup.spawn("campaign-engine", engine.run())
            if sup is not None
            else asyncio.create_task(engine.run())
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    if background:
        app.cleanup_ctx.append(engine_ctx)
    r = app.router
    base = "/api/v1/campaigns"
    r.add_post(base, create)
    r.add_get(base, list_campaigns)
    r.add_get(base + "/{cid}", status)
    r.add_get(base + "/{cid}/plan", plan)
    r.add_get(base + "/{cid}/preview", preview)
    r.add_post(base + "/{cid}/start", start)
    r.add_post(base + "/{cid}/pause", pause)
    r.add_post(base + "/{cid}/resume", resume)
    r.add_post(base + "/{cid}/abort", abort)
    r.add_post(base + "/{cid}/batches/{bid}/rollback", rollback)
    r.add_get(base + "/{cid}/batches/{bid}/manifest", manifest)
    r.add_post(base + "/{cid}/batches/{bid}/approvals", add_approval)
    r.add_post("/api/v1/cameras/{camera_id}/removed", confirm_removed)
    r.add_get("/api/v1/alerts", list_alerts)
    r.add_post("/api/v1/alerts/{alert_id}/ack", ack_alert)
    return engine
