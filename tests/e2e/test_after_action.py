"""After an action, the controller's view of the cameras it touched is current within seconds (not at the next round)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.timing import scaled

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLEETCTL = str(Path(sys.executable).with_name("fleetctl"))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Full rounds only every hour and checks only every 10 minutes: within this test only the re-read that
    # follows an action can bring a changed camera's record to the controller.
    s = Stack(cameras=24, seed=16, base_address="127.0.18.1", inventory_interval_s=3600, check_interval_s=600)
    s.start()
    try:
        asyncio.run(s.wait_inventory(120))
        yield s
    finally:
        s.cleanup()


async def _fleetctl(s: Stack, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMFLEET_")}
    env.update(CAMFLEET_URL=s.url, CAMFLEET_TOKEN=s.token)
    proc = await asyncio.create_subprocess_exec(FLEETCTL, *args, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), scaled(180))
    finally:
        if proc.returncode is None:  # timed out or cancelled: fleetctl must not outlive the test
            proc.kill()
            await proc.wait()
    return proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode()


def test_cloud_reachable_count_matches_truth_within_10s_of_disable_cloud(stack: Stack) -> None:
    async def go() -> None:
        before_truth = (await stack.camsim("GET", "/stats"))["cloud_reachable"]
        before = (await stack.api("GET", "/api/v1/summary"))["cloud_reachable"]
        assert before == before_truth > 0
        rc, out, err = await _fleetctl(stack, "run", "disable-cloud", "--where", "origin=hikvision", "--yes")
        returned = time.monotonic()
        assert rc == 0, (out, err)
        truth = (await stack.camsim("GET", "/stats"))["cloud_reachable"]
        assert truth < before_truth, "the action changed no camera; the test would prove nothing"
        seen = None
        while time.monotonic() - returned < 10.0:
            seen = (await stack.api("GET", "/api/v1/summary"))["cloud_reachable"]
            if seen == truth:
                break
            await asyncio.sleep(0.2)
        assert seen == truth, f"controller says {seen} cloud-reachable 10 s after the action, camsim {truth}"

    asyncio.run(go())
