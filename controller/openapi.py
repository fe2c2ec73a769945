"""The OpenAPI 3.1 document of the REST API, generated from the request and answer models (/api/openapi.json)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter

from controller import __version__
from controller import models as m
from controller import responses as r


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    ok: type[BaseModel] | None
    status: int = 200
    query: type[BaseModel] = m.NoQuery
    body: Any = None  # a model class or a TypeAdapter (the discriminated command union)
    errors: tuple[int, ...] = (400, 401, 403, 404)
    csv: bool = False
    body_required: bool = True
    tags: tuple[str, ...] = field(default=())


C, CB = "/api/v1/campaigns/{cid}", "/api/v1/campaigns/{cid}/batches/{bid}"
OPERATIONS: tuple[Op, ...] = (
    Op("get", "/api/v1/agents", "agents", r.Agents, errors=(400, 401)),
    Op("get", "/api/v1/cameras", "cameras, filtered and paginated", r.CameraPage, query=m.CamerasQuery,
       errors=(400, 401)),
    Op("get", "/api/v1/cameras/{camera_id}", "one camera with its full record and history", r.CameraDetail,
       errors=(400, 401, 404)),
    Op("post", "/api/v1/cameras/{camera_id}/owner",
       "reassign a camera to another agent (a camera that really moved; admins, audited)", r.Owner,
       body=m.Reassign, errors=(400, 401, 403, 404)),
    Op("post", "/api/v1/cameras/{camera_id}/removed",
       "confirm physical removal (DECOMMISSIONED -> REMOVED) with a note (admins)", r.Removed,
       body=m.RemovedCreate, errors=(400, 401, 403, 404, 409)),
    Op("get", "/api/v1/summary", "fleet counts", r.Summary, query=m.SummaryQuery, errors=(400, 401)),
    Op("get", "/api/v1/commands", "recent commands", r.Commands, query=m.CommandsQuery, errors=(400, 401)),
    Op("post", "/api/v1/commands",
       "create a command (one per agent) over an explicit selection; dry_run shows the diff only", r.Commands,
       status=201, body=m.COMMAND_CREATE, errors=(400, 401, 403, 409)),
    Op("get", "/api/v1/commands/{command_id}", "a command with its per-camera executions", r.Command,
       errors=(400, 401, 404)),
    Op("post", "/api/v1/commands/{command_id}/cancel", "cancel executions not yet started", r.Canceled,
       errors=(400, 401, 403, 404)),
    Op("get", "/api/v1/export", "export cameras as JSON or CSV (spreadsheet formulas neutralised)", r.Cameras,
       query=m.ExportQuery, errors=(400, 401), csv=True),
    Op("get", "/api/v1/audit", "audit log entries", r.AuditEntries, query=m.AuditQuery, errors=(400, 401)),
    Op("get", "/api/v1/audit/verify", "verify the hash chain", r.AuditReport, errors=(400, 401)),
    Op("get", "/api/v1/quarantine", "messages from agents that could not be applied, with the reason",
       r.QuarantineList, query=m.CommandsQuery, errors=(400, 401)),
    Op("get", "/api/v1/campaigns", "campaigns", r.Campaigns, query=m.CampaignsQuery, errors=(400, 401)),
    Op("post", "/api/v1/campaigns", "plan a campaign (batches, first manifest, dry-run preview)",
       r.CampaignStatus, status=201, body=m.CampaignCreate, errors=(400, 401, 403, 409)),
    Op("get", C, "status: batches, stage counts, gates, approvals", r.CampaignStatus),
    Op("get", C + "/plan", "batch sizes and cameras", r.CampaignPlan),
    Op("get", C + "/preview", "dry-run results: settings that would change per camera", r.CampaignPreview),
    Op("post", C + "/start", "start a CREATED campaign", r.CampaignStatus, body=m.Reason, body_required=False,
       errors=(400, 401, 403, 404, 409)),
    Op("post", C + "/pause", "pause", r.CampaignStatus, body=m.Reason, body_required=False,
       errors=(400, 401, 403, 404, 409)),
    Op("post", C + "/resume", "resume; a gated stage retries (failed cameras only by default)",
       r.CampaignStatus, body=m.Reason, body_required=False, errors=(400, 401, 403, 404, 409)),
    Op("post", C + "/abort", "abort; unsent executions are canceled", r.CampaignStatus, body=m.Reason,
       body_required=False, errors=(400, 401, 403, 404, 409)),
    Op("post", CB + "/rollback", "roll a SUCCEEDED or ABORTED batch back from its snapshots", r.CampaignStatus,
       status=202, body=m.Reason, body_required=False, errors=(400, 401, 403, 404, 409)),
    Op("get", CB + "/manifest", "the approval manifest: manifest_b64, digest and every parameter", r.Manifest),
    Op("post", CB + "/approvals",
       "add an approver signature (checked against the approver's registered key and the controller's "
       "pinned approver keyring)", r.ApprovalState, status=201, body=m.ApprovalCreate,
       errors=(400, 401, 403, 404, 409)),
    Op("get", "/api/v1/fleet", "every camera once: inventoried, found by census, or only behind a recorder",
       r.FleetAnswer, errors=(400, 401)),
    Op("get", "/api/v1/census", "devices the agents' census found without credentials", r.CensusDevices,
       query=m.CensusQuery, errors=(400, 401)),
    Op("get", "/api/v1/recorders", "recorders and the camera on each channel", r.Recorders, errors=(400, 401)),
    Op("get", "/api/v1/alerts", "alerts (a retired camera seen again, a report about another agent's camera)",
       r.Alerts, query=m.AlertsQuery, errors=(400, 401)),
    Op("post", "/api/v1/alerts/{alert_id}/ack", "acknowledge an alert", r.Acknowledged, body=m.Reason,
       body_required=False, errors=(400, 401, 403, 404)),
)  # fmt: skip
REF = "#/components/schemas/{model}"


def _adapter(x: Any) -> TypeAdapter[Any]:
    return x if isinstance(x, TypeAdapter) else TypeAdapter(x)


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None` in a query string is simply an absent parameter."""
    options = schema.get("anyOf")
    if options:
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            out: dict[str, Any] = {k: v for k, v in schema.items() if k != "anyOf"} | rest[0]
            return out
    return schema


