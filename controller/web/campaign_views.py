"""Campaign pages: create wizard with dry-run preview, batch board, pause/resume/abort, approvals queue."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from controller.actions import build_action, describe_action
from controller.api import STORE
from controller.auth import Perm
from controller.campaign_api import ENGINE
from controller.campaigns import planner
from controller.campaigns.approvals import ApprovalError, decode_signature, describe
from controller.campaigns.engine import CampaignEngine, CampaignError
from controller.models import CampaignCreate, parse_obj
from controller.recorders import campaign_impact, refusals, status_impact
from controller.store.base import CampaignRow
from controller.web.common import can, form_filters, render, require, user_of

WHERE_KEYS = ("origin", "vendor", "site", "risk", "state", "q", "ids", "tags")


def engine(request: web.Request) -> CampaignEngine:
    found = request.app.get(ENGINE)
    if found is None:
        raise web.HTTPServiceUnavailable(text="the campaign engine is not running in this controller")
    return found


def _fail(exc: CampaignError) -> web.HTTPException:
    status = getattr(exc, "status", 409)
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound}.get(
        status, web.HTTPConflict
    )
    return cls(text=str(exc))


# ---- list ------------------------------------------------------------------------------------------------
async def campaigns(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    rows = await request.app[STORE].campaign_list(limit=200)
    return render(request, "campaigns.html", {"title": "Campaigns", "rows": rows, "live": True})


# ---- wizard -------------------------------------------------------------------------------------------------
def _defaults(query: Any) -> dict[str, Any]:
    f: dict[str, Any] = {k: query.get(k, "") for k in WHERE_KEYS}
    f.update(
        name=query.get("name", ""), stages=["disable_cloud"], allow="", canary="1", growth="2", max_batch="10",
        success_threshold="100", failure_threshold="50", min_executed="1", gate_action="pause", ttl_min="15",
        retry_failed_only=True, preview="canary", window_days="", window_start="", window_end="",
        all="", features="", ntp="", keep_gateway=False, keep_dns=False, mode="soft", wipe_users=False,
        expect_cameras="",
        keep="", accept_recording_gap=False, agent_only=False,
    )  # fmt: skip
    return f


def _form_values(form: Any) -> dict[str, Any]:
    f = _defaults({})
    for k in f:
        if k == "stages":
            f[k] = [s for s in form.getall("stages", []) if s in planner.STAGES]
        elif k in (
            "retry_failed_only",
            "keep_gateway",
            "keep_dns",
            "wipe_users",
            "accept_recording_gap",
            "agent_only",
        ):
            f[k] = bool(form.get(k))
        else:
            f[k] = str(form.get(k, "")).strip()
    return f


def _number(f: dict[str, Any], key: str, kind: type[int] | type[float], label: str) -> Any:
    try:
        return kind(f[key])
    except ValueError as exc:
        raise planner.PlanError(f"{label}: a number") from exc


def _words(text: str) -> list[str]:
    return [a for a in str(text).replace(",", " ").split() if a]


def _stage_params(f: dict[str, Any], stage: str) -> dict[str, Any]:
    """Every parameter the wizard offers for a stage (the same names as the API's)."""
    if stage == "disable_cloud":
        return {"features": _words(f["features"])} if _words(f["features"]) else {}
    if stage == "restrict_network":
        params: dict[str, Any] = {"allow": _words(f["allow"]), "clear_gateway": not f["keep_gateway"],
                                  "clear_dns": not f["keep_dns"]}  # fmt: skip
        if f["ntp"]:
            params["ntp_server"] = f["ntp"]
        if _words(f["keep"]):
            params["keep_protocols"] = _words(f["keep"])
        if f["accept_recording_gap"]:
            params["accept_recording_gap"] = True
        if f["agent_only"]:
            params["agent_only"] = True
        return params
    return {"mode": f["mode"] or "soft", "wipe_users": bool(f["wipe_users"])}


def spec_body(f: dict[str, Any]) -> dict[str, Any]:
    """The wizard's fields as the JSON body of POST /api/v1/campaigns (controller.models.CampaignCreate)."""
    stages = [{"action": s, "params": _stage_params(f, s)} for s in f["stages"]]
    body: dict[str, Any] = {
        "name": f["name"],
        "where": form_filters(f, (*WHERE_KEYS, "all")),
        "stages": stages,
        "plan": {"canary": _number(f, "canary", int, "canary"), "growth": _number(f, "growth", float, "growth"),
                 "max_batch": _number(f, "max_batch", int, "maximum batch")},
        "gate": {"success_threshold": _number(f, "success_threshold", float, "success threshold") / 100,
                 "failure_threshold": _number(f, "failure_threshold", float, "failure threshold") / 100,
                 "min_executed": _number(f, "min_executed", int, "minimum executed"), "action": f["gate_action"]},
        "ttl_s": _number(f, "ttl_min", float, "timeout") * 60,
        "retry_failed_only": f["retry_failed_only"],
        "preview": f["preview"],
    }  # fmt: skip
    if f["window_start"] and f["window_end"]:
        days = [int(d) for d in str(f["window_days"]).replace(",", " ").split() if d.isdigit()] or list(
            range(7)
        )
        body["windows"] = [{"days": days, "start": f["window_start"], "end": f["window_end"]}]
    if str(f["expect_cameras"]).isdigit():
        body["expect_cameras"] = int(f["expect_cameras"])
    return body


async def campaign_form(request: web.Request) -> web.Response:
    require(request, Perm.COMMAND)
    return render(request, "campaign_new.html", _wizard_ctx(_defaults(request.query)))


def _wizard_ctx(f: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"title": "New campaign", "f": f, "stages_all": planner.STAGES, "where_keys": WHERE_KEYS} | extra


async def campaign_plan(request: web.Request) -> web.Response:
    """Step 2 of the wizard: which cameras, in which batches, and what needs approval. Changes nothing."""
    require(request, Perm.COMMAND)
    f = _form_values(await request.post())
    eng = engine(request)
    try:
        req = parse_obj(CampaignCreate, spec_body(f))
        spec = eng.spec_of(req)
        targets = await eng.targets(spec)
        _, total = await request.app[STORE].query_cameras(req.where.camera_filter(), limit=1)
    except (CampaignError, planner.PlanError, ValueError) as exc:
        return render(request, "campaign_new.html", _wizard_ctx(f, error=str(exc)), 400)
    sizes = planner.batch_sizes(len(targets), spec.plan)
    # What the operator saw: Create sends it along, and a destructive campaign whose selection has grown
    # meanwhile is refused (plan again).
    f["expect_cameras"] = str(len(targets))
    try:
        impact = await campaign_impact(request.app[STORE], spec, targets)
    except ValueError as exc:  # stage parameters build_action refuses
        return render(request, "campaign_new.html", _wizard_ctx(f, error=str(exc)), 400)
    ctx = _wizard_ctx(
        f, plan={"total": total, "targets": targets[:200], "count": len(targets), "sizes": sizes,
                 "needs_approval": spec.needs_approval, "approvals": spec.approvals_required,
                 "stages": [s.action for s in spec.stages], "impact": [i for i in impact if i["channels"]],
                 "refused": refusals(impact)},
    )  # fmt: skip
    return render(request, "campaign_new.html", ctx)


async def campaign_create(request: web.Request) -> web.StreamResponse:
    user = require(request, Perm.COMMAND)
    f = _form_values(await request.post())
    if "decommission" in f["stages"] and not f["expect_cameras"]:
        why = "Plan first: a campaign with a decommission stage is created from the plan you have seen."
        return render(request, "campaign_new.html", _wizard_ctx(f, error=why), 400)
    try:
        c = await engine(request).create(parse_obj(CampaignCreate, spec_body(f)), user.username)
    except (CampaignError, planner.PlanError, ValueError) as exc:
        return render(request, "campaign_new.html", _wizard_ctx(f, error=str(exc)), 400)
    raise web.HTTPSeeOther(f"/campaigns/{c.campaign_id}")


# ---- board --------------------------------------------------------------------------------------------------
async def campaign_board(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    eng = engine(request)
    cid = request.match_info["campaign_id"]
    try:
        status = await eng.status(cid)
        preview = await eng.preview(cid)
    except CampaignError as exc:
        raise _fail(exc) from exc
    impact = await status_impact(request.app[STORE], status)
    for b in status["batches"]:
        done = sum((s["counts"] or {}).get("succeeded", 0) + (s["counts"] or {}).get("failed", 0)
                   for s in b["stages"])  # fmt: skip
        b["done"], b["work"] = done, b["size"] * len(b["stages"])
        b["impact"] = [i for i in impact if i["batch_id"] == b["batch_id"] and i["channels"]]
    return render(
        request,
        "campaign.html",
        {"title": f"Campaign: {status['name']}", "c": status, "preview": preview, "live": True, "poll": 3000},
    )


async def campaign_action(request: web.Request) -> web.StreamResponse:
    user = require(request, Perm.COMMAND)
    cid, op = request.match_info["campaign_id"], request.match_info["op"]
    form = await request.post()
    eng = engine(request)
    try:
        if op == "start":
            await eng.start(cid, user.username)
        elif op == "pause":
            await eng.pause(cid, user.username, str(form.get("reason", "")))
        elif op == "resume":
            await eng.resume(cid, user.username)
        elif op == "abort":
            await eng.abort(cid, user.username, str(form.get("reason", "")))
        elif op == "rollback":
            await eng.rollback(cid, str(form.get("batch_id", "")), user.username)
        else:
            raise web.HTTPNotFound(text=f"no operation {op}")
    except CampaignError as exc:
        raise _fail(exc) from exc
    raise web.HTTPSeeOther(f"/campaigns/{cid}")


# ---- approvals ---------------------------------------------------------------------------------------------
def earlier_stages(c: CampaignRow) -> list[dict[str, Any]]:
    """The campaign's stages before the destructive one, as approvers are shown them: the same batch runs them
    first (restrict_network's allow list decides who still reaches the camera), though only the destructive
    stage is in the manifest they sign."""
    return [describe_action(build_action(s["action"], s["params"])) for s in c.spec.get("stages", [])
            if s["action"] not in planner.DESTRUCTIVE_STAGES]  # fmt: skip


async def approvals(request: web.Request) -> web.Response:
    """Every batch waiting for signatures, newest campaigns first; approvers see a Sign link."""
    require(request, Perm.READ)
    store = request.app[STORE]
    queue: list[dict[str, Any]] = []
    for c in await store.campaign_list(limit=500):
        if c.state in ("COMPLETED", "ABORTED"):
            continue
        for b in await store.campaign_batches(c.campaign_id):
            if b.state == "AWAITING_APPROVAL":
                got = await store.campaign_approvals(c.campaign_id, b.batch_id)
                queue.append({"c": c, "b": b, "m": describe(b.manifest) if b.manifest else None,
                              "before": earlier_stages(c),
                              "approvers": [a.username for a in got if a.manifest_digest == b.manifest_digest]})  # fmt: skip
    return render(request, "approvals.html", {"title": "Approvals", "queue": queue, "live": True})


async def _batch(request: web.Request) -> tuple[Any, Any]:
    store = request.app[STORE]
    c = await store.campaign_get(request.match_info["campaign_id"])
    if c is None:
        raise web.HTTPNotFound(text="no such campaign")
    for b in await store.campaign_batches(c.campaign_id):
        if b.batch_id == request.match_info["batch_id"]:
            return c, b
    raise web.HTTPNotFound(text="no such batch")


async def approve_form(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    require(request, Perm.READ)
    c, b = await _batch(request)
    user = user_of(request)
    approvals_ = await request.app[STORE].campaign_approvals(c.campaign_id, b.batch_id)
    manifest_b64 = base64.b64encode(b.manifest).decode() if b.manifest else ""
    return render(
        request,
        "approve.html",
        {"title": f"Approve batch {b.batch_id} of {c.name}", "c": c, "b": b,
         "m": describe(b.manifest) if b.manifest else None, "manifest_b64": manifest_b64,
         "before": earlier_stages(c),
         "approvals": [a for a in approvals_ if a.manifest_digest == b.manifest_digest],
         "may_sign": can(request, Perm.APPROVE.value) and user is not None and user.username != c.created_by,
         "error": error, "fleetctl": f"fleetctl approve {c.campaign_id} {b.batch_id} --key approver.pem"},
        status=status,
    )  # fmt: skip


def parse_signature(key_id: str, text: str) -> tuple[str, bytes]:
    """Accept what `fleetctl approve` prints: the JSON body {"key_id", "signature"}, or the bare base64
    signature with the key id in its own field."""
    text = text.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
            key_id, text = str(doc.get("key_id") or key_id), str(doc["signature"])
        except (ValueError, KeyError, AttributeError) as exc:
            raise ApprovalError("the pasted JSON needs key_id and signature") from exc
    if not key_id.strip():
        raise ApprovalError("key id: required (fleetctl approve prints it)")
    return key_id.strip(), decode_signature(text)


async def approve(request: web.Request) -> web.StreamResponse:
    user = require(request, Perm.APPROVE)
    form = await request.post()
    cid, bid = request.match_info["campaign_id"], request.match_info["batch_id"]
    upload = form.get("signature_file")
    text = str(form.get("signature", ""))
    if upload is not None and hasattr(upload, "file"):
        text = upload.file.read(4096).decode("utf-8", "replace") or text
    try:
        key_id, sig = parse_signature(str(form.get("key_id", "")), text)
        await engine(request).approve(cid, bid, user, key_id, sig)
    except (ApprovalError, CampaignError) as exc:
        return await approve_form(request, error=str(exc), status=getattr(exc, "status", 400))
    raise web.HTTPSeeOther(f"/campaigns/{cid}/batches/{bid}/approve")


async def confirm_removed(request: web.Request) -> web.StreamResponse:
    """Physical removal of a decommissioned camera, confirmed by a person with a note (admins)."""
    user = require(request, Perm.ADMIN)
    camera_id = request.match_info["camera_id"]
    form = await request.post()
    try:
        await engine(request).confirm_removed(camera_id, user.username, str(form.get("note", "")))
    except CampaignError as exc:
        raise _fail(exc) from exc
    raise web.HTTPSeeOther(f"/cameras/{camera_id}")


async def ack_alert(request: web.Request) -> web.StreamResponse:
    user = require(request, Perm.COMMAND)
    try:
        alert_id = int(request.match_info["alert_id"])
    except ValueError as exc:
        raise web.HTTPNotFound(text="no such alert") from exc
    try:
        await engine(request).ack_alert(alert_id, user.username)
    except CampaignError as exc:
        raise _fail(exc) from exc
    raise web.HTTPSeeOther("/")
