"""The README's main command brings up the whole system and prints a summary that matches camsim's truth."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.slow
def test_demo_once() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--once", "--cameras", "45"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "cameras total: 45" in out.stdout
    assert re.search(r"sites: east 15, north 15, south 15", out.stdout)
    assert re.search(r"dashboard and API: http://127\.0\.0\.1:\d+/", out.stdout)
    assert re.search(r"^\s+hikvision\s+\d+", out.stdout, re.M)
    assert "cloud-reachable right now:" in out.stdout
    # The staged decommission, ready to paste: create, preview, start, two approvals with pinned keys, watch.
    for step in ("fleetctl campaign create", "fleetctl campaign preview", "fleetctl campaign start",
                 "alice.pem", "bob.pem", "campaign status CAMPAIGN --watch"):  # fmt: skip
        assert step in out.stdout, step
    assert len(re.findall(r"fleetctl approve CAMPAIGN b001 --key", out.stdout)) == 2
