"""File modes for the tests that check what is private: read one, and make a directory with one."""

from __future__ import annotations

import stat
from pathlib import Path


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def make_dir(p: Path, m: int) -> Path:
    p.mkdir()
    p.chmod(m)
    return p
