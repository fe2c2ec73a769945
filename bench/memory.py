"""Memory: agent RSS over 1,000 camsim cameras after its first inventory; controller RSS with 50,000 cameras."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench.common import ControllerProc, cpu_seconds, machine, result_line, rss_mb, seed
from devstack.stack import Stack


async def agent_memory(cameras: int) -> dict[str, Any]:
    """The whole system as processes (camsim, Mosquitto, controller, ONE agent over every camera)."""
    stack = Stack(cameras=cameras, sites=("bench",), latency="5ms")
    try:
        t0 = time.monotonic()
        await asyncio.to_thread(stack.start)  # it runs its own event loop to wait for the controller
        await stack.wait_inventory(seconds=600)
        inv_s = time.monotonic() - t0
        await asyncio.sleep(2)  # let the outbox drain and the agent settle after publishing
        agent, ctl = stack.procs["agent-bench"].popen, stack.procs["controller"].popen
        assert agent is not None and ctl is not None
        return {
            "agent_cameras": cameras,
            "agent_rss_mb": rss_mb(agent.pid),
            "agent_cpu_s": cpu_seconds(agent.pid),
            "first_inventory_s": inv_s,
            f"controller_rss_mb_{cameras}": rss_mb(ctl.pid),
        }
    finally:
        stack.cleanup()


async def controller_memory(cameras: int) -> dict[str, Any]:
    """`camfleet-controller serve` over a store seeded with `cameras`, after its summary and cameras pages."""
    ctl = ControllerProc()
    try:
        await seed(ctl.db, cameras)
        await ctl.start()
        idle = rss_mb(ctl.pid)
        api = {"Authorization": f"Bearer {ctl.token}"}
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as s:
            await ctl.login(s)
            for path, hdr in [("/", {}), ("/api/v1/summary", api), ("/api/v1/export?format=csv", api)] + [
                (f"/cameras?page={p}", {}) for p in (1, 2, cameras // 100)
            ]:
                async with s.get(ctl.url + path, headers=hdr) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"GET {path}: HTTP {r.status}")
        return {
            "controller_cameras": cameras,
            "controller_idle_rss_mb": idle,
            "controller_rss_mb": rss_mb(ctl.pid),
        }
    finally:
        ctl.stop()
        shutil.rmtree(ctl.root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--agent-cameras", type=int, default=1000)
    ap.add_argument("--controller-cameras", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true", help="30 agent cameras, 1,000 controller cameras")
    args = ap.parse_args()
    if args.quick:
        args.agent_cameras, args.controller_cameras = 30, 1000
    print(machine(), file=sys.stderr)
    fig = asyncio.run(agent_memory(args.agent_cameras)) | asyncio.run(
        controller_memory(args.controller_cameras)
    )
    for k, v in fig.items():
        print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")
    keys = ("agent_cameras", "agent_rss_mb", "first_inventory_s", "controller_cameras", "controller_rss_mb")
    print(result_line(**{k: fig[k] for k in keys}))


if __name__ == "__main__":
    main()
