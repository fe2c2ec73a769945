"""The controller's state on disk is private: directories 0700, databases and keys 0600, whatever the umask."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create `path` (and missing parents) as 0700. With `tighten`, an existing directory (a state directory,
    ours alone) is set to 0700 too; a directory we do not own keeps the mode its owner gave it, and so does a
    shared one (world-writable and sticky, like /tmp: tightening it would lock every other user out of it)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if tighten:
        mode = path.stat().st_mode
        if mode & stat.S_IWOTH and mode & stat.S_ISVTX:
            log.warning("directory %s is shared (mode %o): its mode is left alone", path, stat.S_IMODE(mode))
            return path
        with contextlib.suppress(PermissionError):
            path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists as 0600 before anything writes it; SQLite's -wal and -shm files follow the
    database's mode. A missing directory is created 0700; an existing one keeps its mode (the database may be
    configured anywhere; the state directory is tightened by the app itself)."""
    private_dir(path.parent, tighten=False)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    path.chmod(0o600)
    for side in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + side)
        if extra.exists():
            extra.chmod(0o600)
    return path
