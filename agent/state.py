"""Agent state that survives restarts: seen command ids (replay defence) and the execution journal."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.durable import open_durable


@dataclass(frozen=True)
class JournalEntry:
    command_id: str
    camera_id: str
    action: str
    phase: str  # accepted | applying | done
    snapshot: dict[str, Any]
    command: bytes  # the verified Command payload, to rebuild the report after a crash


class AgentState:
    """One SQLite file (WAL, synchronous=FULL: a crash must not forget that a command was seen or started)."""

    def __init__(self, path: Path) -> None:
        self._db = open_durable(
            path,
            """
            CREATE TABLE IF NOT EXISTS seen (command_id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS journal (
                command_id TEXT NOT NULL, camera_id TEXT NOT NULL, action TEXT NOT NULL, phase TEXT NOT NULL,
                snapshot TEXT NOT NULL DEFAULT '{}', command BLOB NOT NULL, updated REAL NOT NULL,
                PRIMARY KEY (command_id, camera_id));
            CREATE TABLE IF NOT EXISTS snapshots (
                snapshot_id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, action TEXT NOT NULL,
                values_json TEXT NOT NULL, taken REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS snapshot_use (
                snapshot_id TEXT PRIMARY KEY, used_at REAL NOT NULL, by_command TEXT NOT NULL);
            """,
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    # ---- protos.verify.SeenStore ---------------------------------------------------------------
    def seen(self, command_id: str) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM seen WHERE command_id = ?", (command_id,)).fetchone()
                is not None
            )

    def add(self, command_id: str, expires_at: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO seen (command_id, expires_at) VALUES (?, ?)", (command_id, expires_at)
            )
            # Expired ids can go: the verifier refuses an expired command before it asks about replay.
            self._db.execute("DELETE FROM seen WHERE expires_at < ?", (time.time() - 86400,))

    # ---- journal -------------------------------------------------------------------------------
    def journal(self, command_id: str, camera_id: str, action: str, phase: str, command: bytes,
                snapshot: dict[str, Any] | None = None) -> None:  # fmt: skip
        with self._lock:
            self._db.execute(
                """INSERT INTO journal (command_id, camera_id, action, phase, snapshot, command, updated)
                   VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (command_id, camera_id) DO UPDATE SET
                   phase = excluded.phase, snapshot = CASE WHEN excluded.snapshot = '{}' THEN journal.snapshot
                   ELSE excluded.snapshot END, updated = excluded.updated""",
                (command_id, camera_id, action, phase, json.dumps(snapshot or {}), command, time.time()),
            )

    def unfinished(self) -> list[JournalEntry]:
        """Executions that started but never reported a final state (the agent died mid-command)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT command_id, camera_id, action, phase, snapshot, command FROM journal WHERE phase != 'done'"
            ).fetchall()
        return [JournalEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), bytes(r[5])) for r in rows]

    def phase(self, command_id: str, camera_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT phase FROM journal WHERE command_id = ? AND camera_id = ?", (command_id, camera_id)
            ).fetchone()
        return str(row[0]) if row else None

    # ---- snapshots (for rollback) --------------------------------------------------------------
    def save_snapshot(self, snapshot_id: str, camera_id: str, action: str, values: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?)",
                (snapshot_id, camera_id, action, json.dumps(values), time.time()),
            )

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Nothing was written after all (every change unsupported): no snapshot to keep."""
        with self._lock:
            self._db.execute("DELETE FROM snapshots WHERE snapshot_id = ?", (snapshot_id,))

    def mark_snapshot_used(self, snapshot_id: str, by_command: str = "") -> None:
        """A rollback restored this snapshot: kept (a repeated rollback finds the same values, 'already'),
        but marked, so whoever looks knows the change it recorded was undone."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO snapshot_use (snapshot_id, used_at, by_command) VALUES (?, ?, ?)",
                (snapshot_id, time.time(), by_command),
            )

    def snapshot_used(self, snapshot_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM snapshot_use WHERE snapshot_id = ?", (snapshot_id,)
            ).fetchone()
        return row is not None

    def snapshot(self, snapshot_id: str) -> tuple[str, str, dict[str, Any]] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT camera_id, action, values_json FROM snapshots WHERE snapshot_id = ?", (snapshot_id,)
            ).fetchone()
        return (str(row[0]), str(row[1]), json.loads(row[2])) if row else None
