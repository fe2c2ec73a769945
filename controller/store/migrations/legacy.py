"""The schema of camfleet before Alembic (its `schema_version` steps 1-4): the baseline revision creates it,
and a database of that era is adopted by running the steps it lacks. Frozen: new changes are new revisions."""

from __future__ import annotations

# SQL shared by SQLite and PostgreSQL: only portable types and syntax here. Booleans are integers 0/1 and
# times are unix seconds (float), so that both engines index and compare them the same way.
MIGRATIONS: list[str] = [
    # 1: agents, cameras, history, commands, executions, audit
    """
    CREATE TABLE agents (
        agent_id TEXT PRIMARY KEY,
        site TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL DEFAULT '',
        boot_seq BIGINT NOT NULL DEFAULT 0,
        online INTEGER NOT NULL DEFAULT 0,
        last_seen DOUBLE PRECISION NOT NULL DEFAULT 0,
        capabilities TEXT NOT NULL DEFAULT '[]',
        camera_count INTEGER NOT NULL DEFAULT 0,
        inventory_seq BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE cameras (
        camera_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        manufacturer TEXT NOT NULL,
        model TEXT NOT NULL,
        firmware TEXT NOT NULL,
        origin TEXT NOT NULL,
        covered INTEGER NOT NULL,
        oem_rebrand INTEGER NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        risk_score INTEGER NOT NULL,
        risk_level TEXT NOT NULL,
        cloud_reachable INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        reachable INTEGER NOT NULL,
        observed_at DOUBLE PRECISION NOT NULL,
        record BYTEA NOT NULL,
        lifecycle TEXT NOT NULL DEFAULT 'INVENTORIED',
        tags TEXT NOT NULL DEFAULT '[]',
        updated_at DOUBLE PRECISION NOT NULL DEFAULT 0,
        vanished INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX cameras_origin ON cameras (origin);
    CREATE INDEX cameras_site ON cameras (site);
    CREATE INDEX cameras_agent ON cameras (agent_id);
    CREATE INDEX cameras_risk ON cameras (risk_level);
    CREATE INDEX cameras_lifecycle ON cameras (lifecycle);
    CREATE INDEX cameras_fingerprint ON cameras (fingerprint);
    CREATE TABLE camera_history (
        id BIGSERIAL PRIMARY KEY,
        camera_id TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        change TEXT NOT NULL
    );
    CREATE INDEX camera_history_camera ON camera_history (camera_id, at);
    CREATE TABLE commands (
        command_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        action TEXT NOT NULL,
        params TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        not_after DOUBLE PRECISION NOT NULL,
        created_by TEXT NOT NULL,
        campaign_id TEXT NOT NULL DEFAULT '',
        batch_id TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        envelope BYTEA NOT NULL
    );
    CREATE INDEX commands_created ON commands (created_at);
    CREATE TABLE executions (
        command_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        state TEXT NOT NULL,
        settings TEXT NOT NULL DEFAULT '[]',
        snapshot TEXT NOT NULL DEFAULT '{}',
        snapshot_id TEXT NOT NULL DEFAULT '',
        error_class TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL DEFAULT '',
        seq BIGINT NOT NULL DEFAULT 0,
        updated_at DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (command_id, camera_id)
    );
    CREATE INDEX executions_state ON executions (state);
    CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    );
    """,
    # 2: people and API tokens (roles: viewer, operator, approver, admin)
    """
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        approver_key TEXT NOT NULL DEFAULT '',
        created DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE api_tokens (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        name TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 3: staged decommission campaigns (controller/campaigns): batches, their cameras, the commands sent for
    # them (one row per batch+stage+attempt+agent, written before publishing: the idempotency key that keeps
    # a restarted engine from sending twice), approver signatures, retired-camera identities and alerts.
    """
    CREATE TABLE campaigns (
        campaign_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE campaign_batches (
        campaign_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        state TEXT NOT NULL,
        stage_idx INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        rollback_idx INTEGER NOT NULL DEFAULT -1,
        manifest BYTEA NOT NULL,
        manifest_digest TEXT NOT NULL DEFAULT '',
        manifest_not_after DOUBLE PRECISION NOT NULL DEFAULT 0,
        reason TEXT NOT NULL DEFAULT '',
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (campaign_id, batch_id)
    );
    CREATE TABLE campaign_members (
        campaign_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        lifecycle_before TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        stages_done INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, camera_id)
    );
    CREATE INDEX campaign_members_batch ON campaign_members (campaign_id, batch_id);
    CREATE TABLE campaign_steps (
        step_key TEXT PRIMARY KEY,
        campaign_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        stage_idx INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        agent_id TEXT NOT NULL,
        command_id TEXT NOT NULL,
        camera_ids TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX campaign_steps_batch ON campaign_steps (campaign_id, batch_id);
    CREATE TABLE campaign_approvals (
        campaign_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        username TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature BYTEA NOT NULL,
        manifest_digest TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (campaign_id, batch_id, manifest_digest, username),
        UNIQUE (campaign_id, batch_id, manifest_digest, key_id)
    );
    CREATE TABLE retired_cameras (
        camera_id TEXT PRIMARY KEY,
        lifecycle TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        serial TEXT NOT NULL,
        macs TEXT NOT NULL,
        retired_at DOUBLE PRECISION NOT NULL,
        seen_gone INTEGER NOT NULL DEFAULT 0,
        alerted_at DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    CREATE TABLE alerts (
        alert_id BIGSERIAL PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        matched_camera_id TEXT NOT NULL,
        message TEXT NOT NULL,
        details TEXT NOT NULL,
        acknowledged_by TEXT NOT NULL DEFAULT '',
        acknowledged_at DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    CREATE INDEX alerts_open ON alerts (acknowledged_at, camera_id);
    """,
    # 4: every fleet query filters on vanished = 0 first; composite indexes let the dashboard's counts and
    # pages use an index instead of scanning the table (21.6 ms -> 1.7 ms per count at 10,000 cameras).
    """
    CREATE INDEX cameras_v_origin ON cameras (vanished, origin);
    CREATE INDEX cameras_v_site ON cameras (vanished, site);
    CREATE INDEX cameras_v_risk ON cameras (vanished, risk_level);
    CREATE INDEX cameras_v_lifecycle ON cameras (vanished, lifecycle);
    CREATE INDEX cameras_v_manufacturer ON cameras (vanished, manufacturer);
    CREATE INDEX cameras_v_agent ON cameras (vanished, agent_id);
    CREATE INDEX cameras_v_camera ON cameras (vanished, camera_id);
    """,
]


def for_sqlite(sql: str) -> str:
    """SQLite spells a few types differently; its type affinity makes the rest work as written."""
    return sql.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT").replace("BYTEA", "BLOB")


def statements(sql: str, *, sqlite: bool) -> list[str]:
    """One step's SQL as single statements (drivers prepare one at a time), spelled for the engine."""
    return [s.strip() for s in (for_sqlite(sql) if sqlite else sql).split(";") if s.strip()]
