"""The README's main job: bring up a simulated camera fleet and show what it holds."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]


async def wait_ready(url: str, proc: asyncio.subprocess.Process, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
        while time.monotonic() < end:
            if proc.returncode is not None:
                raise SystemExit(f"camsim exited early with code {proc.returncode}")
            try:
                async with s.get(f"{url}/health") as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"camsim did not become ready within {deadline_s:.0f} s")


async def fetch_cameras(url: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s,
        s.get(f"{url}/cameras") as r,
    ):
        r.raise_for_status()
        body = await r.json()
    return list(body["cameras"] if isinstance(body, dict) else body)


def summarise(truth: list[dict[str, Any]], live: list[dict[str, Any]]) -> str:
    by_origin = collections.Counter(t["true_manufacturer"] for t in truth)
    oem = collections.Counter(t["true_manufacturer"] for t in truth if t.get("oem_brand"))
    brands = collections.Counter(t["oem_brand"] for t in truth if t.get("oem_brand"))
    cloud = sum(1 for c in live if c.get("cloud_reachable"))
    lines = [f"cameras total: {len(truth)}", "by manufacturer of origin (OEM rebrands included):"]
    for maker, n in by_origin.most_common():
        extra = f"  ({oem[maker]} sold under another brand)" if oem[maker] else ""
        lines.append(f"  {maker:<10} {n:>5}{extra}")
    if brands:
        lines.append("OEM brands: " + ", ".join(f"{b} {n}" for b, n in brands.most_common()))
    covered = sum(n for m, n in by_origin.items() if m in ("hikvision", "dahua"))
    lines.append(f"NDAA-889 makers (Hikvision, Dahua): {covered}")
    lines.append(f"cloud-reachable right now: {cloud} of {len(live)}")
    return "\n".join(lines)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--control-port", type=int, default=8089)
    ap.add_argument("--state-dir", type=Path, default=REPO / "demo-state")
    ap.add_argument("--once", action="store_true", help="print the summary and stop (used by the tests)")
    args = ap.parse_args()

    args.state_dir.mkdir(parents=True, exist_ok=True)
    camsim = Path(sys.executable).with_name("camsim")
    cmd = [
        str(camsim), "--cameras", str(args.cameras), "--seed", str(args.seed), "--port", str(args.port),
        "--control-port", str(args.control_port), "--export", str(args.state_dir), "--latency", "20ms",
        "--state", str(args.state_dir / "camsim-state.json"),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd)
    control = f"http://127.0.0.1:{args.control_port}"
    try:
        await wait_ready(control, proc, deadline_s=60)
        truth = json.loads((args.state_dir / "truth.json").read_text())
        live = await fetch_cameras(control)
        print()
        print("camfleet demo: simulated camera fleet is up")
        print(summarise(truth, live))
        print(f"camera list for the agent: {args.state_dir / 'targets.csv'}")
        print(f"camsim control API (live camera state): {control}/cameras")
        if args.once:
            return 0
        print("Ctrl-C stops the demo.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
