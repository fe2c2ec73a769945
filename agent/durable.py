"""The agent's durable SQLite files (outbox, seen commands, journal): WAL with synchronous=FULL."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path

log = logging.getLogger(__name__)


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


def private_dir(path: Path) -> Path:
    """The agent's own state directory (the daemon's `state_dir`): created 0700, and tightened to 0700 if it
    exists, unless it is a shared directory (world-writable and sticky, like /tmp): that is left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode
    if mode & stat.S_IWOTH and mode & stat.S_ISVTX:
        log.warning(
            "state directory %s is shared (mode %o): its mode is left alone", path, stat.S_IMODE(mode)
        )
        return path
    with contextlib.suppress(PermissionError):  # a directory someone else owns keeps its mode
        path.chmod(0o700)
    return path


def private(path: Path) -> Path:
    """The file 0600 before anything is written to it (journals, snapshots and seen commands are nobody else's
    business); SQLite's -wal and -shm files take the database's mode. Missing directories are created 0700; one
    that exists keeps its mode: the CLI's --state may name a file in a home or shared directory (run as root with
    --state in /tmp, tightening the directory made /tmp 0700 for every other user on the machine)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    path.chmod(0o600)
    for side in ("-wal", "-shm"):
        extra = path.with_name(path.name + side)
        if extra.exists():
            extra.chmod(0o600)
    return path
