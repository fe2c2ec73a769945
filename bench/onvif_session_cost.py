"""Measure what 1,000 per-camera ONVIF objects cost: agent OnvifSession vs onvif-zeep-async ONVIFCamera.

No network: both sides build everything a devicemgmt call needs (WSDL document, zeep clients, service
proxies, aiohttp sessions/connectors) but send nothing. Run: python bench/onvif_session_cost.py [N]
"""

from __future__ import annotations

import asyncio
import gc
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from onvif import ONVIFCamera

from agent.credentials import Credentials
from agent.http import HttpPool
from agent.onvif_session import OnvifSession, device_document


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _measure(
    name: str, n: int, make: Callable[[int], Awaitable[Any]], close: Callable[[Any], Awaitable[None]]
) -> None:
    gc.collect()
    rss0 = _rss_mb()
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    objs = [await make(i) for i in range(n)]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = _rss_mb()
    print(
        f"{name:<14} n={n} build_wall={wall:.2f}s cpu_per_obj={cpu / n * 1000:.2f}ms "
        f"py_heap={current / 2**20:.1f}MiB ({current / n / 1024:.1f}KiB/obj) rss_delta={rss1 - rss0:.1f}MiB"
    )
    for o in objs:
        await close(o)


async def main(n: int, which: str = "both") -> None:
    await device_document()  # both sides share onvif's process-wide parsed WSDL; parse it outside the timing
    pool = HttpPool(concurrency=64)
    creds = Credentials("admin", "pw")

    async def make_session(i: int) -> OnvifSession:
        s = OnvifSession(f"127.0.{4 + i // 250}.{i % 250 + 1}", 80, creds, pool=pool)
        s.auth_scheme, s.clock_offset_s = "wsse", 0.0
        await s._client(authenticated=False)  # what setup builds: anonymous + authenticated zeep clients
        await s._client(authenticated=True)
        return s

    async def close_session(s: OnvifSession) -> None:
        await s.close()

    async def make_camera(i: int) -> ONVIFCamera:
        cam = ONVIFCamera(f"127.0.{4 + i // 250}.{i % 250 + 1}", 80, "admin", "pw", no_cache=True)
        await cam.create_devicemgmt_service()
        return cam

    async def close_camera(cam: ONVIFCamera) -> None:
        await cam.close()

    if which in ("both", "session"):
        await _measure("OnvifSession", n, make_session, close_session)
    if which in ("both", "camera"):
        await _measure("ONVIFCamera", n, make_camera, close_camera)
    await pool.close()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    if mode:
        asyncio.run(main(count, mode))
    else:
        # One fresh process per side, so RSS deltas do not include the other side's freed memory.
        for side in ("session", "camera"):
            subprocess.run([sys.executable, __file__, str(count), side], check=True)
