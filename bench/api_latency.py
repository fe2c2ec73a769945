"""Dashboard and API latency: p50/p95 of overview, cameras page, CSV and JSON export at 10,000 and 50,000 cameras."""

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

from bench.common import ControllerProc, machine, pct, result_line, rss_mb, seed

# (label, path, uses the dashboard session (True) or the API token (False))
ENDPOINTS = [
    ("overview_html", "/", True),
    ("summary_api", "/api/v1/summary", False),
    ("cameras_html", "/cameras?page={page}", True),
    ("cameras_api", "/api/v1/cameras?limit=50&offset={offset}", False),
    ("export_csv", "/api/v1/export?format=csv", False),
    ("export_json", "/api/v1/export?format=json", False),
]


async def timed(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    async with session.get(url, headers=headers, allow_redirects=False) as r:
        body = await r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {r.status}")
    return (time.perf_counter() - t0) * 1000, len(body)


async def measure(ctl: ControllerProc, cameras: int, reps: int, export_reps: int) -> dict[str, Any]:
    """Requests one at a time (latency, not throughput); different pages so no cache answers twice."""
    out: dict[str, Any] = {}
    api = {"Authorization": f"Bearer {ctl.token}"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await ctl.login(s)
        pages = max(1, cameras // 50)
        for label, path, html in ENDPOINTS:
            n = export_reps if label.startswith("export_") else reps
            times, size = [], 0
            await timed(s, ctl.url + path.format(page=1, offset=0), {} if html else api)  # warm-up
            for k in range(n):
                page = 1 + (k * 37) % pages
                url = ctl.url + path.format(page=page, offset=(page - 1) * 50)
                ms, size = await timed(s, url, {} if html else api)
                times.append(ms)
            out[f"{label}_p50_ms_{cameras}"] = pct(times, 50)
            out[f"{label}_p95_ms_{cameras}"] = pct(times, 95)
            print(f"{cameras} cameras {label}: p50 {pct(times, 50):.1f} ms p95 {pct(times, 95):.1f} ms "
                  f"({n} requests, {size} bytes)", file=sys.stderr)  # fmt: skip
    out[f"controller_rss_mb_{cameras}"] = rss_mb(ctl.pid)
    return out


async def main_async(sizes: list[int], reps: int, export_reps: int) -> dict[str, Any]:
    fig: dict[str, Any] = {}
    ctl = ControllerProc()
    try:
        have = 0
        for n in sorted(sizes):
            secs = await seed(ctl.db, n, start=have)
            print(f"seeded cameras {have}..{n} in {secs:.1f} s", file=sys.stderr)
            have = n
            await ctl.start()
            try:
                fig |= await measure(ctl, n, reps, export_reps)
            finally:
                ctl.stop()
    finally:
        ctl.stop()
        shutil.rmtree(ctl.root, ignore_errors=True)
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,50000", help="comma-separated camera counts, measured in turn")
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--export-reps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="500 cameras, few requests (smoke test)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.quick:
        sizes, args.reps, args.export_reps = [500], 5, 2
    print(machine(), file=sys.stderr)
    fig = asyncio.run(main_async(sizes, args.reps, args.export_reps))
    for k, v in fig.items():
        print(f"{k}: {v:.1f}")
    print(result_line(**{k: v for k, v in fig.items() if "_p95_" in k or k.startswith("controller_rss")}))


if __name__ == "__main__":
    main()
