"""Agent CPU per camera as instructions counted by callgrind: a figure a shared, noisy machine cannot move.

CPU seconds per camera (bench/inventory_sweep.py) swing +-20 % with whatever else the 2-core machine runs, which
hides any change worth less than that. valgrind's callgrind counts the instructions the agent process executes
(user space; the kernel's share, ~10 % of a sweep, is not in it), the same total for the same code and inputs
whatever the load. Each tree runs twice under callgrind over one camsim fleet (no latency): once sweeping only the
warm-up cameras (imports, WSDL, decoder shapes, rule caches), once sweeping the warm-up and then the measured
cameras; the difference over the measured cameras is the steady cost of one camera's full inventory. With
`--workers N` the sweeps run sharded over N worker processes (agent.inventory_shards), callgrind follows them, and
the figures are summed over the parent and its workers.

Run:  python bench/agent_instructions.py [--cameras 100] [--warmup 20] [--workers N] [--code TREE ...]
Needs valgrind (Debian package). Last line: instructions_per_camera=<M> (millions, the last tree's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inventory_sweep import interleave, load, start_camsim  # noqa: E402

COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")

# The child: one process, the tree's agent on PYTHONPATH; sweeps the cameras of `spec` in two fleets (warm-up,
# then measured), each fleet's cameras in turn, on the loop the agent's commands run on.
CHILD = """
import asyncio, json, sys
from agent.credentials import Credentials
from agent.fleet import CameraFleet
from agent.targets import Target
spec = json.load(open(sys.argv[1]))

async def sweep(rows):
    ok = 0
    targets = [Target(h, p, Credentials(u, pw)) for h, p, u, pw in rows]
    async with CameraFleet(targets, concurrency=spec["concurrency"], timeout=60.0, read_path="fast") as fleet:
        if spec["workers"] > 1:
            from agent.inventory_shards import ShardedSweep
            results = ShardedSweep(fleet, spec["workers"]).stream()
        else:
            results = fleet.inventory_stream()
        async for r in results:
            ok += r.ok
    return ok

async def main():
    counts = [await sweep(rows) for rows in spec["sweeps"] if rows]
    print(json.dumps({"ok": counts}))

asyncio.run(main())
"""


def count(tree: Path, spec: dict[str, object], tmp: Path, tag: str) -> tuple[list[int], list[int]]:
    """Instructions of one child run under callgrind (one figure per process: the child, then any workers it
    started), and how many cameras each of its sweeps read fully."""
    spec_file, child = tmp / f"{tag}.json", tmp / "child.py"
    spec_file.write_text(json.dumps(spec))
    child.write_text(CHILD)
    # Same hash seed every run: set and dict iteration orders (and so the work done) do not vary between runs.
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()), PYTHONHASHSEED="0")
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={tmp / (tag + '.%p.out')}",
         sys.executable, str(child), str(spec_file)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    counts = [int(m.group(1)) for m in COLLECTED.finditer(done.stderr)]
    if done.returncode != 0 or not counts:
        raise SystemExit(f"{tag}: callgrind run failed\n{done.stderr[-3000:]}")
    ok = json.loads(done.stdout.strip().splitlines()[-1])["ok"]
    return counts, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=100, help="cameras measured (after the warm-up ones)")
    ap.add_argument("--warmup", type=int, default=20, help="cameras swept first, in both runs of a tree")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--port", type=int, default=18754)
    ap.add_argument("--workers", type=int, default=1,
                    help="sweep through N worker processes (agent.inventory_shards); figures summed over processes")  # fmt: skip
    ap.add_argument("--code", action="append", type=Path, default=[],
                    help="source tree to measure (repeat to compare trees in one run); default: this one")  # fmt: skip
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    trees = args.code or [ROOT]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        proc, _ = start_camsim(args.warmup + args.cameras, 0, args.port, tmp / "sim", 0)
        try:
            rows = [[t.host, t.port, t.credentials.username, t.credentials.password]
                    for t in interleave([load(tmp / "sim")])]  # fmt: skip
            warm, measured = rows[: args.warmup], rows[args.warmup :]
            per_camera = 0.0
            for i, tree in enumerate(trees):
                base = {"concurrency": args.concurrency, "workers": args.workers}
                warm_counts, warm_ok = count(tree, {**base, "sweeps": [warm]}, tmp, f"{i}-warm")
                # Sharded, each sweep starts its own workers (interpreter, imports, WSDL: ~3.7 G instructions each),
                # so the measured cameras join the warm-up ones in one sweep and the start-up cancels out.
                sweeps = [warm + measured] if args.workers > 1 else [warm, measured]
                both_counts, both_ok = count(tree, {**base, "sweeps": sweeps}, tmp, f"{i}-both")
                only_warm, both = sum(warm_counts), sum(both_counts)
                per_camera = (both - only_warm) / max(1, len(measured)) / 1e6
                procs = f" over {len(both_counts)} processes" if len(both_counts) > 1 else ""
                print(f"[{i}:{tree.resolve().name}] warm-up {len(warm)} cameras: {only_warm / 1e6:,.0f} M "
                      f"instructions ({warm_ok[0]} fully read); + {len(measured)} cameras: {both / 1e6:,.0f} M{procs} "
                      f"({both_ok[-1]} fully read in its last sweep) -> {per_camera:.2f} M instructions per camera")  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"cameras={args.cameras} instructions_per_camera={per_camera:.2f}")


if __name__ == "__main__":
    main()
