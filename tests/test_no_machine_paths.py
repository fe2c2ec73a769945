"""No tracked file names a path that exists only on one machine (a home, a workspace root, one run's temp dir)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# System locations a deployed camfleet or Debian really uses (/etc, /opt, /var/lib, /usr/bin/chromium …) are
# fine; these are the places that only exist on the machine where a file was written.
MACHINE_PATH = re.compile(
    r"""(?<![\w.~<-])(?:/home/[\w.-]+|/root(?=/|\b)|/work(?=/|\b)|/Users/[\w.-]+|/tmp/[\w.-]+|"""
    r"""/var/folders/|/private/var/|/mnt/[\w.-]+|[A-Z]:\\Users\\)"""
)
#: Words that look like such a path but are not one (the pattern itself lives in this file).
ALLOWED = {"tests/test_no_machine_paths.py"}


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f]


def _abs(*parts: str) -> str:
    """An absolute path built at run time, so this file names none itself."""
    return "/" + "/".join(parts)


def test_pattern_catches_what_it_is_for() -> None:
    for bad in (
        f'FLEETCTL = "{_abs("work", "venv", "bin", "fleetctl")}"',
        f"see {_abs('home', 'alice', 'camfleet')}",
        f"run {_abs('root', '.venv', 'bin', 'python')}",
        f"--export {_abs('tmp', 'fleet')}",
        "\\".join(("C:", "Users", "bob", "x")),
    ):
        assert MACHINE_PATH.search(bad), bad
    for good in (
        "/etc/camfleet/agent.toml",
        "/opt/camfleet-agent/venv",
        "/usr/bin/chromium",
        "PrivateTmp=yes",
        "../shared/fixtures",
        ".venv/bin/python bench/x.py",
        "https://example.org/work/x",
    ):
        assert not MACHINE_PATH.search(good), good


def test_no_tracked_file_names_a_machine_path() -> None:
    hits: list[str] = []
    for name in tracked_files():
        if name in ALLOWED:
            continue
        path = REPO / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary, or deleted in the work tree
        for n, line in enumerate(text.splitlines(), 1):
            m = MACHINE_PATH.search(line)
            if m:
                hits.append(f"{name}:{n}: {m.group(0)!r} in {line.strip()[:120]}")
    assert not hits, "paths of one machine in tracked files:\n" + "\n".join(hits)
