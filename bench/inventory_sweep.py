"""Full agent inventory vs a naive sequential onvif-zeep-async loop over one camsim fleet (issue 4 benchmark).

camsim runs as `--camsim-procs` subprocesses, each serving a slice of the fleet on its own addresses (so CPU and
RSS below are the agent's alone, and one busy camsim process does not set the agent's pace), with a fixed reply
latency. The agent
side is CameraFleet.inventory_results() (ONVIF reads gated on capabilities, vendor API probing, attribution,
CVEs, risk). The naive side is one ONVIFCamera per camera, awaited in turn, reading the same ONVIF operations.
`--quick` times the naive loop on a sample and extrapolates.

Run:  python bench/inventory_sweep.py [--cameras 1000] [--latency-ms 50] [--concurrency 64] [--camsim-procs 2]
                                     [--quick] [--workers 1 --workers 2]
`--workers N` shards the agent's sweep over N worker processes (agent.inventory_shards, as `camfleet-agent
inventory --workers N`); CPU is then the bench process's plus its waited-for children's, RSS the sum of the
processes' peaks.
Last line: speedup=<x> cpu_ms_per_camera=<y> rss_mb=<z>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import json
import os
import re
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO
from urllib.request import urlopen

from onvif import ONVIFCamera

from agent.credentials import Credentials
from agent.fleet import CameraFleet
from agent.inventory_shards import ShardedSweep
from agent.onvif_session import WSDL_DIR
from agent.targets import Target

CAMSIM = str(Path(sys.executable).with_name("camsim"))
READY = re.compile(r"camsim ready: (\d+) cameras .* control=(http://127\.0\.0\.1:\d+)")
NAIVE_OPS = ("GetDeviceInformation", "GetScopes", "GetNetworkInterfaces", "GetNetworkProtocols", "GetDNS",
             "GetNTP", "GetNetworkDefaultGateway", "GetZeroConfiguration", "GetDiscoveryMode", "GetDynamicDNS",
             "GetIPAddressFilter", "GetUsers")  # fmt: skip


def peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM of its memory map. Not ru_maxrss, which Linux carries over an exec from
    the process that spawned it: a --code child then reported the bench parent's RSS whenever that was larger (the
    parent holds every earlier run's records for the field-by-field comparison, so later rounds read 147-444 MB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start VmHWM afresh (Linux >= 4.0): one run's figure must not be an earlier run's peak in this process."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def requests_served(controls: list[str]) -> int:
    total = 0
    for control in controls:
        with urlopen(control + "/stats", timeout=10) as r:
            total += int(json.loads(r.read())["requests"])
    return total


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of other processes (camsim), from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def start_camsim(
    n: int, latency_ms: float, port: int, out: Path, shard: int
) -> tuple[subprocess.Popen[str], str]:
    """One camsim process serving n cameras from its own block of 127.x addresses (own seed: own MACs and serials);
    a shard of up to 2,540 cameras fits its block of ten /24s."""
    proc = subprocess.Popen(
        [CAMSIM, "--cameras", str(n), "--seed", str(1 + shard), "--latency", f"{latency_ms:g}ms",
         "--port", str(port), "--base-address", f"127.{1 + shard // 20}.{20 + 10 * (shard % 20)}.1", "--control-port", "0",
         "--no-discovery", "--export", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        m = READY.search(line)
        if m:
            # Keep draining its output so a chatty camsim never blocks on a full pipe.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(2)
    raise SystemExit("camsim did not start")


def load(out: Path) -> list[Target]:
    with (out / "targets.csv").open() as fh:
        return [
            Target(r["host"], int(r["port"]), Credentials(r["username"], r["password"]))
            for r in csv.DictReader(fh)
        ]


def interleave(groups: list[list[Target]]) -> list[Target]:
    """Round-robin over the shards, so the naive sample and the agent's first wave hit every camsim."""
    out: list[Target] = []
    for i in range(max(len(g) for g in groups)):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def read_records(path: Path) -> dict[str, Any]:
    """The records a child wrote, by camera, as JSON without what differs between two reads of the same camera
    (time read, clock offset)."""
    from google.protobuf.json_format import MessageToDict

    from protos.camfleet.v1 import camfleet_pb2 as pb

    out: dict[str, Any] = {}
    data = path.read_bytes()
    at = 0
    while at < len(data):
        (size,) = struct.unpack_from("!I", data, at)
        rec = pb.CameraRecord.FromString(data[at + 4 : at + 4 + size])
        at += 4 + size
        rec.ClearField("observed_at")
        rec.ClearField("clock_offset_s")
        out[rec.camera_id] = MessageToDict(rec)
    return out


