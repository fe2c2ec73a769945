"""The fleet store's tables as SQLAlchemy Core metadata (queries only: the DDL lives in the Alembic migrations).

Booleans are integers 0/1 and times unix seconds (float) so both engines index and compare them the same way;
JSON columns are TEXT. Row mapping (ints to bools, JSON text to values) is the repositories' job.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Integer, LargeBinary, MetaData, Table, Text

metadata = MetaData()


def _text(name: str, **kw: object) -> Column[str]:
    return Column(name, Text, nullable=False, **kw)  # type: ignore[arg-type]


def _int(name: str, **kw: object) -> Column[int]:
    return Column(name, Integer, nullable=False, **kw)  # type: ignore[arg-type]


def _big(name: str, **kw: object) -> Column[int]:
    return Column(name, BigInteger, nullable=False, **kw)  # type: ignore[arg-type]


def _float(name: str, **kw: object) -> Column[float]:
    return Column(name, Double, nullable=False, **kw)  # type: ignore[arg-type]


def _blob(name: str) -> Column[bytes]:
    return Column(name, LargeBinary, nullable=False)


agents = Table(
    "agents", metadata,
    _text("agent_id", primary_key=True), _text("site"), _text("version"), _big("boot_seq"), _int("online"),
    _float("last_seen"), _text("capabilities"), _int("camera_count"), _big("inventory_seq"),
    _big("event_seq", server_default="0"),  # revision 0010: the last event applied
)  # fmt: skip

cameras = Table(
    "cameras", metadata,
    _text("camera_id", primary_key=True), _text("agent_id"), _text("site"), _text("host"), _int("port"),
    _text("manufacturer"), _text("model"), _text("firmware"), _text("origin"), _int("covered"),
    _int("oem_rebrand"), _float("confidence"), _int("risk_score"), _text("risk_level"), _int("cloud_reachable"),
    _text("fingerprint"), _int("reachable"), _float("observed_at"), _blob("record"), _text("lifecycle"),
    _text("tags"), _float("updated_at"), _int("vanished"),
    _text("serial", server_default=""), _text("macs", server_default="[]"), _text("device_class", server_default=""),
    # revision 0011: the agent's current reference (host:port), and what identifies the camera
    _text("agent_ref", server_default=""), _text("identified_by", server_default="address"),
)  # fmt: skip

# Every MAC of every camera (revision 0011), so an identity is found by any of its MACs through an index.
camera_macs = Table(
    "camera_macs", metadata, _text("camera_id", primary_key=True), _text("mac", primary_key=True)
)

camera_history = Table(
    "camera_history", metadata,
    _big("id", primary_key=True, autoincrement=True), _text("camera_id"), _float("at"), _text("change"),
)  # fmt: skip

commands = Table(
    "commands", metadata,
    _text("command_id", primary_key=True), _text("agent_id"), _text("action"), _text("params"), _int("dry_run"),
    _float("created_at"), _float("not_after"), _text("created_by"), _text("campaign_id"), _text("batch_id"),
    _text("state"), _blob("envelope"),
)  # fmt: skip

executions = Table(
    "executions", metadata,
    _text("command_id", primary_key=True), _text("camera_id", primary_key=True), _text("agent_id"),
    _text("state"), _text("settings"), _text("snapshot"), _text("snapshot_id"), _text("error_class"),
    _text("message"), _big("seq"), _float("updated_at"), _text("goal", server_default=""),
    _text("target", server_default=""),  # revision 0011: the camera as the signed command named it (agent_ref)
)  # fmt: skip

audit = Table(
    "audit", metadata,
    _big("seq", primary_key=True, autoincrement=False), _float("at"), _text("actor"), _text("action"),
    _text("subject"), _text("details"), _text("prev_hash"), _text("hash"),
)  # fmt: skip

audit_head = Table(
    "audit_head", metadata, _int("id", primary_key=True, autoincrement=False), _big("seq"), _text("hash")
)

users = Table(
    "users", metadata,
    _text("username", primary_key=True), _text("password_hash"), _text("role"), _text("approver_key"),
    _float("created"),
)  # fmt: skip

api_tokens = Table(
    "api_tokens", metadata,
    _text("token_hash", primary_key=True), _text("username"), _text("name"), _float("created"), _int("revoked"),
)  # fmt: skip

campaigns = Table(
    "campaigns", metadata,
    _text("campaign_id", primary_key=True), _text("name"), _text("spec"), _text("state"), _text("created_by"),
    _float("created_at"), _float("updated_at"), _text("reason"),
)  # fmt: skip

campaign_batches = Table(
    "campaign_batches", metadata,
    _text("campaign_id", primary_key=True), _text("batch_id", primary_key=True), _int("idx"), _text("state"),
    _int("stage_idx"), _int("attempt"), _int("rollback_idx"), _blob("manifest"), _text("manifest_digest"),
    _float("manifest_not_after"), _text("reason"), _float("updated_at"),
)  # fmt: skip

campaign_members = Table(
    "campaign_members", metadata,
    _text("campaign_id", primary_key=True), _text("batch_id"), _text("camera_id", primary_key=True),
    _text("agent_id"), _text("lifecycle_before"), _text("status"), _int("stages_done"),
)  # fmt: skip

campaign_steps = Table(
    "campaign_steps", metadata,
    _text("step_key", primary_key=True), _text("campaign_id"), _text("batch_id"), _text("kind"),
    _int("stage_idx"), _int("attempt"), _text("agent_id"), _text("command_id"), _text("camera_ids"),
    _float("created_at"),
)  # fmt: skip

campaign_approvals = Table(
    "campaign_approvals", metadata,
    _text("campaign_id", primary_key=True), _text("batch_id", primary_key=True), _text("username", primary_key=True),
    _text("key_id"), _blob("signature"), _text("manifest_digest", primary_key=True), _float("at"),
)  # fmt: skip

retired_cameras = Table(
    "retired_cameras", metadata,
    _text("camera_id", primary_key=True), _text("lifecycle"), _text("fingerprint"), _text("serial"),
    _text("macs"), _float("retired_at"), _int("seen_gone"), _float("alerted_at"),
)  # fmt: skip

alerts = Table(
    "alerts", metadata,
    _big("alert_id", primary_key=True, autoincrement=True), _float("at"), _text("kind"), _text("camera_id"),
    _text("matched_camera_id"), _text("message"), _text("details"), _text("acknowledged_by"),
    _float("acknowledged_at"),
)  # fmt: skip

# Dashboard sessions (revision 0002): the id is stored hashed, so a copy of the database opens no session.
dashboard_sessions = Table(
    "dashboard_sessions", metadata,
    _text("sid_hash", primary_key=True), _text("csrf"), _text("username"), _float("created"), _float("seen"),
)  # fmt: skip
campaign_steps.append_column(Column("undoes", Text, nullable=False))  # revision 0003

# Recorder channels (revision 0004): the latest channel list of every recorder, one row per channel; camera_id
# is the directly inventoried camera the channel is ("" when seen only through this recorder).
recorder_channels = Table(
    "recorder_channels", metadata,
    _text("recorder_id", primary_key=True), _int("channel", primary_key=True), _text("agent_id"), _text("site"),
    _text("recorder_host"), _text("address"), _text("protocol"), _int("online"), _text("status_detail"),
    _text("model"), _text("serial"), _text("firmware"), _text("macs"), _text("origin"), _int("covered"),
    _float("confidence"), _text("camera_id"), _text("fingerprint"), _blob("record"), _float("updated_at"),
)  # fmt: skip

# Census devices (revision 0004): each agent's latest census run, found without credentials.
census_devices = Table(
    "census_devices", metadata,
    _text("agent_id", primary_key=True), _text("device_key", primary_key=True), _text("census_id"), _text("site"),
    _text("host"), _int("port"), _text("macs"), _text("serial"), _text("model"), _text("firmware"),
    _text("device_class"), _int("channels"), _text("activation"), _text("status"), _text("sources"),
    _text("origin"), _int("covered"), _float("confidence"), _text("camera_id"), _blob("record"), _float("seen_at"),
    _float("written_at", server_default="0"),  # revision 0008: the controller's time (seen_at is the agent's)
)  # fmt: skip

# Messages from agents the hub could not apply, kept with the reason (revision 0006, supervised ingest).
quarantine = Table(
    "quarantine", metadata,
    _big("id", primary_key=True, autoincrement=True), _float("at"), _text("topic"), _text("agent_id"),
    _text("kind"), _text("reason"), _blob("payload"),
)  # fmt: skip

# Random keys created once and shared by every replica (revision 0009): the dashboard's device-cookie key.
controller_secrets = Table(
    "controller_secrets", metadata, _text("name", primary_key=True), _blob("value"), _float("created"),
)  # fmt: skip

# One row (revision 0013): bumped in the same transaction as every write that changes what the fleet answer
# counts, so every replica knows from one read whether its cached answer is still the fleet's.
fleet_revision = Table("fleet_revision", metadata, _int("id", primary_key=True), _big("rev"))
