"""The README's main job: the whole system on this machine, a first inventory, and the fleet summary."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devstack.stack import ADMIN_PASSWORD, Stack  # noqa: E402  (the repo root must be on the path first)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def summarise(summary: dict[str, Any], truth: list[dict[str, Any]]) -> str:
    origin: dict[str, int] = summary["origin"]
    oem_by_maker: dict[str, int] = {}
    brands: dict[str, int] = {}
    for t in truth:
        if t.get("oem_brand"):
            oem_by_maker[t["true_manufacturer"]] = oem_by_maker.get(t["true_manufacturer"], 0) + 1
            brands[t["oem_brand"]] = brands.get(t["oem_brand"], 0) + 1
    lines = [f"cameras total: {summary['total']}  (sites: "
             + ", ".join(f"{k} {v}" for k, v in sorted(summary["site"].items())) + ")",
             "by manufacturer of origin, as the agents attributed them:"]  # fmt: skip
    for maker, n in sorted(origin.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {maker:<10} {n:>5}")
    lines.append(f"OEM-rebranded (sold under another name): {summary['oem_rebrand']}"
                 + (f"  ({', '.join(f'{b} {n}' for b, n in sorted(brands.items()))})" if brands else ""))  # fmt: skip
    lines.append(f"made by NDAA-889 makers (Hikvision, Dahua and affiliates): {summary['covered']}")
    lines.append(f"cloud-reachable right now: {summary['cloud_reachable']} of {summary['total']}")
    lines.append("risk: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["risk_level"].items())))
    return "\n".join(lines)


async def show(stack: Stack, seconds: float) -> None:
    t0 = time.monotonic()
    summary = await stack.wait_inventory(seconds)
    print(f"\ncamfleet demo: first inventory done in {time.monotonic() - t0:.1f} s\n")
    print(summarise(summary, stack.truth()))
    print(f"\ndashboard and API: {stack.url}/   (log in as admin / {ADMIN_PASSWORD})")
    env = stack.root / "fleetctl.env"
    env.write_text(f"export CAMFLEET_URL={stack.url}\nexport CAMFLEET_TOKEN={stack.token}\n")
    env.chmod(0o600)
    print(f"fleetctl:  . {env} && .venv/bin/fleetctl summary   (the file holds an admin API token)")
    print(f"camsim control API (the simulated cameras' real state): {stack.camsim_url}/cameras")
    print(f"state and logs: {stack.root}")
    print(walkthrough(stack, env))


def walkthrough(stack: Stack, env: Path) -> str:
    """The third part of the mission, ready to paste: a staged decommission with two approvers, whose keys the
    controller and every agent pin (approvers.json). The admin creates and starts it; alice and bob approve."""
    envs = {}
    for name in stack.approver_names:
        token = stack.add_user(name, "approver", approver=True)
        envs[name] = stack.root / f"{name}.env"
        envs[name].write_text(f"export CAMFLEET_URL={stack.url}\nexport CAMFLEET_TOKEN={token}\n")
        envs[name].chmod(0o600)
    keys = stack.root / "approvers"
    fc = ".venv/bin/fleetctl"
    lines = [
        "",
        "staged decommission, step by step (two approver keys are pinned by the controller and the agents):",
        f"  . {env}",
        f'  {fc} campaign create --name "Hikvision north" --where origin=hikvision,site=north \\',
        "      --stages disable_cloud,restrict_network,decommission --allow 10.1.2.3/32 --canary 2 --growth 2",
        f"  {fc} campaign list                        # CAMPAIGN is the id create printed",
        f"  {fc} campaign preview CAMPAIGN            # the dry run: every setting that would change",
    ]
    lines += [f"  (. {envs[n]} && {fc} approve CAMPAIGN b001 --key {keys / f'{n}.pem'})   # approver {n}"
              for n in stack.approver_names]  # fmt: skip
    lines += [
        f"  {fc} campaign start CAMPAIGN              # cloud off, network locked, reset: batch by batch",
        f"  {fc} campaign status CAMPAIGN --watch     # each later batch waits for its own two approvals",
        "  (the dashboard shows the same flow under Campaigns and Approvals; log in as alice or bob to sign)",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--broker", choices=("auto", "mosquitto", "embedded"), default="auto")
    ap.add_argument("--port", type=int, default=8080, help="dashboard/API port (a free one if this is taken)")
    ap.add_argument("--once", action="store_true", help="print the summary and stop (used by the tests)")
    args = ap.parse_args()
    broker = args.broker
    if broker == "auto":
        broker = (
            "mosquitto" if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists() else "embedded"
        )
    # Idle agents should cost little: full reads every 5 minutes, a cheap pre-auth check of every camera every 10 s
    # (a changed camera is read at once), and every camera an action touched is re-read right after it.
    stack = Stack(
        cameras=args.cameras,
        seed=args.seed,
        broker=broker,
        latency="20ms",
        inventory_interval_s=300,
        approver_names=("alice", "bob"),
    )
    if port_free(args.port):
        stack.http_port = args.port
    print(
        f"camfleet demo: {args.cameras} simulated cameras over 3 sites, broker {broker}, one agent per site ..."
    )
    try:
        stack.start()
        asyncio.run(show(stack, 180))
        if args.once:
            return 0
        print("\nCtrl-C stops the demo.")
        # Blocked only now: children started earlier must not inherit a mask that hides SIGTERM from them.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.cleanup() if args.once else stack.stop()


if __name__ == "__main__":
    sys.exit(main())