async def agent_inventory(
    targets: list[Target],
    concurrency: int,
    read_path: str,
    check_rounds: int,
    controls: list[str],
    keep: BinaryIO | None = None,
    workers: int = 1,
    worker_rss: list[float] | None = None,
) -> tuple[float, float, int, int, int, list[float]]:
    """(wall s, cpu s, cameras ok, cameras total, requests camsim served during the sweep, CPU s of each check
    round). Records are consumed as they stream out (like `camfleet-agent inventory --json`), not held; then
    `check_rounds` cheap checks of every camera (one process only: workers keep no sessions after the sweep).
    With workers > 1 the CPU includes the workers' (waited for, so in RUSAGE_CHILDREN; camsim is not waited for
    until the end) and `worker_rss` receives each worker's peak RSS."""
    r0 = requests_served(controls)
    t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
    ok = total = 0
    async with CameraFleet(targets, concurrency=concurrency, timeout=10.0, read_path=read_path) as fleet:  # type: ignore[arg-type]
        sweep = ShardedSweep(fleet, workers) if workers > 1 else None
        async for r in sweep.stream() if sweep is not None else fleet.inventory_stream():
            ok += r.ok
            total += 1
            if keep is not None:
                # Serialised as each camera finishes (held records would count in the RSS measured here).
                keep.write(struct.pack("!I", r.record.ByteSize()) + r.record.SerializeToString())
        wall, own, workers_cpu = time.perf_counter() - t0, time.process_time() - c0, children_cpu() - k0
        cpu = own + workers_cpu
        served = requests_served(controls) - r0  # a blocking local call, outside the timed part
        if sweep is not None:
            print(f"  CPU: parent {own:.1f}s (reading the workers' streams), workers {workers_cpu:.1f}s "
                  f"(" + " + ".join(f"{w.cpu_s:.1f}" for w in sweep.stats) + "s by their own count); parent peak RSS "
                  f"{peak_rss_mb():.0f} MB")  # fmt: skip
            if worker_rss is not None:
                worker_rss.extend(w.rss_mb for w in sweep.stats)
        rounds = []
        for _ in range(check_rounds if sweep is None else 0):
            c1 = time.process_time()
            stale = await fleet.check()
            rounds.append(time.process_time() - c1)
            if stale:
                print(f"  check round: {len(stale)} cameras to re-read")
    return wall, cpu, ok, total, served, rounds


async def naive_one(t: Target) -> bool:
    cam = ONVIFCamera(t.host, t.port, t.credentials.username, t.credentials.password, str(WSDL_DIR))
    ok = True
    try:
        await asyncio.wait_for(cam.update_xaddrs(), 30)
        dev = await cam.create_devicemgmt_service()
        for op in NAIVE_OPS:
            try:
                await asyncio.wait_for(getattr(dev, op)(), 30)
            except Exception:
                ok = ok and op not in ("GetDeviceInformation",)
    except Exception:
        ok = False
    finally:
        await cam.close()
    return ok


