"""The dashboard: server-rendered pages (aiohttp-jinja2), sessions with CSRF, live updates over SSE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from controller.api import STORE
from controller.config import HttpLimits
from controller.web import campaign_views, fleet_views, live, login_views, ops_views
from controller.web.common import fmt_param, fmt_time
from controller.web.limits import LIMITS, body_deadline
from controller.web.sessions import SECURE_COOKIES, SESSIONS, SessionStore, session_middleware

STATIC = Path(__file__).parent / "static"


def _add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login_views.login_form)
    r.add_post("/login", login_views.login)
    r.add_post("/logout", login_views.logout)
    r.add_get("/", fleet_views.overview)
    r.add_get("/cameras", fleet_views.cameras)
    r.add_get("/cameras/{camera_id}", fleet_views.camera_detail)
    r.add_get("/agents", fleet_views.agents)
    r.add_get("/commands", ops_views.commands)
    r.add_get("/commands/new", ops_views.command_form)
    r.add_post("/commands", ops_views.command_create)
    r.add_get("/commands/{command_id}", ops_views.command_detail)
    r.add_post("/commands/{command_id}/cancel", ops_views.command_cancel)
    r.add_get("/audit", ops_views.audit)
    r.add_get("/export/cameras.csv", ops_views.export_csv)
    r.add_get("/export/cameras.json", ops_views.export_json)
    r.add_get("/report", ops_views.report)
    r.add_get("/campaigns", campaign_views.campaigns)
    r.add_get("/campaigns/new", campaign_views.campaign_form)
    r.add_post("/campaigns/plan", campaign_views.campaign_plan)
    r.add_post("/campaigns", campaign_views.campaign_create)
    r.add_get("/campaigns/{campaign_id}", campaign_views.campaign_board)
    r.add_post(
        "/campaigns/{campaign_id}/{op:start|pause|resume|abort|rollback}", campaign_views.campaign_action
    )
    r.add_get("/approvals", campaign_views.approvals)
    r.add_get("/campaigns/{campaign_id}/batches/{batch_id}/approve", campaign_views.approve_form)
    r.add_post("/campaigns/{campaign_id}/batches/{batch_id}/approve", campaign_views.approve)
    r.add_post("/cameras/{camera_id}/removed", campaign_views.confirm_removed)
    r.add_post("/cameras/{camera_id}/owner", fleet_views.reassign)
    r.add_post("/alerts/{alert_id}/ack", campaign_views.ack_alert)
    r.add_get("/events", live.events)
    r.add_static("/static/", STATIC, name="static", append_version=True)


def mount(
    app: web.Application, *, secure_cookies: bool = True, hub: Any = None, limits: HttpLimits | None = None
) -> None:
    """Add the dashboard to the controller app. The session middleware goes in front of the API's token
    middleware so that a logged-in browser can call the JSON API too (with the CSRF header on POSTs)."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("controller.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["time"] = fmt_time
    env.filters["param"] = fmt_param
    env.filters["pct"] = lambda part, whole: f"{100 * part / whole:.0f}%" if whole else "—"
    app[SESSIONS] = SessionStore(app[STORE])
    app[login_views.THROTTLE] = login_views.LoginThrottle()
    app[SECURE_COOKIES] = secure_cookies
    app[LIMITS] = limits or HttpLimits()
    feed = live.LiveFeed(app[LIMITS])
    app[live.FEED] = feed
    if hub is not None:
        hub.listeners.append(feed)
    names = [getattr(m, "__name__", "") for m in app.middlewares]
    at = names.index("token_auth") if "token_auth" in names else len(names)
    app.middlewares.insert(at, session_middleware)
    app.middlewares.insert(0, body_deadline)

    async def close_streams(app: web.Application) -> None:
        feed.closing.set()

    app.on_shutdown.append(close_streams)
    _add_routes(app)
