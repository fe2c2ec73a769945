"""The API's answers as models, for the generated OpenAPI document (schemathesis checks the handlers keep to it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from controller.store.audit import AuditEntry
from controller.store.base import AgentRow, AlertRow


class Answer(BaseModel):
    """Answers may grow fields; a client ignores what it does not know."""


class FieldError(Answer):
    field: str
    message: str


class Error(Answer):
    error: str
    fields: list[FieldError] = Field(default_factory=list, description="one entry per bad input field")


class Origin(Answer):
    manufacturer: str
    covered: bool
    oem_rebrand: bool
    confidence: float


class Risk(Answer):
    score: int
    level: str


class CameraIdentity(Answer):
    serial: str = Field(description="normalised serial number (ONVIF's, else the vendor API's); \"\" if none")
    macs: list[str] = Field(description="hardware addresses, AA:BB:CC:DD:EE:FF")
    identified_by: str = Field(
        description="serial+mac, serial, mac, or address: a camera with neither is known only by its address"
    )


class Camera(Answer):
    camera_id: str = Field(description="the controller's id: stable while the camera changes address")
    agent_id: str
    site: str
    host: str
    port: int
    agent_ref: str = Field(
        description='what the camera\'s agent calls it now (host:port); "" when another device took its address'
    )
    identity: CameraIdentity
    manufacturer: str
    model: str
    firmware: str
    origin: Origin
    risk: Risk
    cloud_reachable: bool
    reachable: bool
    lifecycle: str
    tags: list[str]
    observed_at: float


class CameraDetail(Camera):
    record: dict[str, Any]
    history: list[dict[str, Any]]


class CameraPage(Answer):
    total: int
    limit: int
    offset: int
    cameras: list[Camera]


class Cameras(Answer):
    cameras: list[Camera]


class Agents(Answer):
    agents: list[AgentRow]


class Summary(Answer):
    total: int
    origin: dict[str, int]
    site: dict[str, int]
    risk_level: dict[str, int]
    lifecycle: dict[str, int]
    manufacturer: dict[str, int]
    cloud_reachable: int
    oem_rebrand: int
    covered: int


class Execution(Answer):
    camera_id: str
    state: str


class Command(Answer):
    command_id: str
    agent_id: str
    action: str
    params: dict[str, Any]
    dry_run: bool
    created_at: float
    not_after: float
    created_by: str
    campaign_id: str
    batch_id: str
    state: str
    executions: list[Execution] = Field(default_factory=list, description="one command's answer only")
    counts: dict[str, int] = Field(default_factory=dict)


class Commands(Answer):
    commands: list[Command]


class Canceled(Answer):
    canceled: int


class AuditEntries(Answer):
    entries: list[AuditEntry]


class AuditReport(Answer):
    ok: bool
    entries: int
    problems: list[Any]


class Campaign(Answer):
    campaign_id: str
    name: str
    state: str
    reason: str
    created_by: str
    created_at: float
    updated_at: float


class Campaigns(Answer):
    campaigns: list[Campaign]


class BatchStatus(Answer):
    batch_id: str
    state: str


class CampaignStatus(Campaign):
    spec: dict[str, Any]
    in_window: bool
    batches: list[BatchStatus]


class CampaignPlan(Answer):
    campaign_id: str
    plan: dict[str, Any]
    stages: list[dict[str, Any]]
    batches: list[dict[str, Any]]


class CampaignPreview(Answer):
    campaign_id: str
    scope: str
    pending: int
    cameras: dict[str, Any]


class ManifestDescription(Answer):
    campaign_id: str
    batch_id: str
    action: str
    params: dict[str, Any] = Field(description="every parameter that changes what happens to a camera")
    camera_ids: list[str]
    not_after: str
    digest: str


class Manifest(Answer):
    campaign_id: str
    batch_id: str
    state: str
    manifest_b64: str
    digest: str
    not_after: float
    describe: ManifestDescription


class ApprovalState(Answer):
    approvals: int
    required: int
    state: str


class Removed(Answer):
    camera_id: str
    lifecycle: str


class Owner(Answer):
    camera_id: str
    agent_id: str
    previous_agent_id: str


class Alerts(Answer):
    alerts: list[AlertRow]


class Acknowledged(Answer):
    alert_id: int
    acknowledged_by: str


class Quarantined(Answer):
    id: int
    at: float
    topic: str
    agent_id: str
    kind: str
    reason: str
    size: int


class QuarantineList(Answer):
    messages: list[Quarantined]


class FleetAnswer(Answer):
    """Every camera once: inventoried, found by census, or only behind a recorder; recorders apart."""


class CensusDevices(Answer):
    total: int
    devices: list[dict[str, Any]]


class Recorders(Answer):
    recorders: list[dict[str, Any]]
