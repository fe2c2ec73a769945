"""Read-only fleet pages: overview with charts, cameras table, camera detail, agents."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from google.protobuf.json_format import MessageToDict

from controller.api import STORE
from controller.auth import Perm
from controller.census_api import fleet_answer, recorders_json
from controller.commands import NotFound, reassign_camera
from controller.models import Reassign, parse_obj
from controller.store import Store
from controller.store.base import LIFECYCLE, CameraFilter, marginal
from controller.web.charts import RISK_ORDER, bar_chart
from controller.web.common import filters_of, page_args, render, require
from protos.camfleet.v1 import camfleet_pb2 as pb

FILTER_KEYS = ("origin", "vendor", "site", "agent", "risk", "state", "cloud_reachable", "covered", "q", "ids")
SORTS = {
    "camera_id": "Camera id",
    "site": "Site",
    "origin": "Origin",
    "manufacturer": "Brand",
    "-risk_score": "Risk (highest first)",
    "host": "Address",
}
FEATURE_STATES = {v: k.removeprefix("FEATURE_STATE_").lower() for k, v in pb.FeatureState.items()}
ERROR_CLASSES = {v: k.removeprefix("ERROR_CLASS_").lower() for k, v in pb.ErrorClass.items()}


async def fleet_summary(store: Store, flt: CameraFilter | None = None) -> dict[str, Any]:
    """Every count of the overview (also the body of the printable report), from one grouped scan."""
    cols = (
        "origin",
        "manufacturer",
        "oem_rebrand",
        "covered",
        "cloud_reachable",
        "site",
        "risk_level",
        "lifecycle",
    )
    rows = await store.breakdown(cols, flt or CameraFilter())
    origin = marginal(rows, 0)
    # Per origin, the brands on the label: a Hikvision sold as "LTS" shows as hikvision, rebranded LTS.
    brands = {o: marginal([r for r in rows if r[0][0] == o], 1) for o in origin}
    rebrand = {o: marginal([r for r in rows if r[0][0] == o], 2).get("1", 0) for o in origin}
    return {
        "total": sum(origin.values()),
        "origin": origin,
        "brands": brands,
        "rebrand": rebrand,
        "oem_rebrand": marginal(rows, 2).get("1", 0),
        "covered": marginal(rows, 3).get("1", 0),
        "cloud_reachable": marginal(rows, 4).get("1", 0),
        "site": marginal(rows, 5),
        "risk": marginal(rows, 6),
        "lifecycle": marginal(rows, 7),
    }


def _with(flt: CameraFilter, **changes: Any) -> CameraFilter:
    d = dict(flt.__dict__)
    d.update(changes)
    return CameraFilter(**d)


async def overview(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    store = request.app[STORE]
    s = await fleet_summary(store)
    lifecycle = {k: s["lifecycle"].get(k, 0) for k in LIFECYCLE} | s["lifecycle"]
    charts = [
        bar_chart("Cameras by manufacturer of origin", s["origin"], param="origin"),
        bar_chart("Cameras by site", s["site"], param="site"),
        bar_chart("Cameras by risk", s["risk"], param="risk", order=RISK_ORDER, css_prefix="risk-"),
        bar_chart("Cameras by lifecycle state", lifecycle, param="state", order=LIFECYCLE),
    ]
    agents = await store.list_agents()
    channels = await store.recorder_channels()
    return render(
        request,
        "overview.html",
        {"s": s, "charts": charts, "agents": agents, "alerts": await store.alerts(open_only=True, limit=50),
         "title": "Fleet", "live": True, "fleet": await fleet_answer(store),
         "recorders": recorders_json(channels)},
    )  # fmt: skip


def _query_without(query: Any, *drop: str, **set_: Any) -> str:
    q = {k: v for k, v in query.items() if k not in drop and v}
    q.update({k: str(v) for k, v in set_.items()})
    return urlencode(q)


async def cameras(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    store = request.app[STORE]
    q = request.query
    error = ""
    try:
        flt = filters_of(q, FILTER_KEYS).camera_filter()
    except ValueError as exc:
        error, flt = str(exc), CameraFilter()
    order = q.get("sort", "camera_id")
    if order not in SORTS:
        order = "camera_id"
    page, per = page_args(q)
    rows, total = await store.query_cameras(flt, limit=per, offset=(page - 1) * per, order=order)
    pages = max(1, math.ceil(total / per))
    seen = await store.breakdown(("origin", "manufacturer", "site", "risk_level"))
    options = {
        "origin": sorted(marginal(seen, 0)),
        "vendor": sorted(marginal(seen, 1)),
        "site": sorted(marginal(seen, 2)),
        "risk": [r for r in RISK_ORDER if r in marginal(seen, 3)],
        "state": list(LIFECYCLE),
    }
    return render(
        request,
        "cameras.html",
        {
            "title": "Cameras",
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "per": per,
            "q": {k: q.get(k, "") for k in (*FILTER_KEYS, "sort", "per")},
            "options": options,
            "sorts": SORTS,
            "error": error,
            "prev_qs": _query_without(q, "page", page=page - 1) if page > 1 else "",
            "next_qs": _query_without(q, "page", page=page + 1) if page < pages else "",
            "export_qs": _query_without(q, "page", "per", "sort"),
        },
    )


async def camera_audit(store: Store, camera_id: str, limit: int = 50) -> list[Any]:
    """Audit entries about one camera (subject is the camera or "command/camera"). The store has no index on
    subject, so this reads the log in pages; fine for the embedded deployment, a candidate for an index."""
    out: list[Any] = []
    offset, page = 0, 5000
    while True:
        entries = await store.audit_entries(page, offset)
        out += [e for e in entries if e.subject == camera_id or e.subject.endswith("/" + camera_id)]
        if len(entries) < page:
            break
        offset += page
    return out[-limit:][::-1]


async def camera_detail(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    store = request.app[STORE]
    row = await store.get_camera(request.match_info["camera_id"])
    if row is None:
        raise web.HTTPNotFound(text="no such camera")
    rec = pb.CameraRecord.FromString(row.record)
    return render(
        request,
        "camera.html",
        {
            "title": f"Camera {row.camera_id}",
            "c": row,
            "rec": rec,
            "network": MessageToDict(rec.network, preserving_proto_field_name=True),
            "feature_states": FEATURE_STATES,
            "error_classes": ERROR_CLASSES,
            "history": await store.camera_history(row.camera_id, limit=50),
            "feeds": [
                f
                for f in await store.channels_touching([row.camera_id], [rec.identity.serial.upper()])
                if f.recorder_id != row.camera_id
            ],
            "agent_ids": [a.agent_id for a in await store.list_agents() if a.agent_id != row.agent_id],
            "audit": await camera_audit(store, row.camera_id),
        },
    )


async def agents(request: web.Request) -> web.Response:
    require(request, Perm.READ)
    store = request.app[STORE]
    return render(
        request,
        "agents.html",
        {"title": "Agents", "agents": await store.list_agents(), "live": True,
         "quarantine": await store.quarantine_list(50), "quarantined": await store.quarantine_count()},
    )  # fmt: skip


async def reassign(request: web.Request) -> web.StreamResponse:
    """The camera page's form: an admin moves a camera to the agent of its new site (audited)."""
    user = require(request, Perm.ADMIN)
    camera_id = request.match_info["camera_id"]
    form = await request.post()
    try:
        b = parse_obj(
            Reassign, {"agent_id": str(form.get("agent_id", "")), "note": str(form.get("note", ""))}
        )
        await reassign_camera(request.app[STORE], camera_id, b.agent_id, b.note, user.username)
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    raise web.HTTPSeeOther(f"/cameras/{quote(camera_id, safe='')}")
