"""State files are 0600 and the agent's own state directory 0700, but a directory someone else chose keeps its mode."""

from __future__ import annotations

import stat
from pathlib import Path

from agent.durable import open_durable, private, private_dir


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _dir(p: Path, mode: int) -> Path:
    p.mkdir()
    p.chmod(mode)
    return p


def test_a_state_file_in_a_shared_or_chosen_directory_leaves_that_directory_as_it_was(tmp_path: Path) -> None:
    # Run as root with --state in /tmp, tightening the file's directory once made /tmp 0700 for every other user.
    shared, home = _dir(tmp_path / "shared", 0o1777), _dir(tmp_path / "home", 0o755)
    for d in (shared, home):
        assert _mode(private(d / "site.json")) == 0o600
    assert _mode(shared) == 0o1777 and _mode(home) == 0o755


def test_a_missing_directory_is_created_private(tmp_path: Path) -> None:
    f = private(tmp_path / "new" / "site.json")
    assert _mode(f.parent) == 0o700 and _mode(f) == 0o600
    db = open_durable(tmp_path / "state" / "agent.db", "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    db.close()
    assert _mode(tmp_path / "state") == 0o700 and _mode(tmp_path / "state" / "agent.db") == 0o600


def test_the_daemons_state_directory_is_tightened_unless_it_is_a_shared_one(tmp_path: Path) -> None:
    assert _mode(private_dir(_dir(tmp_path / "state", 0o755))) == 0o700
    assert _mode(private_dir(_dir(tmp_path / "tmp", 0o1777))) == 0o1777
    assert _mode(private_dir(tmp_path / "a" / "b")) == 0o700
