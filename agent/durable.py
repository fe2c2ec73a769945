"""The agent's durable SQLite files (outbox, seen commands, journal): WAL with synchronous=FULL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """Autocommit connection whose commits survive a power cut: the agent must not forget an accepted command
    or a result the broker has not acknowledged. Used synchronously: each call is one short local transaction,
    far below a millisecond, and a thread pool would buy nothing but ordering problems."""
    private(path)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


def private(path: Path) -> Path:
    """The file 0600 in a 0700 directory before anything is written to it (journals, snapshots and seen
    commands are nobody else's business); SQLite's -wal and -shm files take the database's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # a directory someone else owns keeps its mode
        path.parent.chmod(0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    path.chmod(0o600)
    for side in ("-wal", "-shm"):
        extra = path.with_name(path.name + side)
        if extra.exists():
            extra.chmod(0o600)
    return path
