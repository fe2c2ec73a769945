"""`camsim` command line: generate or load a fleet, serve it on loopback, export targets, persist state."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import resource
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from camsim.control import BadRequest, choose_fraction, parse_fault_update
from camsim.model import Camera

# foreign: independent ONVIF servers (catalog.FOREIGN), so the demo and the benchmarks meet them too.
DEFAULT_MIX = "hikvision=40,dahua=30,axis=15,generic=5,oem=5,foreign=5"
# Port 80 needs root; an unprivileged default keeps `camsim` runnable anywhere. Pass --port 80 as root.
DEFAULT_PORT = 8000
DEFAULT_CONTROL_PORT = 8089

log = logging.getLogger("camsim")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*$")


def parse_duration_ms(text: str) -> float:
    """'50ms' -> 50.0, '0.2s' -> 200.0, bare numbers are milliseconds."""
    m = _DURATION.match(text)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 50ms or 0.2s)")
    value = float(m.group(1))
    return value * 1000.0 if m.group(2) == "s" else value


def _fault_kv(text: str) -> tuple[str, float | bool | str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--fault wants KEY=VALUE, got {text!r}")
    key = key.strip()
    if key == "login_fault_path":
        return key, value.strip()
    if value.strip().lower() in ("true", "false"):
        return key, value.strip().lower() == "true"
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fault {key}: {value!r} is not a number") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="camsim",
        description="Simulate a fleet of ONVIF IP cameras (Hikvision, Dahua, Axis, generic, OEM) on loopback.",
    )
    p.add_argument("--cameras", type=int, default=10, help="number of cameras (default 10)")
    p.add_argument("--mix", default=DEFAULT_MIX, help=f"personality weights (default {DEFAULT_MIX})")
    p.add_argument("--seed", type=int, default=1, help="same seed, same fleet (default 1)")
    p.add_argument("--latency", type=parse_duration_ms, default=0.0, help="fixed reply latency, e.g. 50ms")
    p.add_argument("--jitter", type=parse_duration_ms, default=0.0, help="uniform +/- jitter, e.g. 10ms")
    p.add_argument("--base-address", default="127.0.1.1", help="first camera address (default 127.0.1.1)")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port on every camera address (default {DEFAULT_PORT}, or the fleet file's; 80 needs root)",
    )
    p.add_argument(
        "--recorders",
        type=int,
        default=0,
        help="recorders (Hikvision-/Dahua-like NVRs, 4-32 channels) after the cameras (default 0)",
    )
    p.add_argument(
        "--behind-share",
        type=float,
        default=None,
        metavar="F",
        help="share of recorder channels fed by cameras on its PoE ports, unreachable (default 0.6)",
    )
    p.add_argument(
        "--unactivated-share",
        type=float,
        default=0.0,
        metavar="F",
        help="share of Hikvision-made cameras left unactivated: no password, SADP only (default 0)",
    )
    p.add_argument("--fleet", type=Path, help="fleet description file (JSON/TOML) instead of --cameras/--mix")
    p.add_argument(
        "--rtsp-port",
        type=int,
        default=None,
        help="also answer RTSP OPTIONS/DESCRIBE on this port of every camera (fingerprints; off by default)",
    )
    p.add_argument(
        "--tls-port",
        type=int,
        default=None,
        help="also accept TLS on this port of every camera, self-signed certificate (off by default)",
    )
    p.add_argument("--state", type=Path, help="persist camera state here across restarts")
    p.add_argument("--export", type=Path, metavar="DIR", help="write DIR/targets.csv and DIR/truth.json")
    p.add_argument("--control-host", default="127.0.0.1")
    p.add_argument(
        "--control-port",
        type=int,
        default=DEFAULT_CONTROL_PORT,
        help=f"JSON control API port (default {DEFAULT_CONTROL_PORT}; 0 = any)",
    )
    p.add_argument(
        "--discovery", action=argparse.BooleanOptionalAction, default=True, help="answer WS-Discovery probes"
    )
    p.add_argument("--fault", type=_fault_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="inject a fault (e.g. drop_rate=0.1, latency_ms=500, hang=true) into --fault-fraction of cameras")  # fmt: skip
    p.add_argument(
        "--fault-fraction", type=float, default=1.0, help="share of the fleet that gets --fault (0..1)"
    )
    p.add_argument("--fault-seed", type=int, default=None, help="which cameras get faults (default: --seed)")
    p.add_argument("--log-level", default="WARNING")
    return p


def raise_fd_limit() -> int:
    """One listening socket per camera plus client connections: lift the soft fd limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            return soft
    return soft


