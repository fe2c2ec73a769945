"""The README's main command brings up a fleet and prints a summary that matches camsim's truth."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.camsim.conftest import find_free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_demo_once(tmp_path: Path) -> None:
    port, control = find_free_port(), find_free_port()
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--once", "--cameras", "30",
         "--port", str(port), "--control-port", str(control), "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(truth) == 30
    assert "cameras total: 30" in out.stdout
    hik = sum(1 for t in truth if t["true_manufacturer"] == "hikvision")
    assert re.search(rf"^\s+hikvision\s+{hik}\b", out.stdout, re.M), out.stdout
    assert (tmp_path / "targets.csv").read_text().startswith("host,port,username,password")