def _parameters(op: Op) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in (p.strip("{}") for p in op.path.split("/") if p.startswith("{")):
        kind = {"type": "integer", "format": "int64"} if name == "alert_id" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": kind})
    schema: dict[str, Any] = op.query.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    props: dict[str, dict[str, Any]] = dict(schema.get("properties", {}))
    for name, prop in props.items():
        prop = _non_null({k: v for k, v in prop.items() if k not in ("title", "default")})
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop.pop("description")
        if prop.get("type") == "array":
            param |= {"style": "form", "explode": False}  # ids=a,b,c
        params.append(param)
    return params


def _media(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


@functools.cache
def openapi_document() -> dict[str, Any]:
    keyed: list[tuple[Any, Any, TypeAdapter[Any]]] = [("Error", "serialization", TypeAdapter(r.Error))]
    for i, op in enumerate(OPERATIONS):
        if op.ok is not None:
            keyed.append((("ok", i), "serialization", TypeAdapter(op.ok)))
        if op.body is not None:
            keyed.append((("body", i), "validation", _adapter(op.body)))
    schemas, defs = TypeAdapter.json_schemas(keyed, ref_template=REF)
    error = {
        "description": "the reason (and, for bad input, each field)",
        "content": _media(schemas[("Error", "serialization")]),
    }
    paths: dict[str, dict[str, Any]] = {}
    for i, op in enumerate(OPERATIONS):
        ok: dict[str, Any] = {"description": "ok"}
        if op.ok is not None:
            ok["content"] = _media(schemas[(("ok", i), "serialization")])
            if op.csv:
                ok["content"]["text/csv"] = {"schema": {"type": "string"}}
        doc: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method}_{op.path.removeprefix('/api/v1/').replace('/', '_').replace('{', '').replace('}', '')}",
            "parameters": _parameters(op),
            "responses": {str(op.status): ok, **{str(code): error for code in op.errors}},
        }
        if op.body is not None:
            doc["requestBody"] = {"required": op.body_required,
                                  "content": _media(schemas[(("body", i), "validation")])}  # fmt: skip
        paths.setdefault(op.path, {})[op.method] = doc
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "camfleet controller API",
            "version": __version__,
            "description": "Inventory and neutralisation of risky IP cameras. Authenticate with a Bearer token. "
            "Every input is validated strictly: an unknown key, a wrong type or an empty filter is a 400 that "
            'names the field, and selecting every camera needs "all": true.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": defs.get("$defs", {}),
        },
        "paths": paths,
    }