async def naive_loop(targets: list[Target]) -> tuple[float, int]:
    t0 = time.perf_counter()
    ok = 0
    for t in targets:
        ok += await naive_one(t)
    return time.perf_counter() - t0, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--port", type=int, default=18554)
    ap.add_argument("--camsim-procs", type=int, default=2, help="camsim processes sharing the fleet")
    ap.add_argument("--quick", action="store_true", help="time the naive loop on a sample and extrapolate")
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--profile", type=Path, help="write a cProfile (pstats, CPU time) file of the agent side")
    ap.add_argument(
        "--read-path",
        choices=("fast", "zeep", "both"),
        default="both",
        help="ONVIF read path(s) of the agent; 'both' runs zeep then fast over the same fleet",
    )
    ap.add_argument("--no-naive", action="store_true", help="skip the naive loop (agent figures only)")
    ap.add_argument("--workers", type=int, action="append", default=[],
                    help="agent worker processes (camfleet-agent inventory --workers); repeat to compare in one run")  # fmt: skip
    ap.add_argument(
        "--check-rounds", type=int, default=3, help="cheap check rounds after the sweep (steady state)"
    )
    ap.add_argument(
        "--code",
        action="append",
        type=Path,
        default=[],
        help="run the agent side from this source tree (e.g. a `git archive` of main) in a child process; "
        "repeat to measure several trees over the same fleet, in turn, in one run (--rounds times)",
    )
    ap.add_argument(
        "--rounds", type=int, default=1, help="with --code: how many times each tree runs, alternating"
    )
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # internal: run the agent side, print JSON
    args = ap.parse_args()
    if args.child is not None:
        child(args)
        return
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            k = max(1, min(args.camsim_procs, args.cameras))
            controls, groups = [], []
            for shard in range(k):
                out = Path(tmp) / str(shard)
                n = args.cameras // k + (shard < args.cameras % k)
                proc, control = start_camsim(n, args.latency_ms, args.port, out, shard)
                procs.append(proc)
                controls.append(control)
                groups.append(load(out))
            targets = interleave(groups)
            pids = [p.pid for p in procs]
            if args.code:
                compare_trees(args, targets, controls, pids, Path(tmp))
                return
            paths = ["zeep", "fast"] if args.read_path == "both" else [args.read_path]
            walls: dict[str, float] = {}
            line = ""
            runs = [(path, n) for path in paths for n in (args.workers or [1])]
            for read_path, workers in runs:
                s0 = cpu_seconds(pids)
                reset_peak_rss()
                worker_rss: list[float] = []
                # CPU-time timer: on a shared, loaded machine wall-clock profiles mostly show descheduling.
                profiler = cProfile.Profile(time.process_time) if args.profile else None
                if profiler is not None:
                    profiler.enable()
                wall, cpu, ok, total, reqs, rounds = asyncio.run(
                    agent_inventory(
                        targets,
                        args.concurrency,
                        read_path,
                        args.check_rounds,
                        controls,
                        workers=workers,
                        worker_rss=worker_rss,
                    )
                )
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(f"{args.profile}.{read_path}")
                rss = peak_rss_mb() + sum(worker_rss)
                sim_cpu = cpu_seconds(pids) - s0
                per_cam = reqs / max(1, total)
                lat = args.latency_ms / 1000
                floor = max(reqs * lat / args.concurrency, per_cam * lat)
                walls[read_path] = wall
                procs_note = f", {workers} workers: RSS {' + '.join(f'{r:.0f}' for r in worker_rss)} MB + parent" if (
                    workers > 1) else ""  # fmt: skip
                print(f"agent ({read_path} reads{procs_note}): {total} cameras ({ok} fully read) in {wall:.1f}s; {reqs} requests "
                      f"({per_cam:.1f}/camera); CPU {cpu:.1f}s ({cpu / total * 1000:.1f} ms/camera); "
                      f"peak RSS {rss:.0f} MB")  # fmt: skip
                print(f"  camsim ({k} processes): CPU {sim_cpu:.1f}s during the agent's run "
                      f"({sim_cpu / max(wall, 1e-9) / k * 100:.0f}% of a core each)")  # fmt: skip
                print(f"  latency-bound floor: max({reqs} x {args.latency_ms:g} ms / {args.concurrency}, "
                      f"{per_cam:.1f} serial requests x {args.latency_ms:g} ms) = {floor:.1f}s "
                      f"(agent at {wall / floor:.2f}x the floor)")  # fmt: skip
                if rounds:
                    per = [r / total * 1000 for r in rounds]
                    print(f"  steady state: {len(rounds)} check rounds, CPU per camera per round "
                          + ", ".join(f"{p:.3f}" for p in per) + " ms (the first only learns each camera's sign)")  # fmt: skip
                line = (f"cpu_ms_per_camera={cpu / total * 1000:.1f} rss_mb={rss:.0f} requests_per_camera={per_cam:.1f}"
                        f" floor_ratio={wall / floor:.2f} workers={workers} wall_s={wall:.1f}")  # fmt: skip
                print(line)
            if "zeep" in walls and "fast" in walls:
                print(f"fast vs zeep read path: {walls['zeep'] / walls['fast']:.2f}x wall")
            if args.no_naive:
                return  # each run's figures line is printed above
            sample = targets[: args.sample] if args.quick else targets
            nwall, nok = asyncio.run(naive_loop(sample))
            naive_total = nwall * len(targets) / len(sample)
            kind = f"extrapolated from {len(sample)} cameras" if args.quick else "measured"
            print(f"naive sequential onvif-zeep-async: {naive_total:.1f}s ({kind}; {nok}/{len(sample)} read)")
            speedup = naive_total / walls[paths[-1]]
            print(f"speedup {speedup:.1f}x")
            print(f"speedup={speedup:.1f} {line}")
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)


def child(args: argparse.Namespace) -> None:
    """One agent sweep in this process (imported from the tree on PYTHONPATH), its figures as one JSON line."""
    spec = json.loads(args.child.read_text())
    targets = [Target(h, p, Credentials(u, pw)) for h, p, u, pw in spec["targets"]]
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler is not None:
        profiler.enable()
    with Path(spec["records"] + f".{os.getpid()}").open("wb") as keep:
        wall, cpu, ok, total, reqs, rounds = asyncio.run(
            agent_inventory(
                targets, args.concurrency, args.read_path, args.check_rounds, spec["controls"], keep
            )
        )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    print(json.dumps({"wall": wall, "cpu": cpu, "ok": ok, "total": total, "requests": reqs, "rounds": rounds,
                      "rss_mb": peak_rss_mb(), "records": spec["records"] + f".{os.getpid()}"}))  # fmt: skip


