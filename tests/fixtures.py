"""Where the recorded camera replies live: ../shared/fixtures beside the repository (or $CAMFLEET_FIXTURES)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find() -> Path:
    env = os.environ.get("CAMFLEET_FIXTURES")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "fixtures"


SHARED_FIXTURES = _find()


def require(path: Path) -> Path:
    """The fixture, or a skip for a developer without shared/; in CI a missing fixture is a failure."""
    if not path.exists():
        msg = f"recorded fixture not found: {path} (set CAMFLEET_FIXTURES)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path
