"""Alembic on both backends: a store from before Alembic (with data) is adopted and upgraded, a database newer
than the code is refused with a clear message, and nothing downgrades past the baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.store import Store, migrate
from controller.store.audit import GENESIS, entry_hash
from controller.store.migrate import SchemaError
from controller.store.migrations.legacy import MIGRATIONS, statements
from tests.controller.conftest import Backend


async def legacy_store(backend: Backend) -> None:
    """The production schema of camfleet 0.1 (schema_version 1-4), written the way it wrote it, with data."""
    sqlite = backend.name == "sqlite"
    h1 = entry_hash(GENESIS, 1, 1.5, "cli", "user.put", "alice", {"role": "admin"})
    sql = [s for step in MIGRATIONS for s in statements(step, sqlite=sqlite)]
    sql += [
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        *(f"INSERT INTO schema_version VALUES ({v})" for v in range(1, len(MIGRATIONS) + 1)),
        "INSERT INTO agents (agent_id, site, online, inventory_seq) VALUES ('site-a', 'north', 1, 7)",
        "INSERT INTO cameras (camera_id, agent_id, site, host, port, manufacturer, model, firmware, origin, covered,"
        " oem_rebrand, confidence, risk_score, risk_level, cloud_reachable, fingerprint, reachable, observed_at,"
        " record, lifecycle, tags) VALUES ('cam-1', 'site-a', 'north', '10.0.0.5', 80, 'HIKVISION', 'DS-2CD',"
        " 'V5', 'hikvision', 1, 0, 0.9, 70, 'high', 1, 'fp-1', 1, 1.0, "
        + ("X'0a01'" if sqlite else "'\\x0a01'::bytea")
        + ", 'CLOUD_OFF', '[\"lobby\"]')",
        "INSERT INTO camera_history (camera_id, at, change) VALUES ('cam-1', 1.0, '{\"first_seen\": [null, \"10.0.0.5\"]}')",
        "INSERT INTO users (username, password_hash, role, created) VALUES ('alice', 'x', 'admin', 1.0)",
        "INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash) VALUES "
        f"(1, 1.5, 'cli', 'user.put', 'alice', '{json.dumps({'role': 'admin'})}', '{GENESIS}', '{h1}')",
        f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 1, '{h1}')",
    ]
    await backend.script(*sql)


async def test_a_legacy_store_with_data_is_adopted_and_upgraded(backend: Backend) -> None:
    await legacy_store(backend)
    s = await backend.new_store()
    assert await s.revision() == migrate.head()
    cam = await s.get_camera("cam-1")
    assert cam is not None and (cam.lifecycle, cam.tags, cam.covered, cam.record) == (
        "CLOUD_OFF", ["lobby"], True, b"\x0a\x01",
    )  # fmt: skip
    assert [h["change"] for h in await s.camera_history("cam-1")] == [{"first_seen": [None, "10.0.0.5"]}]
    assert (await s.get_user("alice")) is not None
    # The chain written before the upgrade still verifies, and continues.
    await s.append_audit("bob", "x", "1", {})
    report = await s.verify_audit()
    assert report.ok and report.entries == 2
    # The old version table is gone (an old controller would refuse, not half-use, this database).
    async with s.read() as r:
        names = await r.conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    assert "schema_version" not in names and "alembic_version" in names
    # An agent's report continues from the stored sequence: a stale one is still dropped.
    assert await s.ingest_cameras("site-a", [], full=False, removed=[], seq=7) == 0


async def test_a_database_newer_than_the_code_is_refused(backend: Backend) -> None:
    s = await backend.new_store()
    async with s.tx() as tx:
        await tx.conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    await s.close()
    with pytest.raises(SchemaError, match="9999_from_the_future, newer than this camfleet-controller knows"):
        await backend.new_store()


async def test_no_downgrade_past_the_baseline(store: Store) -> None:
    with pytest.raises(SchemaError, match="past the baseline"):
        await store.downgrade("base")
    assert await store.revision() == migrate.head()
    with pytest.raises(RuntimeError, match="past the baseline"):
        await store.downgrade(migrate.BASELINE + "-nope")
    # Down to the baseline and back up works, and keeps the data.
    await store.downgrade(migrate.BASELINE)
    assert await store.revision() == migrate.BASELINE
    await store.upgrade()
    assert await store.revision() == migrate.head()


def test_cli_db_upgrade_current_and_refused_downgrade(tmp_path: Path) -> None:
    state = tmp_path / "state"
    conf = tmp_path / "controller.toml"
    conf.write_text(f'[controller]\nstate_dir = "{state}"\n')
    cli = [sys.executable, "-m", "controller.cli"]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *argv, "--config", str(conf)], capture_output=True, text=True, timeout=120
        )

    up = run("db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"schema revision {migrate.head()}" in up.stdout
    down = run("db", "downgrade", "base")
    assert down.returncode == 2 and "past the baseline" in down.stderr
    cur = run("db", "current")
    assert cur.returncode == 0 and migrate.head() in cur.stdout
