"""The controller's state on disk is private: directories 0700, databases and keys 0600, whatever the umask."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create `path` (and missing parents) as 0700. With `tighten`, an existing directory (a state directory,
    ours alone) is set to 0700 too; a directory we do not own keeps the mode its owner gave it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if tighten:
        with contextlib.suppress(PermissionError):
            path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists as 0600 before anything writes it; SQLite's -wal and -shm files follow the
    database's mode. Its directory is made private too."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    path.chmod(0o600)
    for side in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + side)
        if extra.exists():
            extra.chmod(0o600)
    return path
