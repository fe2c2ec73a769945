"""The overview's fleet answer computed afresh (its cache cleared, as after every inventory or census report):
10,000 inventoried cameras, and a census that found 2,000 devices, half of them inventoried cameras."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, pct, record, result_line, seed
from controller import census_api
from controller.census_ingest import census_rows
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


async def main_async(cameras: int, devices: int, reps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="camfleet-bench-fleet-") as d:
        db = Path(d) / "fleet.db"
        print(f"seeded {cameras} cameras in {await seed(db, cameras):.1f} s", file=sys.stderr)
        store = Store(db)
        await store.open()
        try:
            rows = census_rows("agent-000", "site-000", census(cameras, devices))
            await store.ingest_census(rows, agent_id="agent-000", census_id="bench", last_part=True)
            times: list[float] = []
            answer: dict[str, Any] = {}
            for _ in range(reps):
                # What every new report does to the cached answer (code without the cache computes it each time).
                getattr(census_api, "_ANSWERS", {}).clear()
                t0 = time.perf_counter()
                answer = await census_api.fleet_answer(store)
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            await store.close()
    print(f"fleet answer afresh: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms ({reps} times): "
          f"{answer['cameras']} cameras, {answer['inventoried']} inventoried, {answer['census_only']} census only",
          file=sys.stderr)  # fmt: skip
    return {"cameras": cameras, "census_devices": devices, "answer_p50_ms": pct(times, 50),
            "answer_p95_ms": pct(times, 95), "answer_cameras": answer["cameras"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=10_000)
    ap.add_argument(
        "--census", type=int, default=2_000, help="census devices (half of them inventoried cameras)"
    )
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="500 cameras, 100 devices, 3 times (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.census, args.reps = 500, 100, 3
    print(machine(), file=sys.stderr)
    print(result_line(**asyncio.run(main_async(args.cameras, args.census, args.reps))))


if __name__ == "__main__":
    main()
