"""The controller's state directory is 0700 and its database 0600; a directory it did not create keeps its mode."""

from __future__ import annotations

from pathlib import Path

from controller.files import private_dir, private_file
from tests.modes import make_dir, mode


def test_a_database_in_a_shared_or_chosen_directory_leaves_that_directory_as_it_was(tmp_path: Path) -> None:
    shared, chosen = make_dir(tmp_path / "shared", 0o1777), make_dir(tmp_path / "srv", 0o755)
    for d in (shared, chosen):
        assert mode(private_file(d / "fleet.db")) == 0o600
    assert mode(shared) == 0o1777 and mode(chosen) == 0o755
    assert mode(private_file(tmp_path / "new" / "fleet.db").parent) == 0o700


def test_the_state_directory_is_tightened_unless_it_is_a_shared_one(tmp_path: Path) -> None:
    assert mode(private_dir(make_dir(tmp_path / "state", 0o755))) == 0o700
    assert mode(private_dir(make_dir(tmp_path / "tmp", 0o1777))) == 0o1777
    assert mode(private_dir(tmp_path / "key-dir", tighten=False)) == 0o700
