"""The durable outbox: every message the agent must deliver stays in SQLite until the broker acknowledges it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.durable import open_durable


@dataclass(frozen=True)
class OutMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """Also keeps the agent's counters that must survive restarts: the boot sequence (Sparkplug bdSeq) and
    the message sequence that lets the controller drop stale or duplicate updates (agent.durable explains why
    the calls are synchronous)."""

    def __init__(self, path: Path) -> None:
        self._db = open_durable(
            path,
            """
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
                qos INTEGER NOT NULL, retain INTEGER NOT NULL, created REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """,
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def next(self, counter: str) -> int:
        """Atomically increment and return a persistent counter."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()
            value = (int(row[0]) if row else 0) + 1
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = ?",
                (counter, value, value),
            )
            self._db.execute("COMMIT")
            return value

    def put(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain, created) VALUES (?, ?, ?, ?, ?)",
                (topic, payload, qos, int(retain), time.time()),
            )
            return int(cur.lastrowid or 0)

    def pending(self, limit: int = 100) -> list[OutMessage]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [OutMessage(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), bool(r[4])) for r in rows]

    def ack(self, message_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (message_id,))

    def size(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0])
