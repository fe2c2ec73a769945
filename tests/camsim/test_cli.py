"""The real `camsim` console script: readiness line, export files, control API, clean SIGTERM, saved state."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from camsim.cli import parse_duration_ms

from .conftest import find_free_port

CAMSIM = str(Path(sys.executable).with_name("camsim"))
TIMEOUT = aiohttp.ClientTimeout(total=5)
READY = re.compile(r"camsim ready: (\d+) cameras .* control=(http://127\.0\.0\.1:\d+)")


@asynccontextmanager
async def camsim(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, re.Match[str], list[str]]]:
    """Run camsim until its readiness line, yield (process, match, output lines), then SIGTERM it."""
    proc = await asyncio.create_subprocess_exec(
        CAMSIM, *args, "--control-port", "0", "--no-discovery",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
            if not raw:
                raise AssertionError(f"camsim exited before ready: {lines}")
            lines.append(raw.decode())
            m = READY.search(lines[-1])
            if m:
                break
        lines.append((await asyncio.wait_for(proc.stdout.readline(), timeout=5)).decode())
        yield proc, m, lines
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            rest, _ = await asyncio.wait_for(proc.communicate(), timeout=10)
            lines.append(rest.decode())


@pytest.mark.integration
async def test_cli_export_control_and_clean_stop(tmp_path: Path) -> None:
    port = find_free_port()
    out = tmp_path / "export"
    state = tmp_path / "state.json"
    args = ["--cameras", "12", "--seed", "7", "--port", str(port), "--base-address", "127.0.3.1"]
    async with camsim(*args, "--export", str(out), "--state", str(state)) as (proc, m, lines):
        assert m.group(1) == "12"
        assert "cloud_reachable=" in lines[-1]
        with (out / "targets.csv").open(newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["host", "port", "username", "password"]
        assert len(rows) == 13
        assert rows[1][:3] == ["127.0.3.1", str(port), "admin"] and rows[1][3]
        truth = json.loads((out / "truth.json").read_text())
        assert [t["host"] for t in truth] == [r[0] for r in rows[1:]]
        assert {"personality", "manufacturer", "true_manufacturer", "mac", "model", "firmware"} <= set(
            truth[0]
        )
        async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
            async with s.get(f"{m.group(2)}/stats") as r:
                stats = await r.json()
            assert stats["cameras"] == 12
            # The exported targets really are live cameras: the first answers (with a digest challenge or 200).
            async with s.post(f"http://127.0.3.1:{port}/onvif/device_service", data=b"<x/>") as r:
                assert r.status in (200, 400, 401, 500)
            async with s.patch(
                f"{m.group(2)}/cameras/{truth[0]['id']}/faults", json={"clock_skew_s": 42}
            ) as r:
                assert r.status == 200
    assert proc.returncode == 0
    assert "camsim stopped" in "".join(lines)
    saved = json.loads(state.read_text())
    assert len(saved["cameras"]) == 12 and saved["cameras"][0]["clock_skew_s"] == 42.0


@pytest.mark.integration
async def test_cli_same_seed_same_fleet(tmp_path: Path) -> None:
    truths = []
    for i in range(2):
        out = tmp_path / f"e{i}"
        args = ["--cameras", "6", "--seed", "99", "--port", str(find_free_port()), "--export", str(out)]
        async with camsim(*args, "--base-address", "127.0.3.101"):
            truths.append(json.loads((out / "truth.json").read_text()))
    assert truths[0] == [{**t, "port": truths[0][0]["port"]} for t in truths[1]]


def test_cli_rejects_bad_arguments() -> None:
    bad = subprocess.run([CAMSIM, "--fault", "bogus=1"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown fault" in bad.stderr
    bad = subprocess.run([CAMSIM, "--latency", "fast"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_parse_duration() -> None:
    assert parse_duration_ms("50ms") == 50.0
    assert parse_duration_ms("0.2s") == 200.0
    assert parse_duration_ms("15") == 15.0


@pytest.mark.integration
async def test_cli_fleet_file(tmp_path: Path) -> None:
    spec = {
        "seed": 5,
        "cameras": [
            {"personality": "hikvision", "address": "127.0.3.201"},
            {"personality": "dahua", "address": "127.0.3.202"},
        ],
    }
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps(spec))
    port = find_free_port()
    async with camsim("--fleet", str(fleet), "--port", str(port)) as (_, m, _lines):
        assert m.group(1) == "2"
        async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
            async with s.get(f"{m.group(2)}/cameras") as r:
                cams = await r.json()
            assert [(c["host"], c["port"], c["personality"]) for c in cams] == [
                ("127.0.3.201", port, "hikvision"),
                ("127.0.3.202", port, "dahua"),
            ]
            async with s.get(f"http://127.0.3.202:{port}/cgi-bin/magicBox.cgi?action=getVendor") as r:
                assert r.status == 401 and "Login to" in r.headers["WWW-Authenticate"]


def test_cli_refuses_corrupt_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    port = str(find_free_port())
    run = subprocess.run(
        [CAMSIM, "--cameras", "2", "--port", port, "--state", str(state), "--no-discovery", "--control-port", "0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 1
    assert "cannot read camsim state" in run.stderr
    assert state.read_text() == "{not json"  # never overwritten with a fresh fleet


@pytest.mark.integration
async def test_cli_fault_fraction_and_latency() -> None:
    port = find_free_port()
    args = ["--cameras", "4", "--seed", "3", "--port", str(port), "--base-address", "127.0.3.151"]
    faults = ["--fault", "http500_rate=1", "--fault-fraction", "0.5", "--latency", "30ms", "--jitter", "5ms"]
    async with camsim(*args, *faults) as (_, m, _lines), aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with s.get(f"{m.group(2)}/cameras") as r:
            cams = await r.json()
        broken = [c for c in cams if c["faults"]["http500_rate"] == 1.0]
        assert len(broken) == 2
        assert all(c["faults"]["latency_ms"] == 30.0 and c["faults"]["jitter_ms"] == 5.0 for c in cams)
        async with s.get(f"http://{broken[0]['host']}:{port}/") as r:
            assert r.status == 500
