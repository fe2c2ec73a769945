"""The overview's fleet answer: computed afresh (its cache cleared), and, with --stream, what it costs while agents
report: each agent's cameras re-reported with a new observation (risk, cloud exposure, the record; one report in
--relevant also changes a camera's origin) and the answer asked after every report, as the live overview does on
each event. 10,000 inventoried cameras and a census that found 2,000 devices, half of them inventoried cameras."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, pct, record, result_line, seed
from controller import census_api
from controller.census_ingest import census_rows
from controller.ingest import camera_row
from controller.store import Store
from protos.camfleet.v1 import camfleet_pb2 as pb


def census(cameras: int, devices: int) -> pb.CensusReport:
    """Half the devices are inventoried cameras (same serial and MAC), half are unknown to the inventory."""
    rep = pb.CensusReport(census_id="bench")
    for i in range(devices):
        if i % 2 == 0:
            rec = record((i * 7) % cameras, "agent-000", "site-000")
            d = rep.devices.add(host=rec.host, serial=rec.identity.serial, macs=list(rec.identity.macs))
            d.status = pb.CENSUS_STATUS_INVENTORIED
        else:
            d = rep.devices.add(host=f"10.200.{i >> 8 & 255}.{i & 255}", serial=f"UNKNOWN{i:08d}")
            d.status = pb.CENSUS_STATUS_IDENTIFIED
        d.origin.manufacturer = "hikvision"
    rep.at.GetCurrentTime()
    return rep


@contextlib.asynccontextmanager
async def seeded_store(cameras: int, devices: int, agents: int = 20) -> AsyncIterator[Store]:
    """A throwaway SQLite store with `cameras` inventoried (by `agents` agents) and one census of `devices`."""
    with tempfile.TemporaryDirectory(prefix="camfleet-bench-fleet-") as d:
        db = Path(d) / "fleet.db"
        print(f"seeded {cameras} cameras in {await seed(db, cameras, agents=agents):.1f} s", file=sys.stderr)
        store = Store(db)
        await store.open()
        try:
            rows = census_rows("agent-000", "site-000", census(cameras, devices))
            await store.ingest_census(rows, agent_id="agent-000", census_id="bench", last_part=True)
            yield store
        finally:
            await store.close()


async def main_async(cameras: int, devices: int, reps: int) -> dict[str, Any]:
    async with seeded_store(cameras, devices) as store:
        times: list[float] = []
        answer: dict[str, Any] = {}
        for _ in range(reps):
            # What every new report does to the cached answer (code without the cache computes it each time).
            getattr(census_api, "_ANSWERS", {}).clear()
            t0 = time.perf_counter()
            answer = await census_api.fleet_answer(store)
            times.append((time.perf_counter() - t0) * 1000)
    print(f"fleet answer afresh: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms ({reps} times): "
          f"{answer['cameras']} cameras, {answer['inventoried']} inventoried, {answer['census_only']} census only",
          file=sys.stderr)  # fmt: skip
    return {"cameras": cameras, "census_devices": devices, "answer_p50_ms": pct(times, 50),
            "answer_p95_ms": pct(times, 95), "answer_cameras": answer["cameras"]}  # fmt: skip


async def stream_async(cameras: int, devices: int, reports: int, relevant: int) -> dict[str, Any]:
    """`reports` inventory reports (agents in turn, all their cameras) each followed by the answer; the time and
    CPU spent in the answer (this process: the event loop and SQLite's threads), and how often it was computed."""
    agents = 20
    async with seeded_store(cameras, devices, agents) as store:
        # The same census again (a later run): what checking it for changes costs.
        t0 = time.perf_counter()
        again = census(cameras, devices)
        again.census_id = "bench2"
        rows = census_rows("agent-000", "site-000", again)
        await store.ingest_census(rows, agent_id="agent-000", census_id="bench2", last_part=True)
        census_ms = (time.perf_counter() - t0) * 1000
        await census_api.fleet_answer(store)
        computed0 = getattr(census_api, "computations", lambda _s: -1)(store)
        wall: list[float] = []
        ingest: list[float] = []
        got: dict[str, Any] = {}
        cpu = 0.0
        seq = int(time.time() * 1000) + 1
        for n in range(reports):
            a = n % agents
            aid, site = f"agent-{a:03d}", f"site-{a:03d}"
            rng = random.Random(n)
            recs = [record(i, aid, site, rng=rng) for i in range(a, cameras, agents)]
            if relevant and n % relevant == relevant - 1:
                recs[0].origin.manufacturer = f"maker-{n}"  # new each time: always a change
            t0 = time.perf_counter()
            await store.ingest_cameras(aid, [camera_row(aid, site, r) for r in recs], full=True, removed=[],
                                       seq=seq + n)  # fmt: skip
            ingest.append((time.perf_counter() - t0) * 1000)
            t0, c0 = time.perf_counter(), time.process_time()
            got = await census_api.fleet_answer(store)
            cpu += time.process_time() - c0
            wall.append((time.perf_counter() - t0) * 1000)
        computed = getattr(census_api, "computations", lambda _s: -1)(store)
    print(f"{reports} reports, answer after each: p50 {pct(wall, 50):.1f} ms, p95 {pct(wall, 95):.1f} ms, "
          f"CPU {cpu * 1000:.0f} ms in all, computed {computed - computed0 if computed >= 0 else '?'} times",
          file=sys.stderr)  # fmt: skip
    return {"cameras": cameras, "reports": reports, "relevant_every": relevant,
            "stream_answer_p50_ms": pct(wall, 50), "stream_answer_p95_ms": pct(wall, 95),
            "stream_answer_cpu_ms": cpu * 1000, "stream_ingest_p50_ms": pct(ingest, 50),
            "census_again_ms": census_ms, "answer_census_devices": got["census_devices"],
            "stream_computed": computed - computed0 if computed >= 0 else -1}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=10_000)
    ap.add_argument(
        "--census", type=int, default=2_000, help="census devices (half of them inventoried cameras)"
    )
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--stream", type=int, default=0, metavar="N",
                    help="instead: N inventory reports, the answer asked after each")  # fmt: skip
    ap.add_argument("--relevant", type=int, default=10, metavar="K",
                    help="with --stream: every Kth report changes a camera's origin (0: none)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="500 cameras, 100 devices, 3 times (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.census, args.reps = 500, 100, 3
    print(machine(), file=sys.stderr)
    if args.stream:
        got = asyncio.run(stream_async(args.cameras, args.census, args.stream, args.relevant))
    else:
        got = asyncio.run(main_async(args.cameras, args.census, args.reps))
    print(result_line(**got))


if __name__ == "__main__":
    main()