def first_difference(a: dict[str, Any], b: dict[str, Any], cid: str) -> str:
    left, right = a.get(cid) or {}, b.get(cid) or {}
    keys = sorted(k for k in left.keys() | right.keys() if left.get(k) != right.get(k))
    detail = "; ".join(
        f"{k}: {json.dumps(left.get(k))[:800]} != {json.dumps(right.get(k))[:800]}" for k in keys[:2]
    )
    return f"{cid} {detail}"


def compare_trees(
    args: argparse.Namespace, targets: list[Target], controls: list[str], pids: list[int], tmp: Path
) -> None:
    """Each --code tree sweeps the same fleet in its own process, in turn (ABAB... with --rounds): ratios measured
    side by side under the same load."""
    spec = tmp / "child.json"
    spec.write_text(json.dumps({"controls": controls, "records": str(tmp / "records"), "targets": [
        [t.host, t.port, t.credentials.username, t.credentials.password] for t in targets]}))  # fmt: skip
    reference: dict[str, Any] | None = None
    cpu_by: dict[str, list[float]] = {}
    wall_by: dict[str, list[float]] = {}
    line = ""
    for rnd in range(args.rounds):
        for i, tree in enumerate(args.code):
            name = f"{i}:{tree.resolve().name}"
            cmd = [sys.executable, __file__, "--child", str(spec), "--concurrency", str(args.concurrency),
                   "--read-path", "fast" if args.read_path == "both" else args.read_path,
                   "--check-rounds", str(args.check_rounds)]  # fmt: skip
            if args.profile:
                cmd += ["--profile", f"{args.profile}.{i}.{rnd}"]
            env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
            load = os.getloadavg()[0]
            s0 = cpu_seconds(pids)
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{name}: agent run failed\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
            sim_cpu = cpu_seconds(pids) - s0
            total, reqs = max(1, r["total"]), r["requests"]
            per_cam = reqs / total
            lat = args.latency_ms / 1000
            floor = max(reqs * lat / args.concurrency, per_cam * lat)
            ms = r["cpu"] / total * 1000
            cpu_by.setdefault(name, []).append(ms)
            wall_by.setdefault(name, []).append(r["wall"])
            rounds = ", ".join(f"{x / total * 1000:.3f}" for x in r["rounds"])
            print(f"[{name} round {rnd + 1}, load {load:.1f}] {r['total']} cameras ({r['ok']} fully read) in "
                  f"{r['wall']:.1f}s; {per_cam:.1f} requests/camera; CPU {r['cpu']:.1f}s ({ms:.2f} ms/camera); "
                  f"peak RSS {r['rss_mb']:.0f} MB; floor {floor:.1f}s (x{r['wall'] / floor:.2f}); camsim CPU "
                  f"{sim_cpu:.1f}s; check rounds (ms/camera) {rounds}")  # fmt: skip
            line = (f"cpu_ms_per_camera={ms:.1f} rss_mb={r['rss_mb']:.0f} requests_per_camera={per_cam:.1f}"
                    f" floor_ratio={r['wall'] / floor:.2f}")  # fmt: skip
            records = read_records(Path(r["records"]))
            if reference is None:
                reference = records
            else:
                differ = sorted(cid for cid in reference.keys() | records.keys()
                                if reference.get(cid) != records.get(cid))  # fmt: skip
                print(f"  records field by field against the first run: {len(records) - len(differ)} of "
                      f"{len(reference)} the same" + (f"; first differing: {first_difference(reference, records, differ[0])}"
                                                      if differ else ""))  # fmt: skip
    for name, values in cpu_by.items():
        print(f"{name}: CPU ms/camera " + ", ".join(f"{v:.2f}" for v in values))
    if not args.no_naive:
        # The naive loop over the same fleet in the same run, so each tree's speed-up is a ratio under one load.
        sample = targets[: args.sample] if args.quick else targets
        nwall, nok = asyncio.run(naive_loop(sample))
        naive_total = nwall * len(targets) / len(sample)
        kind = f"extrapolated from {len(sample)} cameras" if args.quick else "measured"
        print(f"naive sequential onvif-zeep-async: {naive_total:.1f}s ({kind}; {nok}/{len(sample)} read)")
        for name, walls in wall_by.items():
            print(f"{name}: speed-up " + ", ".join(f"{naive_total / w:.1f}x" for w in walls))
    print(line)


if __name__ == "__main__":
    main()
