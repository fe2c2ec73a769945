"""Benchmark: start a 1,000-camera camsim, measure time-to-ready and RSS, then drive a few hundred requests."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

CAMSIM = str(Path(sys.executable).with_name("camsim"))
GET_DATE = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    b'<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
)
GET_INFO = GET_DATE.replace(b"GetSystemDateAndTime", b"GetDeviceInformation")
SOAP_CT = {"Content-Type": "application/soap+xml; charset=utf-8"}
TIMEOUT = aiohttp.ClientTimeout(total=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


async def drive(targets: list[list[str]], n_plain: int, n_auth: int) -> list[float]:
    """n_plain pre-auth GetSystemDateAndTime to random cameras, n_auth HTTP-digest GetDeviceInformation."""
    rng = random.Random(1)
    latencies: list[float] = []
    auth_status: dict[int, int] = {}
    sem = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=aiohttp.TCPConnector(limit=64)) as s:

        async def plain(host: str, port: str) -> None:
            async with sem:
                t0 = time.perf_counter()
                async with s.post(
                    f"http://{host}:{port}/onvif/device_service", data=GET_DATE, headers=SOAP_CT
                ) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{host}: HTTP {r.status}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(plain(*rng.choice(targets)[:2]) for _ in range(n_plain)))

    async def authed(host: str, port: str, user: str, password: str) -> None:
        async with sem:
            mw = aiohttp.DigestAuthMiddleware(login=user, password=password)
            async with aiohttp.ClientSession(timeout=TIMEOUT, middlewares=(mw,)) as s:
                t0 = time.perf_counter()
                async with s.post(
                    f"http://{host}:{port}/onvif/device_service", data=GET_INFO, headers=SOAP_CT
                ) as r:
                    await r.read()
                    # A share of the fleet accepts only WS-Security (issue 3), so digest gets refused there.
                    auth_status[r.status] = auth_status.get(r.status, 0) + 1
                latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(authed(*t) for t in rng.sample(targets, n_auth)))
    print(f"digest GetDeviceInformation statuses: {dict(sorted(auth_status.items()))}")
    return latencies


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--authed", type=int, default=100)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            CAMSIM, "--cameras", str(args.cameras), "--seed", "1", "--port", str(port),
            "--control-port", "0", "--export", tmp,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            while True:
                line = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode()
                if not line:
                    raise RuntimeError("camsim exited before it was ready")
                if line.startswith("camsim ready:"):
                    break
            startup_s = time.perf_counter() - t0
            rss_ready = rss_mb(proc.pid)
            print(line.strip())
            print((await proc.stdout.readline()).decode().strip())
            with (Path(tmp) / "targets.csv").open(newline="") as fh:
                targets = list(csv.reader(fh))[1:]
            t1 = time.perf_counter()
            lat = await drive(targets, args.requests, args.authed)
            elapsed = time.perf_counter() - t1
            rss_after = rss_mb(proc.pid)
            lat.sort()
            print(
                f"requests={len(lat)} in {elapsed:.2f}s ({len(lat) / elapsed:.0f}/s) "
                f"p50_ms={statistics.median(lat) * 1000:.1f} p95_ms={lat[int(len(lat) * 0.95)] * 1000:.1f}"
            )
            fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
            # ~1 TCP listener per camera, plus ~1 UDP socket per camera when WS-Discovery could bind.
            print(f"rss_ready_mb={rss_ready:.0f} rss_after_requests_mb={rss_after:.0f} open_fds={fds}")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout=20)
    print(f"cameras={args.cameras} startup_s={startup_s:.2f} rss_mb={max(rss_ready, rss_after):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
