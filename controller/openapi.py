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


def openapi_document() -> dict[str, Any]:
    camera = {
        "type": "object",
        "required": ["camera_id", "agent_id", "host", "origin", "risk", "lifecycle"],
        "properties": {
            "camera_id": {"type": "string"}, "agent_id": {"type": "string"}, "site": {"type": "string"},
            "host": {"type": "string"}, "port": {"type": "integer"}, "manufacturer": {"type": "string"},
            "model": {"type": "string"}, "firmware": {"type": "string"},
            "origin": {"type": "object", "properties": {"manufacturer": {"type": "string"}, "covered": {"type": "boolean"},
                       "oem_rebrand": {"type": "boolean"}, "confidence": {"type": "number"}}},
            "risk": {"type": "object", "properties": {"score": {"type": "integer"}, "level": {"type": "string"}}},
            "cloud_reachable": {"type": "boolean"}, "reachable": {"type": "boolean"},
            "lifecycle": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
            "observed_at": {"type": "number"},
        },
    }  # fmt: skip
    command = {
        "type": "object",
        "required": ["command_id", "agent_id", "action", "state"],
        "properties": {
            "command_id": {"type": "string"}, "agent_id": {"type": "string"}, "action": {"type": "string"},
            "params": {"type": "object"}, "dry_run": {"type": "boolean"}, "state": {"type": "string"},
            "created_at": {"type": "number"}, "not_after": {"type": "number"}, "created_by": {"type": "string"},
            "campaign_id": {"type": "string"}, "batch_id": {"type": "string"},
            "executions": {"type": "array", "items": {"type": "object"}}, "counts": {"type": "object"},
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
    return {
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
                "Command": command,
                "NewCommand": new_command,
            },
        },
        "paths": {
            "/api/v1/agents": {
                "get": {"summary": "agents", "responses": {"200": _ok({"type": "object"}), "401": AUTH}}
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
                        "200": _ok({"$ref": "#/components/schemas/Camera"}),
                        "404": ERR,
                        "401": AUTH,
                    },
                }
            },
            "/api/v1/summary": {
                "get": {
                    "summary": "fleet counts",
                    "parameters": FILTERS,
                    "responses": {"200": _ok({"type": "object"}), "400": ERR, "401": AUTH},
                }
            },
            "/api/v1/commands": {
                "get": {
                    "summary": "recent commands",
                    "parameters": PAGE,
                    "responses": {"200": _ok({"type": "object"}), "400": ERR, "401": AUTH},
                },
                "post": {
                    "summary": "create a command (one per agent); dry_run shows the diff only",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewCommand"}}
                        },
                    },
                    "responses": {"201": _ok({"type": "object"}), "400": ERR, "401": AUTH, "403": ERR},
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
                    "responses": {"200": _ok({"type": "object"}), "400": ERR, "401": AUTH, "403": ERR},
                }
            },
            "/api/v1/export": {
                "get": {
                    "summary": "export cameras as JSON or CSV",
                    "parameters": [
                        *FILTERS,
                        _q("format", "json or csv", {"type": "string", "enum": ["json", "csv"]}),
                    ],
                    "responses": {"200": {"description": "export"}, "400": ERR, "401": AUTH},
                }
            },
            "/api/v1/audit": {
                "get": {
                    "summary": "audit log entries",
                    "parameters": PAGE,
                    "responses": {"200": _ok({"type": "object"}), "400": ERR, "401": AUTH},
                }
            },
            "/api/v1/audit/verify": {
                "get": {
                    "summary": "verify the hash chain",
                    "responses": {"200": _ok({"type": "object"}), "401": AUTH},
                }
            },
        },
    }
