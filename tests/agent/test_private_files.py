"""State files are 0600 and the agent's own state directory 0700, but a directory someone else chose keeps its mode."""

from __future__ import annotations

from pathlib import Path

from agent.durable import open_durable, private, private_dir
from tests.modes import make_dir, mode


def test_a_state_file_in_a_shared_or_chosen_directory_leaves_that_directory_as_it_was(tmp_path: Path) -> None:
    # Run as root with --state in /tmp, tightening the file's directory once made /tmp 0700 for every other user.
    shared, home = make_dir(tmp_path / "shared", 0o1777), make_dir(tmp_path / "home", 0o755)
    for d in (shared, home):
        assert mode(private(d / "site.json")) == 0o600
    assert mode(shared) == 0o1777 and mode(home) == 0o755


def test_a_missing_directory_is_created_private(tmp_path: Path) -> None:
    f = private(tmp_path / "new" / "site.json")
    assert mode(f.parent) == 0o700 and mode(f) == 0o600
    db = open_durable(tmp_path / "state" / "agent.db", "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    db.close()
    assert mode(tmp_path / "state") == 0o700 and mode(tmp_path / "state" / "agent.db") == 0o600


def test_the_daemons_state_directory_is_tightened_unless_it_is_a_shared_one(tmp_path: Path) -> None:
    assert mode(private_dir(make_dir(tmp_path / "state", 0o755))) == 0o700
    assert mode(private_dir(make_dir(tmp_path / "tmp", 0o1777))) == 0o1777
    assert mode(private_dir(tmp_path / "a" / "b")) == 0o700