def make_fleet(args: argparse.Namespace) -> list[Camera]:
    from camsim import fleet

    if args.fleet is not None:
        cams: list[Camera] = fleet.load_fleet_file(args.fleet)
        if args.port is not None:
            for cam in cams:
                cam.port = args.port
    else:
        cams = fleet.generate_fleet(
            args.cameras,
            fleet.parse_mix(args.mix),
            args.seed,
            base_address=args.base_address,
            port=DEFAULT_PORT if args.port is None else args.port,
            latency_ms=args.latency,
            recorders=args.recorders,
            behind_share=fleet.DEFAULT_BEHIND_SHARE if args.behind_share is None else args.behind_share,
            unactivated_share=args.unactivated_share,
        )
    for cam in cams:
        if args.latency:
            cam.faults.latency_ms = args.latency
        if args.jitter:
            cam.faults.jitter_ms = args.jitter
    if args.fault:
        update = parse_fault_update(dict(args.fault))
        seed = args.fault_seed if args.fault_seed is not None else args.seed
        for cam in choose_fraction(cams, args.fault_fraction, seed):
            update.apply(cam)
    return cams


def summary(cameras: list[Camera]) -> str:
    counts = Counter(
        (c.identity.oem_brand and f"oem:{c.identity.oem_brand}") or c.identity.personality for c in cameras
    )
    parts = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    cloud = sum(1 for c in cameras if c.cloud_reachable())
    extra = ""
    recorders = sum(1 for c in cameras if c.is_recorder)
    if recorders:
        extra += f"; recorders={recorders} behind_recorders={sum(1 for c in cameras if not c.reachable)}"
    unactivated = sum(1 for c in cameras if not c.activated)
    if unactivated:
        extra += f"; unactivated={unactivated}"
    return f"{parts}; cloud_reachable={cloud}{extra}"


async def run(args: argparse.Namespace) -> int:
    from camsim.server import SimServer

    t0 = time.monotonic()
    cameras = make_fleet(args)
    server = SimServer(
        cameras,
        control_host=args.control_host,
        control_port=args.control_port,
        state_file=args.state,
        discovery=args.discovery,
        rtsp_port=args.rtsp_port,
        tls_port=args.tls_port,
    )
    await server.start()
    try:
        if args.export is not None:
            from camsim.export import export

            export(server.cameras, args.export)
        cams = server.reachable()
        first, last = cams[0].network.address if cams else "-", cams[-1].network.address if cams else "-"
        port = cams[0].port if cams else args.port
        print(
            f"camsim ready: {len(cams)} cameras {first}..{last} port {port} "
            f"control={server.control_url} startup_s={time.monotonic() - t0:.2f}",
            flush=True,
        )
        print(f"camsim fleet: {summary(server.cameras)}", flush=True)
        if server.discovery_error:
            print(f"camsim: WS-Discovery disabled: {server.discovery_error}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await server.stop()
    print("camsim stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.cameras < 0 or args.recorders < 0:
        parser.error("--cameras and --recorders must be >= 0")
    for flag, share in (
        ("--behind-share", args.behind_share),
        ("--unactivated-share", args.unactivated_share),
    ):
        if share is not None and not 0.0 <= share <= 1.0:
            parser.error(f"{flag} must be in [0, 1]")
    if not 0.0 <= args.fault_fraction <= 1.0:
        parser.error("--fault-fraction must be in [0, 1]")
    raise_fd_limit()
    try:
        return asyncio.run(run(args))
    except BadRequest as exc:
        parser.error(str(exc))
    except (OSError, ValueError) as exc:
        print(f"camsim: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
