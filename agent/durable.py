"""The agent's durable SQLite files (outbox, seen commands, journal): WAL with synchronous=FULL."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """Autocommit connection whose commits survive a power cut: the agent must not forget an accepted command
    or a result the broker has not acknowledged. Used synchronously: each call is one short local transaction,
    far below a millisecond, and a thread pool would buy nothing but ordering problems."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db
