"""Smoke test for the benchmark scripts: each runs in its small `--quick` mode and ends with `key=value` figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# script -> figures its last line must carry (the ones BENCHMARKS.md quotes)
SCRIPTS = {
    "ingest.py": ("cameras", "ratio_inv_sqlite", "ratio_upd_sqlite", "hub_upd_msgs_s_sqlite"),
    "api_latency.py": (
        "overview_html_p95_ms_500",
        "cameras_html_p95_ms_500",
        "export_csv_p95_ms_500",
        "export_json_p95_ms_500",
    ),
    "memory.py": ("agent_rss_mb", "controller_rss_mb"),
    "campaign.py": ("campaign_s", "controller_cpu_s", "batches_done"),
    "fleet_answer.py": ("answer_p50_ms", "answer_p95_ms", "answer_cameras"),
    "ingest_store.py": (
        "sqlite_first_cameras_per_s",
        "sqlite_steady_cameras_per_s",
        "sqlite_steady_cpu_ms_per_camera",
    ),
}


def last_line_figures(out: str) -> dict[str, str]:
    line = out.strip().splitlines()[-1]
    pairs = [p.split("=", 1) for p in line.split()]
    assert all(len(p) == 2 for p in pairs), f"last line is not key=value ...: {line!r}"
    return {k: v for k, v in pairs}


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_bench_script_quick(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = last_line_figures(done.stdout)
    for key in SCRIPTS[script]:
        assert key in figures, f"{script}: {key} missing from {figures}"
    if script == "ingest.py":
        # Every camera was stored by the hub, so its rate is a positive number.
        assert float(figures["hub_upd_msgs_s_sqlite"]) > 0
    if script == "campaign.py":
        # The simulated agents answered every command: the campaign finished every batch.
        assert figures["state"] == "COMPLETED"
        assert int(figures["batches_done"]) == int(figures["batches"])
    if script == "memory.py":
        assert 10 < float(figures["agent_rss_mb"]) < 2000


@pytest.mark.slow
@pytest.mark.integration
def test_fleet_answer_stream_computes_once_per_relevant_report() -> None:
    """`fleet_answer.py --stream`: of 4 reports, the 2nd and 4th change a camera's origin; the answer asked after each
    is computed again exactly after those two (the fleet revision), not after every report."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet_answer.py"), "--quick", "--stream", "4", "--relevant", "2"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = last_line_figures(done.stdout)
    assert figures["stream_computed"] == "2", figures
    assert int(figures["answer_census_devices"]) == 100
