"""The OpenAPI 3.1 document of the REST API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from controller import __version__


def _q(name: str, desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": desc,
        "schema": schema or {"type": "string"},
    }


FILTERS = [
    _q("origin", "manufacturer of origin (hikvision, dahua, axis, unknown …)"),
    _q("manufacturer", "reported manufacturer"),
    _q("site", "site name"),
    _q("agent", "agent id"),
    _q("risk", "risk level", {"type": "string", "enum": ["low", "medium", "high", "critical", "unknown"]}),
    _q("lifecycle", "lifecycle state"),
    _q("covered", "maker on the NDAA §889 list", {"type": "string", "enum": ["true", "false"]}),
    _q("cloud_reachable", "vendor cloud reachable", {"type": "string", "enum": ["true", "false"]}),
    _q("q", "free-text search in id, host, model, manufacturer, firmware"),
    _q("ids", "comma-separated camera ids"),
]
PAGE = [
    _q("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 500}),
    _q("offset", "page start", {"type": "integer", "minimum": 0}),
]
ERR = {
    "description": "bad request",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
AUTH = {
    "description": "no or invalid token",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "ok", "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: dict[str, Any], **extra: dict[str, Any]) -> dict[str, Any]:
    """{key: [item, ...]} (plus `extra` properties), the shape of every list the API returns."""
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": item}, **extra},
    }


# Response shapes, so schemathesis (tests/fuzz) checks what the handlers really return, not just "an object".
_STR, _INT, _NUM, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
_COUNTS = {"type": "object", "additionalProperties": _INT}
AGENT = {
    "type": "object",
    "required": ["agent_id", "site", "online", "last_seen", "camera_count"],
    "properties": {"agent_id": _STR, "site": _STR, "version": _STR, "boot_seq": _INT, "online": _BOOL,
                   "last_seen": _NUM, "capabilities": {"type": "array", "items": _STR}, "camera_count": _INT},
}  # fmt: skip
AUDIT_ENTRY = {
    "type": "object",
    "required": ["seq", "at", "actor", "action", "subject", "details", "prev_hash", "hash"],
    "properties": {"seq": _INT, "at": _NUM, "actor": _STR, "action": _STR, "subject": _STR,
                   "details": {"type": "object"}, "prev_hash": _STR, "hash": _STR},
}  # fmt: skip
SUMMARY = {
    "type": "object",
    "required": ["total", "origin", "site", "risk_level", "lifecycle", "manufacturer", "cloud_reachable",
                 "oem_rebrand", "covered"],
    "properties": {"total": _INT, "origin": _COUNTS, "site": _COUNTS, "risk_level": _COUNTS,
                   "lifecycle": _COUNTS, "manufacturer": _COUNTS, "cloud_reachable": _INT, "oem_rebrand": _INT,
                   "covered": _INT},
}  # fmt: skip
CAMPAIGN_ROW: dict[str, Any] = {
    "type": "object",
    "required": ["campaign_id", "name", "state", "created_by", "created_at"],
    "properties": {"campaign_id": _STR, "name": _STR, "state": _STR, "reason": _STR, "created_by": _STR,
                   "created_at": _NUM, "updated_at": _NUM},
}  # fmt: skip
CAMPAIGN_STATUS = {
    "type": "object",
    "required": ["campaign_id", "name", "state", "spec", "batches"],
    "properties": {**CAMPAIGN_ROW["properties"], "spec": {"type": "object"}, "in_window": _BOOL,
                   "batches": {"type": "array", "items": {"type": "object", "required": ["batch_id", "state"]}}},
}  # fmt: skip
ALERT = {
    "type": "object",
    "required": ["alert_id", "at", "kind", "camera_id", "message"],
    "properties": {"alert_id": _INT, "at": _NUM, "kind": _STR, "camera_id": _STR, "matched_camera_id": _STR,
                   "message": _STR, "details": {"type": "object"}, "acknowledged_by": _STR,
                   "acknowledged_at": _NUM},
}  # fmt: skip


def openapi_document() -> dict[str, Any]:
    camera = {
        "type": "object",
        "required": ["camera_id", "agent_id", "site", "host", "port", "manufacturer", "model", "firmware",
                     "origin", "risk", "cloud_reachable", "reachable", "lifecycle", "tags", "observed_at"],
        "properties": {
            "camera_id": {"type": "string"}, "agent_id": {"type": "string"}, "site": {"type": "string"},
            "host": {"type": "string"}, "port": {"type": "integer"}, "manufacturer": {"type": "string"},
            "model": {"type": "string"}, "firmware": {"type": "string"},
            "origin": {"type": "object", "required": ["manufacturer", "covered", "oem_rebrand", "confidence"], "properties": {"manufacturer": {"type": "string"}, "covered": {"type": "boolean"},
                       "oem_rebrand": {"type": "boolean"}, "confidence": {"type": "number"}}},
            "risk": {"type": "object", "required": ["score", "level"], "properties": {"score": {"type": "integer"}, "level": {"type": "string"}}},
            "cloud_reachable": {"type": "boolean"}, "reachable": {"type": "boolean"},
            "lifecycle": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
            "observed_at": {"type": "number"},
        },
    }  # fmt: skip
    command = {
        "type": "object",
        "required": ["command_id", "agent_id", "action", "params", "dry_run", "created_at", "not_after",
                     "created_by", "campaign_id", "batch_id", "state"],
        "properties": {
            "command_id": {"type": "string"}, "agent_id": {"type": "string"}, "action": {"type": "string"},
            "params": {"type": "object"}, "dry_run": {"type": "boolean"}, "state": {"type": "string"},
            "created_at": {"type": "number"}, "not_after": {"type": "number"}, "created_by": {"type": "string"},
            "campaign_id": {"type": "string"}, "batch_id": {"type": "string"},
            "executions": {"type": "array", "items": {"type": "object", "required": ["camera_id", "state"],
                           "properties": {"camera_id": {"type": "string"}, "state": {"type": "string"}}}},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    }  # fmt: skip
    new_command = {
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": {"type": "string", "enum": ["inventory", "disable_cloud", "restrict_network", "reboot", "rollback"]},
            "params": {"type": "object"},
            "where": {"type": "object", "additionalProperties": {"type": "string"}},
            "dry_run": {"type": "boolean"},
            "ttl_s": {"type": "number", "minimum": 10, "maximum": 604800},
        },
    }  # fmt: skip
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "camfleet controller API",
            "version": __version__,
            "description": "Inventory and neutralisation of risky IP cameras. Authenticate with a Bearer token.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Camera": camera,
                "CameraDetail": {
                    "allOf": [_ref("Camera")],
                    "type": "object",
                    "required": ["record", "history"],
                    "properties": {
                        "record": {"type": "object"},
                        "history": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Agent": AGENT,
                "AuditEntry": AUDIT_ENTRY,
                "Summary": SUMMARY,
                "Campaign": CAMPAIGN_ROW,
                "CampaignStatus": CAMPAIGN_STATUS,
                "Alert": ALERT,
                "Command": command,
                "NewCommand": new_command,
            },
        },
        "paths": {
            "/api/v1/agents": {
                "get": {
                    "summary": "agents",
                    "responses": {"200": _ok(_list_of("agents", _ref("Agent"))), "401": AUTH},
                }
            },
            "/api/v1/cameras": {
                "get": {
                    "summary": "cameras, filtered and paginated",
                    "parameters": [*FILTERS, *PAGE, _q("order", "sort column, - for descending")],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "required": ["total", "cameras"],
                                "properties": {
                                    "total": {"type": "integer"},
                                    "limit": {"type": "integer"},
                                    "offset": {"type": "integer"},
                                    "cameras": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Camera"},
                                    },
                                },
                            }
                        ),
                        "400": ERR,
                        "401": AUTH,
                    },
                }
            },
            "/api/v1/cameras/{camera_id}": {
                "get": {
                    "summary": "one camera with its full record and history",
                    "parameters": [
                        {"name": "camera_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _ok(_ref("CameraDetail")),
                        "404": ERR,
                        "401": AUTH,
                    },
                }
            },
            "/api/v1/summary": {
                "get": {
                    "summary": "fleet counts",
                    "parameters": FILTERS,
                    "responses": {"200": _ok(_ref("Summary")), "400": ERR, "401": AUTH},
                }
            },
            "/api/v1/commands": {
                "get": {
                    "summary": "recent commands",
                    "parameters": PAGE,
                    "responses": {"200": _ok(_list_of("commands", _ref("Command"))), "400": ERR, "401": AUTH},
                },
                "post": {
                    "summary": "create a command (one per agent); dry_run shows the diff only",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewCommand"}}
                        },
                    },
                    "responses": {
                        "201": _ok(_list_of("commands", _ref("Command"))),
                        "400": ERR,
                        "401": AUTH,
                        "403": ERR,
                    },
                },
            },
            "/api/v1/commands/{command_id}": {
                "get": {
                    "summary": "a command with its per-camera executions",
                    "parameters": [
                        {"name": "command_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/Command"}),
                        "404": ERR,
                        "401": AUTH,
                    },
                }
            },
            "/api/v1/commands/{command_id}/cancel": {
                "post": {
                    "summary": "cancel executions not yet started",
                    "parameters": [
                        {"name": "command_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _ok(
                            {"type": "object", "required": ["canceled"], "properties": {"canceled": _INT}}
                        ),
                        "400": ERR,
                        "404": ERR,
                        "401": AUTH,
                        "403": ERR,
                    },
                }
            },
            "/api/v1/export": {
                "get": {
                    "summary": "export cameras as JSON or CSV",
                    "parameters": [
                        *FILTERS,
                        _q("format", "json or csv", {"type": "string", "enum": ["json", "csv"]}),
                    ],
                    "responses": {
                        "200": {
                            "description": "the matching cameras, JSON (default) or CSV",
                            "content": {
                                "application/json": {"schema": _list_of("cameras", _ref("Camera"))},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        "400": ERR,
                        "401": AUTH,
                    },
                }
            },
            "/api/v1/audit": {
                "get": {
                    "summary": "audit log entries",
                    "parameters": PAGE,
                    "responses": {
                        "200": _ok(_list_of("entries", _ref("AuditEntry"))),
                        "400": ERR,
                        "401": AUTH,
                    },
                }
            },
            "/api/v1/audit/verify": {
                "get": {
                    "summary": "verify the hash chain",
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "required": ["ok", "entries", "problems"],
                                "properties": {"ok": _BOOL, "entries": _INT, "problems": {"type": "array"}},
                            }
                        ),
                        "401": AUTH,
                    },
                }
            },
        },
    }
    doc["paths"].update(campaign_paths())
    from controller.census_api import paths as census_paths

    doc["paths"].update(census_paths())
    return doc


def _path(name: str) -> dict[str, Any]:
    # Alert ids are integers (campaign_api.ack_alert answers 400 otherwise); the other ids are strings.
    schema: dict[str, Any] = (
        {"type": "integer", "format": "int64"} if name == "alert_id" else {"type": "string"}
    )
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _op(
    summary: str,
    ok: str = "200",
    body: dict[str, Any] | None = None,
    reply: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            ok: _ok(reply or {"type": "object"}),
            "400": ERR,
            "401": AUTH,
            "403": ERR,
            "404": ERR,
            "409": ERR,
        },
    }
    if params.get("path"):
        op["parameters"] = [_path(p) for p in params["path"]]
    if body is not None:
        media: dict[str, Any] = {"schema": body}
        if "example" in params:
            media["example"] = params["example"]
        op["requestBody"] = {"required": True, "content": {"application/json": media}}
    return op


REASON = {"type": "object", "properties": {"reason": {"type": "string"}}}
NEW_CAMPAIGN = {
    "type": "object",
    "required": ["name", "stages"],
    "properties": {
        "name": {"type": "string"},
        "where": {"type": "object", "description": "filters: origin, vendor, site, risk, agent, tags, ids (comma lists)",
                  "additionalProperties": {"type": "string"}},
        "stages": {"type": "array", "description": "subset, in order, of disable_cloud, restrict_network, decommission",
                   "items": {"oneOf": [{"type": "string", "enum": ["disable_cloud", "restrict_network", "decommission"]},
                                       {"type": "object", "required": ["action"], "properties": {
                       "action": {"type": "string", "enum": ["disable_cloud", "restrict_network", "decommission"]},
                       "params": {"type": "object"}}}]}},
        "plan": {"type": "object", "properties": {"canary": {"type": "integer", "minimum": 1},
                 "growth": {"type": "number", "minimum": 1}, "max_batch": {"type": "integer", "minimum": 1}}},
        "gate": {"type": "object", "properties": {
            "success_threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "failure_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "min_executed": {"type": "integer", "minimum": 1},
            "action": {"type": "string", "enum": ["pause", "abort"]}}},
        "ttl_s": {"type": "number", "minimum": 10, "maximum": 604800, "description": "per-execution timeout"},
        "windows": {"type": "array", "description": "UTC weekly maintenance windows; batches start only inside",
                    "items": {"type": "object", "properties": {"days": {"type": "array", "items": {"type": "integer"}},
                              "start": {"type": "string", "example": "22:00"}, "end": {"type": "string"}}}},
        "retry_failed_only": {"type": "boolean"},
        "approvals_required": {"type": "integer", "minimum": 2},
        "approval_ttl_s": {"type": "number"},
        "preview": {"type": "string", "enum": ["canary", "all", "none"],
                    "description": "dry run of the non-destructive stages over the canary batch (default) or all"},
    },
}  # fmt: skip
APPROVAL = {
    "type": "object",
    "required": ["key_id", "signature"],
    "properties": {
        "key_id": {"type": "string"},
        "signature": {
            "type": "string",
            "description": "base64 Ed25519 over the approver-domain manifest bytes",
        },
    },
}


def campaign_paths() -> dict[str, Any]:
    """Paths of controller/campaign_api.py."""
    c, b = ["cid"], ["cid", "bid"]
    base = "/api/v1/campaigns"
    return {
        base: {
            "get": _op("campaigns", reply=_list_of("campaigns", _ref("Campaign"))),
            "post": _op(
                "plan a campaign (batches, first manifest, dry-run preview)",
                "201",
                NEW_CAMPAIGN,
                reply=_ref("CampaignStatus"),
                example={
                    "name": "cloud off, north site",
                    "where": {"origin": "hikvision", "site": "north"},
                    "stages": ["disable_cloud"],
                    "plan": {"canary": 2, "growth": 2, "max_batch": 20},
                },
            ),
        },
        base + "/{cid}": {
            "get": _op(
                "status: batches, stage counts, gates, approvals", reply=_ref("CampaignStatus"), path=c
            )
        },
        base + "/{cid}/plan": {"get": _op("batch sizes and cameras", path=c)},
        base + "/{cid}/preview": {
            "get": _op("dry-run results: settings that would change per camera", path=c)
        },
        base + "/{cid}/start": {"post": _op("start a CREATED campaign", path=c)},
        base + "/{cid}/pause": {"post": _op("pause", body=REASON, path=c)},
        base + "/{cid}/resume": {
            "post": _op("resume; a gated stage retries (failed cameras only by default)", path=c)
        },
        base + "/{cid}/abort": {"post": _op("abort; unsent executions are canceled", body=REASON, path=c)},
        base + "/{cid}/batches/{bid}/rollback": {
            "post": _op("roll a SUCCEEDED or ABORTED batch back from its snapshots", "202", path=b)
        },
        base + "/{cid}/batches/{bid}/manifest": {
            "get": _op("the approval manifest: manifest_b64, digest, describe", path=b)
        },
        base + "/{cid}/batches/{bid}/approvals": {
            "post": _op(
                "add an approver signature (verified against the approver's registered key)",
                "201",
                APPROVAL,
                path=b,
            )
        },
        "/api/v1/cameras/{camera_id}/removed": {
            "post": _op(
                "confirm physical removal (DECOMMISSIONED -> REMOVED) with a note",
                body={"type": "object", "required": ["note"], "properties": {"note": {"type": "string"}}},
                path=["camera_id"],
            )
        },
        "/api/v1/alerts": {
            "get": {
                "summary": "alerts (a retired camera seen again)",
                "parameters": [
                    *PAGE,
                    _q("open", "only unacknowledged", {"type": "string", "enum": ["true", "false"]}),
                ],
                "responses": {"200": _ok(_list_of("alerts", _ref("Alert"))), "400": ERR, "401": AUTH},
            }
        },
        "/api/v1/alerts/{alert_id}/ack": {"post": _op("acknowledge an alert", path=["alert_id"])},
    }
