"""The fleet store's row types, filters and the per-row rules shared by its repositories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.states import EXEC_FINAL as FINAL_STATES
from controller.states import EXEC_ORDER as EXECUTION_ORDER
from controller.states import LIFECYCLE

__all__ = ["EXECUTION_ORDER", "FINAL_STATES", "LIFECYCLE"]  # re-exported: the names callers know
# A batch of audit entries for Store.append_audit_many: (actor, action, subject, details), in chain order.
AuditInput = tuple[str, str, str, dict[str, Any]]


def update_accepted(old_state: str, old_seq: int, upd: ExecutionRow, old_agent: str = "") -> bool:
    """The per-row rule of Store.apply_update/apply_updates: only the agent the command went to may report on
    it (the hub fills agent_id from the broker-enforced topic), a final state is written once, a seq must grow,
    and a state never goes back (a late IN_PROGRESS after SUCCEEDED changes nothing)."""
    if upd.agent_id and old_agent and upd.agent_id != old_agent:
        return False
    if old_state in FINAL_STATES:
        return False
    if upd.seq and upd.seq <= old_seq:
        return False
    return EXECUTION_ORDER.get(upd.state, -1) >= EXECUTION_ORDER.get(old_state, 0)


def like_pattern(text: str) -> str:
    """`text` anywhere, literally: LIKE's wildcards in it are escaped (with `ESCAPE '\\'`), so `q=%` finds a
    percent sign instead of every camera."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass
class AgentRow:
    agent_id: str
    site: str = ""
    version: str = ""
    boot_seq: int = 0
    online: bool = False
    last_seen: float = 0.0
    capabilities: list[str] = field(default_factory=list)
    camera_count: int = 0


@dataclass
class CameraRow:
    """Indexed columns for filtering plus the latest CameraRecord (protobuf bytes)."""

    camera_id: str
    agent_id: str
    site: str
    host: str
    port: int
    manufacturer: str
    model: str
    firmware: str
    origin: str
    covered: bool
    oem_rebrand: bool
    confidence: float
    risk_score: int
    risk_level: str
    cloud_reachable: bool
    fingerprint: str
    reachable: bool
    observed_at: float
    record: bytes
    lifecycle: str = "INVENTORIED"
    tags: list[str] = field(default_factory=list)
    updated_at: float = 0.0
    # Identity (revisions 0008 and 0011, controller/identity.py). camera_id is the controller's stable id; agent_ref is
    # what the camera's agent calls it now (host:port, "" when another device took that address). An ingested row
    # names the camera by agent_ref in camera_id; the store resolves it.
    agent_ref: str = ""
    serial: str = ""
    macs: list[str] = field(default_factory=list)
    device_class: str = ""  # camera | recorder ("" from agents that do not say)
    identified_by: str = "address"  # serial+mac | serial | mac | address (not identifiable: flagged)


@dataclass
class CameraFilter:
    origin: str | None = None
    manufacturer: str | None = None
    site: str | None = None
    agent_id: str | None = None
    risk_level: str | None = None
    lifecycle: str | None = None
    covered: bool | None = None
    cloud_reachable: bool | None = None
    search: str | None = None
    camera_ids: Sequence[str] | None = None


@dataclass
class CommandRow:
    command_id: str
    agent_id: str
    action: str
    params: dict[str, Any]
    dry_run: bool
    created_at: float
    not_after: float
    created_by: str
    campaign_id: str = ""
    batch_id: str = ""
    state: str = "QUEUED"
    envelope: bytes = b""


@dataclass
class ExecutionRow:
    command_id: str
    camera_id: str
    agent_id: str
    state: str = "QUEUED"
    settings: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)
    snapshot_id: str = ""
    error_class: str = ""
    message: str = ""
    seq: int = 0
    updated_at: float = 0.0
    goal: str = ""  # the agent's verdict on the action's goal: reached, partly_reached, not_reachable
    # The camera as the signed command named it (its agent's reference then); results name it so.
    target: str = ""


@dataclass
class UserRow:
    username: str
    password_hash: str
    role: str
    approver_key: str = ""
    created: float = 0.0


# ---- campaigns (controller/campaigns) -------------------------------------------------------------------
@dataclass
class CampaignRow:
    campaign_id: str
    name: str
    spec: dict[str, Any]
    state: str
    created_by: str
    created_at: float
    updated_at: float
    reason: str = ""


@dataclass
class BatchRow:
    campaign_id: str
    batch_id: str
    idx: int
    state: str
    stage_idx: int = 0
    attempt: int = 0
    rollback_idx: int = -1
    manifest: bytes = b""
    manifest_digest: str = ""
    manifest_not_after: float = 0.0
    reason: str = ""
    updated_at: float = 0.0


@dataclass
class MemberRow:
    campaign_id: str
    batch_id: str
    camera_id: str
    agent_id: str
    lifecycle_before: str
    status: str = "active"  # active | failed | rolled_back
    stages_done: int = 0


@dataclass
class StepRow:
    """One command sent for a campaign; step_key (batch+kind+stage+attempt+agent) is written before publishing."""

    step_key: str
    campaign_id: str
    batch_id: str
    kind: str  # run | rollback | preview
    stage_idx: int
    attempt: int
    agent_id: str
    command_id: str
    camera_ids: list[str]
    created_at: float
    undoes: str = ""  # rollback steps: the command whose snapshots they restore


@dataclass
class ApprovalRow:
    campaign_id: str
    batch_id: str
    username: str
    key_id: str
    signature: bytes
    manifest_digest: str
    at: float


@dataclass
class RetiredRow:
    """Identity of a camera that reached DECOMMISSIONED or REMOVED, to recognise it if it comes back."""

    camera_id: str
    lifecycle: str
    fingerprint: str
    serial: str
    macs: list[str]
    retired_at: float
    seen_gone: bool = False
    alerted_at: float = 0.0  # observed_at of the last alert raised for it (one alert per sighting)


@dataclass
class QuarantineRow:
    """A message from an agent that could not be applied, kept with the reason (not acknowledged before)."""

    id: int
    at: float
    topic: str
    agent_id: str
    kind: str
    reason: str
    payload: bytes = b""


@dataclass
class AlertRow:
    alert_id: int
    at: float
    kind: str
    camera_id: str
    matched_camera_id: str
    message: str
    details: dict[str, Any]
    acknowledged_by: str = ""
    acknowledged_at: float = 0.0


BREAKDOWN_COLUMNS = frozenset(
    {"origin", "site", "risk_level", "lifecycle", "manufacturer", "agent_id", "model", "covered",
     "cloud_reachable", "oem_rebrand"}
)  # fmt: skip


def marginal(rows: Sequence[tuple[tuple[str, ...], int]], index: int) -> dict[str, int]:
    """One column's counts out of a multi-column breakdown."""
    out: dict[str, int] = {}
    for values, n in rows:
        out[values[index]] = out.get(values[index], 0) + n
    return out
