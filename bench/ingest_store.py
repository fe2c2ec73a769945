"""Inventory ingest in the store alone (no MQTT): first sight of every camera, then a steady re-inventory.

bench/ingest.py measures the whole hub path, first sight only; a site re-reports its cameras every round, so the
steady path (cameras known, most columns unchanged) is what a controller mostly runs. Reports of 200 cameras (the
agent's chunk) from 20 agents, SQLite (and PostgreSQL with --postgres), fresh database each run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_seconds, machine, result_line, rows
from controller.store import Store


async def run(url: str, cameras: int, rounds: int) -> dict[str, float]:
    store = Store(url)
    await store.open()
    try:
        by_agent: dict[str, list[Any]] = {}
        for r in rows(cameras):
            by_agent.setdefault(r.agent_id, []).append(r)
        reports = [(a, cams[i : i + 200]) for a, cams in by_agent.items() for i in range(0, len(cams), 200)]
        out: dict[str, float] = {}
        seq = 0
        for n in range(rounds):
            label = "first" if n == 0 else "steady"
            t0, c0 = time.perf_counter(), cpu_seconds()
            for agent, part in reports:
                seq += 1
                now = time.time()
                for r in part:  # each round is a new observation
                    r.observed_at = now
                await store.ingest_cameras(agent, part, full=False, removed=[], seq=seq)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            out[f"{label}_cameras_per_s"] = max(out.get(f"{label}_cameras_per_s", 0.0), cameras / wall)
            out[f"{label}_cpu_ms_per_camera"] = min(
                out.get(f"{label}_cpu_ms_per_camera", 1e9), 1000 * cpu / cameras
            )
            print(f"{label}: {cameras / wall:,.0f} cameras/s, {1000 * cpu / cameras:.3f} ms CPU per camera "
                  f"({wall:.2f} s wall)", file=sys.stderr)  # fmt: skip
        return out
    finally:
        await store.close()


async def main_async(cameras: int, rounds: int, postgres: bool) -> dict[str, Any]:
    fig: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="camfleet-bench-ingest-") as d:
        print("SQLite", file=sys.stderr)
        fig |= {f"sqlite_{k}": v for k, v in (await run(str(Path(d) / "fleet.db"), cameras, rounds)).items()}
    if postgres:
        from devstack.pg import running_postgres

        with running_postgres() as pg:
            pg.psql('CREATE DATABASE "bench" OWNER camfleet')
            print("PostgreSQL", file=sys.stderr)
            fig |= {f"pg_{k}": v for k, v in (await run(pg.dsn("bench"), cameras, rounds)).items()}
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=10_000)
    ap.add_argument(
        "--rounds", type=int, default=4, help="the first is first sight, the rest steady (best kept)"
    )
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument("--quick", action="store_true", help="600 cameras, 2 rounds, SQLite (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.rounds, args.postgres = 600, 2, False
    print(machine(), file=sys.stderr)
    print(result_line(**asyncio.run(main_async(args.cameras, args.rounds, args.postgres))))


if __name__ == "__main__":
    main()
