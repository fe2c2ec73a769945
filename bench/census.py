"""Benchmark and grade: a credential-free census of a camsim fleet with recorders and unactivated cameras, then the
recorders' channel lists with the recorders' credentials only; every figure graded against camsim's truth.json.

    .venv/bin/python bench/census.py --cameras 1000 --recorders 30 --unactivated-share 0.05
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

BIN = Path(sys.executable).parent
READY = re.compile(r"camsim ready: .* control=(http://127\.0\.0\.1:\d+)")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agent(*args: str) -> tuple[list[dict[str, Any]], str, float]:
    t0 = time.perf_counter()
    p = subprocess.run(
        [str(BIN / "camfleet-agent"), *args], capture_output=True, text=True, timeout=1800, check=False
    )
    if p.returncode not in (0, 1):
        raise RuntimeError(p.stderr[-2000:])
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    return rows, p.stderr, time.perf_counter() - t0


def want(t: dict[str, Any]) -> str:
    return str(t["true_manufacturer"]) if t["true_manufacturer"] != "generic" else "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--recorders", type=int, default=30)
    ap.add_argument("--unactivated-share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument(
        "--banners", action="store_true", help="also serve RTSP and TLS (two more sockets per camera)"
    )
    ap.add_argument("--multicast-only", action="store_true", help="no range: what multicast alone tells")
    args = ap.parse_args()
    # A /21 of its own (room for 2,000 devices); the census grades only what lies in it.
    base, net = "127.13.0.1", "127.13.0.0/21"
    port = free_port()
    extra = ["--rtsp-port", str(free_port()), "--tls-port", str(free_port())] if args.banners else []
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [str(BIN / "camsim"), "--cameras", str(args.cameras), "--recorders", str(args.recorders),
             "--unactivated-share", str(args.unactivated_share), "--seed", str(args.seed), "--base-address", base,
             "--port", str(port), "--control-port", "0", "--export", tmp, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            control = ""
            for line in proc.stdout:
                if m := READY.search(line):
                    control = m.group(1)
                    break
            truth = json.loads((Path(tmp) / "truth.json").read_text())
            reachable = {t["host"]: t for t in truth if t["reachable"]}
            ports = ["--port", str(port)] + (
                ["--rtsp-port", extra[1], "--tls-port", extra[3]] if extra else []
            )
            scope = [] if args.multicast_only else ["--range", net, "--allow-range", net, *ports]
            devices, err, took = agent("census", "--interface", "127.0.0.1", *scope, "--json")
            mine = {d["host"]: d for d in devices if d["host"] in reachable}
            right = sum(
                mine[h]["origin"]["manufacturer"] == want(t) for h, t in reachable.items() if h in mine
            )
            per_maker: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
            for h, t in reachable.items():
                per_maker[want(t)][1] += 1
                per_maker[want(t)][0] += h in mine and mine[h]["origin"]["manufacturer"] == want(t)
            unact = {h for h, t in reachable.items() if not t["activated"]}
            found_unact = {h for h, d in mine.items() if d["activated"] is False}
            with urlopen(control + "/stats", timeout=10) as r:
                stats = json.loads(r.read())
            print(f"census: {len(mine)}/{len(reachable)} devices found in {took:.1f}s; "
                  f"attributed {right}/{len(reachable)} = {100 * right / len(reachable):.1f}%")  # fmt: skip
            print(
                "  by maker (right/total): "
                + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(per_maker.items()))
            )
            print(
                f"  unactivated: {len(found_unact & unact)}/{len(unact)} found, {len(found_unact - unact)} false"
            )
            print(f"  credentials presented to camsim: {stats['credentials_presented']}")
            print("  " + next((ln for ln in err.splitlines() if ln.startswith("census:")), "").strip())
            # Recorders' credentials only: every camera on a channel, hidden ones included.
            rows = list(csv.DictReader((Path(tmp) / "targets.csv").open()))
            recs = {t["host"] for t in truth if t["kind"] == "recorder"}
            rec_csv = Path(tmp) / "recorders.csv"
            with rec_csv.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["host", "port", "username", "password"])
                w.writeheader()
                w.writerows(r for r in rows if r["host"] in recs)
            inv, _, took = agent("inventory", "--targets", str(rec_csv), "--json")
            listed = {(r["host"], ch["channel"]): ch for r in inv for ch in r["channels"]}
            fed = {(t["recorder_host"], t["channel"]): t for t in truth if t["recorder"]}
            serial_ok = sum(listed.get(k, {}).get("serial") == t["serial"] for k, t in fed.items())
            hidden = [t for t in truth if not t["reachable"]]
            hidden_ok = sum((t["recorder_host"], t["channel"]) in listed for t in hidden)
            attributed = sum(
                listed[k]["origin"]["manufacturer"] == want(t) for k, t in fed.items() if k in listed
            )
            print(f"recorders: {len(inv)} read in {took:.1f}s; channels {len(listed)}/{len(fed)} listed, "
                  f"{serial_ok} with the right serial; cameras only behind recorders {hidden_ok}/{len(hidden)}; "
                  f"channel cameras attributed {attributed}/{len(fed)}")  # fmt: skip
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
