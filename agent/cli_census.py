"""`camfleet-agent census`: how many devices, whose, without any credential; merged with what is already managed."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.attribution import load_oui
from agent.census.device import CensusDevice, Known
from agent.census.runner import SOURCES, CensusConfig, CensusError, CensusResult, run_census
from agent.config import load_config
from agent.targets import RangeAllowList, load_targets

MAX_INVENTORY_BYTES = 64 * 1024 * 1024


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "census", help="find and attribute devices without sending any credential (multicast + passive)"
    )
    common(p)
    p.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="ADDR",
        help="local address of an interface to search from (SADP, DHIP, SSDP, WS-Discovery multicast)",
    )
    p.add_argument(
        "--rtsp-port", type=int, action="append", default=[], help="RTSP ports to fingerprint (554)"
    )
    p.add_argument("--tls-port", type=int, action="append", default=[], help="TLS ports to fingerprint (443)")
    p.add_argument("--source", action="append", choices=SOURCES, default=[], help="only these sources")
    p.add_argument("--window", type=float, default=None, help="seconds to collect multicast replies (2)")
    p.add_argument("--rate", type=float, default=None, help="messages per second, all sources together (200)")
    p.add_argument("--max-messages", type=int, default=None, help="messages in total (20000)")
    p.add_argument("--inventory", type=Path, help="`inventory --json` output to merge with (by MAC/serial/address)")  # fmt: skip


def census_config(args: argparse.Namespace) -> CensusConfig:
    cfg = load_config(args.config) if args.config else None
    cs = cfg.census if cfg else None
    allowed = [*args.allow_range, *(cfg.discovery_ranges if cfg else [])]
    if args.ranges and not allowed:
        raise CensusError("--range needs the ranges allowed by configuration (--config) or --allow-range")
    ranges = tuple(args.ranges) or tuple(cs.ranges if cs else ())
    return CensusConfig(
        interfaces=tuple(args.interface) or tuple(cs.interfaces if cs else ()),
        ranges=ranges,
        allow=RangeAllowList.from_config(allowed),
        http_ports=tuple(args.port) or tuple(cs.http_ports if cs else (80,)),
        rtsp_ports=tuple(args.rtsp_port) or tuple(cs.rtsp_ports if cs else (554,)),
        tls_ports=tuple(args.tls_port) or tuple(cs.tls_ports if cs else (443,)),
        sources=frozenset(args.source or SOURCES),
        window_s=args.window or (cs.window_s if cs else 2.0),
        timeout_s=args.timeout or (cfg.timeout_s if cfg else 3.0),
        concurrency=args.concurrency or 32,
        rate_per_s=args.rate or (cs.rate_per_s if cs else 200.0),
        max_messages=args.max_messages or (cs.max_messages if cs else 20_000),
    )


def known_from(args: argparse.Namespace) -> list[Known]:
    """Cameras the operator has credentials for (--targets: nothing is sent with them) or has inventoried."""
    out = [
        Known(f"{t.host}:{t.port}", t.host, t.port)
        for t in (load_targets(args.targets) if args.targets else [])
    ]
    if args.inventory:
        if args.inventory.stat().st_size > MAX_INVENTORY_BYTES:
            raise CensusError(f"{args.inventory}: larger than {MAX_INVENTORY_BYTES} bytes")
        for n, line in enumerate(args.inventory.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out.append(Known(str(rec["camera_id"]), str(rec["host"]), int(rec["port"]),
                                 tuple(str(m) for m in rec.get("macs", [])), str(rec.get("serial") or ""),
                                 inventoried=bool(rec.get("reachable")) and bool(rec.get("model"))))  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                raise CensusError(f"{args.inventory} line {n}: not an inventory record ({exc})") from exc
    return out


def _print(result: CensusResult, as_json: bool) -> None:
    if as_json:
        for dev in result.devices:
            print(json.dumps(dev.to_json(), sort_keys=True))
    else:
        rows = [_row(d) for d in result.devices]
        header = ["device", "origin", "model", "serial", "activated", "status", "sources"]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, ["-" * w for w in widths], *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    s = result.summary()
    print(f"census: {s['devices']} devices {s['by_status']}; by origin {s['by_origin']}; "
          f"{s['unactivated']} unactivated; {s['recorders']} recorders; sent {s['sent']} in {s['duration_s']}s"
          + ("; TRUNCATED" if result.truncated else ""), file=sys.stderr)  # fmt: skip
    for note in result.notes:
        print(f"census: {note}", file=sys.stderr)


def _row(d: CensusDevice) -> list[str]:
    o = d.origin
    origin = f"{o.manufacturer}{' (889)' if o.covered else ''} {o.confidence:.2f}" if o else "unknown"
    activated = {True: "yes", False: "NO (no password)", None: "?"}[d.activated]
    return [f"{d.host}:{d.port or '-'}", origin, d.model or "?", d.serial or "?", activated, d.status,
            ",".join(sorted(d.sources))]  # fmt: skip


async def run(args: argparse.Namespace) -> int:
    cfg = census_config(args)
    known = known_from(args)
    try:
        oui = await load_oui()
    except (OSError, RuntimeError):
        oui = None
    result = await run_census(cfg, oui=oui, known=known)
    _print(result, args.json)
    return 0
