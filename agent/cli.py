"""Command line of the camfleet agent: scan, inventory, plan/apply actions, rollback, vault import, run."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from agent.auth_memory import AuthMemory
from agent.census.runner import CensusError
from agent.config import ConfigError, load_config
from agent.credentials import Credentials
from agent.fleet import ActionReport, CameraFleet
from agent.inventory import InventoryResult
from agent.targets import RangeAllowList, RangeError, Target, TargetsError, load_targets, resolve_ranges
from agent.vault import KeyFile, Passphrase, Vault, VaultError
from protos.camfleet.v1 import camfleet_pb2 as pb

log = logging.getLogger(__name__)

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2
ACTIONS = ("disable_cloud", "restrict_network", "decommission", "reboot")
DEFAULT_STATE = Path("camfleet-agent-state.json")
PASSPHRASE_ENV = "CAMFLEET_VAULT_PASSPHRASE"
USERNAME_ENV, PASSWORD_ENV = "CAMFLEET_USERNAME", "CAMFLEET_PASSWORD"


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2, a message, no traceback."""


# ---- argument parsing --------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--targets", type=Path, help="CSV host,port,username,password (camsim --export writes one)"
    )
    p.add_argument("--range", dest="ranges", action="append", default=[],
                   help="address range to sweep; must lie inside a configured range (--config or --allow-range)")  # fmt: skip
    p.add_argument("--allow-range", action="append", default=[], help="explicitly allow sweeping this range")
    p.add_argument("--port", type=int, action="append", default=[], help="ports to sweep with --range")
    p.add_argument("--config", type=Path, help="agent.toml (ranges, vault, concurrency, timeout)")
    p.add_argument("--vault", type=Path, help="encrypted credentials vault (for --range targets)")
    p.add_argument("--vault-key-file", type=Path, help=f"vault key file (else ${PASSPHRASE_ENV})")
    p.add_argument("--json", action="store_true", help="one JSON object per camera on stdout")
    p.add_argument("--concurrency", type=int, default=None, help="global cap on requests in flight")
    p.add_argument("--timeout", type=float, default=None, help="per-request timeout, seconds")
    p.add_argument(
        "--state",
        type=Path,
        default=DEFAULT_STATE,
        help="local file holding snapshots for rollback (refused credentials are kept beside it, in STATE.auth.jsonl)",
    )
    p.add_argument(
        "--second-source", help="a second local address to prove isolation from (restrict_network)"
    )
    p.add_argument("--source-address", help="the local address to reach the cameras from (multi-homed hosts)")
    p.add_argument("-v", "--verbose", action="store_true")


def _action_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--features", action="append", default=[], help="disable_cloud: only these features")
    p.add_argument("--allow", action="append", default=[],
                   help="restrict_network: address/CIDR still allowed (the recorder); required, or the "
                        "site's cameras.network_allow from --config")  # fmt: skip
    p.add_argument("--agent-only", action="store_true",
                   help="restrict_network: really let only this agent reach the camera (cuts a recorder off)")  # fmt: skip
    p.add_argument("--ntp", default="", help="restrict_network: the local NTP server")
    p.add_argument("--keep", action="append", default=[], help="restrict_network: protocol kept on (RTSP...)")
    p.add_argument("--keep-gateway", action="store_true", help="restrict_network: leave the default gateway")
    p.add_argument("--keep-dns", action="store_true", help="restrict_network: leave the DNS servers")
    p.add_argument(
        "--accept-recording-gap",
        action="store_true",
        help="restrict_network: run even where the allow list cuts a camera off its recorder",
    )
    p.add_argument(
        "--mode", choices=("soft", "hard"), default="soft", help="decommission: factory default mode"
    )
    p.add_argument("--wipe-users", action="store_true", help="decommission: delete the other accounts first")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="camfleet-agent",
        description="camfleet site agent: inventory and neutralise the cameras of one site or VLAN.",
    )
    p.add_argument("--version", action="version", version="camfleet-agent 0.1.0")
    sub = p.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("scan", help="find cameras: pre-auth GetSystemDateAndTime on targets or ranges"))
    inv = sub.add_parser("inventory", help="read identity, network, cloud features, origin and risk")
    _common(inv)
    inv.add_argument("--workers", type=int, default=1,
                     help="worker processes sharing the sweep (one core each; --concurrency is split between them)")  # fmt: skip
    from agent import cli_census

    cli_census.add_parser(sub, _common)
    for name, text in (("plan", "dry run: the exact per-setting diff, nothing written"),
                       ("apply", "plan, snapshot, apply, verify")):  # fmt: skip
        sp = sub.add_parser(name, help=text)
        _common(sp)
        _action_args(sp)
    rb = sub.add_parser(
        "rollback",
        help="restore each camera to its state just before the last apply in --state (or --snapshot ID)",
    )
    _common(rb)
    rb.add_argument("--snapshot", help="undo this apply (snapshot id) instead of each camera's last one")
    rb.add_argument("--dry-run", action="store_true")
    vault = sub.add_parser("vault", help="credentials vault")
    vsub = vault.add_subparsers(dest="vault_command", required=True)
    vi = vsub.add_parser("import", help="import a targets CSV into the vault (created when missing)")
    vi.add_argument("csv", type=Path)
    vi.add_argument("--vault", type=Path, required=True)
    vi.add_argument("--vault-key-file", type=Path)
    run = sub.add_parser("run", help="run the daemon (MQTT to the controller)")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("-v", "--verbose", action="store_true")
    return p


# ---- targets ---------------------------------------------------------------------------------------------
def _key_source(key_file: Path | None) -> KeyFile | Passphrase:
    if key_file is not None:
        return KeyFile(key_file)
    phrase = os.environ.get(PASSPHRASE_ENV)
    if not phrase:
        raise UsageError(f"the vault needs --vault-key-file or ${PASSPHRASE_ENV}")
    return Passphrase(phrase)


async def _targets(args: argparse.Namespace) -> list[Target]:
    cfg = load_config(args.config) if args.config else None
    if args.targets:
        return load_targets(args.targets)
    if not args.ranges:
        raise UsageError("give --targets FILE or --range RANGE")
    from agent.sweep import sweep

    allowed = [*args.allow_range, *(cfg.discovery_ranges if cfg else [])]
    if not allowed:
        raise UsageError("--range needs the ranges allowed by configuration (--config) or --allow-range")
    allow = RangeAllowList.from_config(allowed)
    resolve_ranges(args.ranges, allow)  # refuses before any traffic
    results = await sweep(args.ranges, allow=allow, **({"ports": args.port} if args.port else {}))
    vault_path = args.vault or (cfg.vault if cfg else None)
    vault = Vault.open(vault_path, _key_source(args.vault_key_file or (cfg.vault_key_file if cfg else None))) if (
        vault_path) else None  # fmt: skip
    default = None
    if os.environ.get(USERNAME_ENV) and os.environ.get(PASSWORD_ENV):
        default = Credentials(os.environ[USERNAME_ENV], os.environ[PASSWORD_ENV])
    out = []
    for r in results:
        for port in r.onvif_ports:
            creds = (vault.get(r.address, port) if vault else None) or default
            if creds is not None:
                out.append(Target(r.address, port, creds))
            else:
                log.warning(
                    "%s:%d has no credentials (vault or $%s/$%s)", r.address, port, USERNAME_ENV, PASSWORD_ENV
                )
    return out


def _fleet(args: argparse.Namespace, targets: Sequence[Target]) -> CameraFleet:
    cfg = load_config(args.config) if getattr(args, "config", None) else None
    return CameraFleet(
        targets,
        concurrency=args.concurrency or (cfg.concurrency if cfg else 64),
        timeout=args.timeout or (cfg.timeout_s if cfg else 10.0),
        second_source=args.second_source,
        network_allow=cfg.network_allow if cfg else (),
        source_address=args.source_address or (cfg.source_address if cfg else None),
        auth_memory=AuthMemory(auth_memory_path(args.state)),
    )


# ---- output ------------------------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on stderr for humans (nothing in --json mode)."""

    def __init__(self, total: int, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.enabled, self.stream = total, 0, enabled, stream

    def step(self, _item: object = None) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / max(1, self.total))
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([line.format(*header), line.format(*("-" * w for w in widths)),
                      *(line.format(*map(str, r)) for r in rows)])  # fmt: skip


def _exit_code(oks: list[bool]) -> int:
    if not oks or not any(oks):
        return EXIT_FAILED
    return EXIT_OK if all(oks) else EXIT_PARTIAL


#: Column widths of the streamed inventory table (rows are printed as cameras finish, so widths cannot depend on
#: the rows to come; longer cells are cut with "~").
_INVENTORY_COLUMNS = (("camera", 21), ("brand", 12), ("model", 20), ("firmware", 22), ("origin", 22),
                      ("cloud on", 16), ("risk", 8), ("errors", 0))  # fmt: skip


def _cell(value: str, width: int) -> str:
    if width and len(value) > width:
        value = value[: width - 1] + "~"
    return f"{value:{width}}" if width else value


def _inventory_row(r: InventoryResult) -> list[str]:
    j = r.to_json()
    cloud_on = ",".join(k for k, v in j["cloud"].items() if v == "on") or "-"
    o = j["origin"]
    origin = f"{o['manufacturer']}{' (889)' if o['covered'] else ''} {o['confidence']:.2f}"
    errs = ",".join(sorted({e["error_class"] for e in j["errors"]})) or "-"
    return [f"{j['host']}:{j['port']}", j["manufacturer"] or "?", j["model"] or "?", j["firmware"] or "?", origin,
            cloud_on, j["risk"]["level"] or "-", errs]  # fmt: skip


class InventoryPrinter:
    """Prints each camera as soon as it is read: one JSON line (flushed) or one table row, with the progress bar
    on stderr redrawn under the rows."""

    def __init__(self, total: int, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.as_json, self.out = as_json, out
        self.progress = Progress(total, not as_json, err)
        self.statuses: list[str] = []
        if not as_json:
            self._line([name for name, _ in _INVENTORY_COLUMNS])
            self._line(["-" * max(w, len(name)) for name, w in _INVENTORY_COLUMNS])

    def _line(self, cells: list[str]) -> None:
        if self.progress.enabled and self.progress.done and self.progress.stream.isatty():
            self.progress.stream.write("\r\x1b[K")  # clear the bar; it is redrawn below the row
        widths = [max(w, len(name)) if w else 0 for name, w in _INVENTORY_COLUMNS]
        print(
            "  ".join(_cell(c, w) for c, w in zip(cells, widths, strict=True)).rstrip(),
            file=self.out,
            flush=True,
        )

    def add(self, r: InventoryResult) -> None:
        self.statuses.append(r.status)
        if self.as_json:
            print(json.dumps(r.to_json(), sort_keys=True), file=self.out, flush=True)
        else:
            self._line(_inventory_row(r))
        self.progress.step()


def exit_code(statuses: Sequence[str]) -> int:
    """0: every camera ok (read, or the action's goal reached); 2: nothing usable (every camera failed, or
    no camera at all); 1: anything in between."""
    if not statuses or all(s == "failed" for s in statuses):
        return EXIT_FAILED
    return EXIT_OK if all(s == "ok" for s in statuses) else EXIT_PARTIAL


def _print_reports(reports: list[ActionReport], as_json: bool) -> None:
    if as_json:
        for rep in reports:
            print(json.dumps(rep.to_json(), sort_keys=True, default=str))
        return
    rows = []
    for rep in reports:
        where = f"{rep.host}:{rep.port}"
        for imp in rep.recorder_impact:
            rows.append([where, f"recorder {imp.recorder_id} ch {imp.channel}", "goes dark",
                         imp.reason])  # fmt: skip
        if rep.error is not None:
            rows.append([where, "-", "error", str(rep.error)])
            continue
        for s in rep.result.settings if rep.result else []:
            diff = "" if s.outcome.value in ("already", "unsupported") else f"{s.before!r} -> {s.after!r}"
            rows.append([where, s.setting, s.outcome.value, s.reason or diff])
        if rep.isolation:
            rows.append(
                [where, "isolation", rep.isolation["result"], f"probe from {rep.isolation['source']}"]
            )
        if rep.goal is not None:
            verb = "would be" if rep.dry_run else "is"
            state = rep.goal.state.value.replace("_", " ")
            rows.append([where, "goal", state, f"{verb} {state}" + (
                f"; still exposed: {'; '.join(rep.goal.residual)}" if rep.goal.residual else "")])  # fmt: skip
    print(_table(rows, ["camera", "setting", "outcome", "detail"]))


# ---- snapshots (local state file) ---------------------------------------------------------------------
def _load_state(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return {"snapshots": []}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read state file {path}: {exc}") from None
    data.setdefault("snapshots", [])
    return data


def auth_memory_path(state: Path) -> Path:
    """Beside the --state file: the cameras whose credential is held back after a refusal (agent.auth_memory)."""
    return state.with_name(state.name + ".auth.jsonl")


def _save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    # 0600: the snapshots hold camera configuration (filters, servers) nobody else on the host needs to read.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)  # atomic: a crash never leaves half a state file


# ---- commands ------------------------------------------------------------------------------------------
def _action(args: argparse.Namespace) -> pb.Action:
    if args.action == "disable_cloud":
        return pb.Action(disable_cloud=pb.DisableCloud(features=args.features))
    if args.action == "restrict_network":
        return pb.Action(restrict_network=pb.RestrictNetwork(
            allow=args.allow, ntp_server=args.ntp, keep_protocols=args.keep, agent_only=args.agent_only,
            clear_gateway=not args.keep_gateway, clear_dns=not args.keep_dns,
            accept_recording_gap=args.accept_recording_gap))  # fmt: skip
    if args.action == "decommission":
        mode = pb.FACTORY_RESET_MODE_HARD if args.mode == "hard" else pb.FACTORY_RESET_MODE_SOFT
        return pb.Action(decommission=pb.Decommission(mode=mode, wipe_users=args.wipe_users))
    return pb.Action(reboot=pb.Reboot())


async def _scan(args: argparse.Namespace) -> int:
    targets = await _targets(args)
    progress = Progress(len(targets), not args.json)
    async with _fleet(args, targets) as fleet:

        async def one(cid: str) -> tuple[str, bool, str]:
            conn = fleet.conn(cid)
            try:
                ok = await conn.reachable()
                detail = "onvif" if ok else "answers, not ONVIF pre-auth"
            except Exception as exc:
                ok, detail = False, str(exc)
            progress.step()
            return cid, ok, detail

        found = await asyncio.gather(*(one(c) for c in fleet.camera_ids()))
    if args.json:
        for cid, ok, detail in found:
            host, _, port = cid.rpartition(":")
            print(json.dumps({"host": host, "port": int(port), "reachable": ok, "detail": detail}))
    else:
        print(
            _table([[c, "yes" if ok else "no", d] for c, ok, d in found], ["camera", "reachable", "detail"])
        )
    return _exit_code([ok for _, ok, _ in found])


async def _inventory(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    targets = await _targets(args)
    printer = InventoryPrinter(len(targets), args.json)
    async with _fleet(args, targets) as fleet:
        if args.workers == 1:
            async for r in fleet.inventory_stream():
                printer.add(r)
        else:
            from agent.inventory_shards import ShardedSweep

            sweep = ShardedSweep(fleet, args.workers, verbose=args.verbose)
            async for r in sweep.stream():
                printer.add(r)
    return exit_code(printer.statuses)


def _check_action_args(args: argparse.Namespace) -> None:
    """Refuse before any traffic what would strand a camera or its recorder."""
    if args.action != "restrict_network":
        return
    for a in args.allow:
        try:
            ipaddress.ip_network(a, strict=False)
        except ValueError:
            raise UsageError(f"--allow {a!r} is not an address or CIDR network") from None
    site = load_config(args.config).network_allow if args.config else []
    if not args.allow and not site and not args.agent_only:
        raise UsageError(
            "restrict_network needs --allow ADDRESS (the recorder, the VMS: whatever must still reach the "
            "cameras), or cameras.network_allow in --config. Without one the IP filter would let only this agent "
            "in and cut the recorder off; pass --agent-only if that is really meant"
        )


async def _apply(args: argparse.Namespace, *, dry_run: bool) -> int:
    _check_action_args(args)
    targets = await _targets(args)
    action = _action(args)
    state = _load_state(args.state)
    progress = Progress(len(targets), not args.json)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    snap_id = f"{args.action}-{stamp}"

    async with _fleet(args, targets) as fleet:
        if args.action in ("restrict_network", "decommission"):
            # Which recorder each camera feeds: every plan of these two lists the channels that would go dark.
            await fleet.learn_recorders()

        async def one(cid: str) -> ActionReport:
            def others() -> list[dict[str, Any]]:
                return [s for s in state["snapshots"] if (s["id"], s["camera_id"]) != (snap_id, cid)]

            async def store(values: dict[str, Any]) -> None:
                # Written before the first write reaches the camera, so even a crash stays rollback-able; written
                # again (replaced) once the apply knows which settings it really changed.
                state["snapshots"] = [*others(), {"id": snap_id, "camera_id": cid, "action": args.action,
                                                   "taken": time.time(), "values": values}]  # fmt: skip
                _save_state(args.state, state)

            async def retire() -> None:
                # Nothing was written after all: a repeated apply that changes nothing leaves no snapshot.
                state["snapshots"] = others()
                _save_state(args.state, state)

            rep = await fleet.run_action(cid, action, dry_run=dry_run, on_snapshot=store, on_retire=retire)
            progress.step()
            return rep

        reports = list(await asyncio.gather(*(one(c) for c in fleet.camera_ids())))
    _print_reports(reports, args.json)
    return exit_code([r.status for r in reports])


def _rollback_targets(snapshots: list[dict[str, Any]], snapshot_id: str | None) -> dict[str, dict[str, Any]]:
    """camera -> the snapshot entry to restore: the one of `snapshot_id` (again, if it was restored before: the
    camera then answers 'already'), else the camera's last apply not rolled back yet. Either way the values
    found just before that apply changed anything: an earlier apply's values would undo later changes."""
    chosen: dict[str, dict[str, Any]] = {}
    for snap in snapshots:
        if snapshot_id is not None and snap["id"] != snapshot_id:
            continue
        if snapshot_id is None and snap.get("rolled_back"):
            continue
        cur = chosen.get(snap["camera_id"])
        if cur is None or float(snap.get("taken", 0)) >= float(cur.get("taken", 0)):
            chosen[snap["camera_id"]] = snap
    return chosen


async def _census(args: argparse.Namespace) -> int:
    from agent import cli_census

    return await cli_census.run(args)


async def _rollback(args: argparse.Namespace) -> int:
    targets = await _targets(args)
    state = _load_state(args.state)
    chosen = _rollback_targets(state["snapshots"], args.snapshot)
    progress = Progress(len(targets), not args.json)
    async with _fleet(args, targets) as fleet:

        async def one(cid: str) -> ActionReport | None:
            snap = chosen.get(cid)
            progress.step()
            if not snap:
                return None
            action = pb.Action(rollback=pb.Rollback(snapshot_id=snap["id"]))
            rep = await fleet.run_action(cid, action, dry_run=args.dry_run, snapshot=snap["values"])
            if not args.dry_run and rep.result is not None and rep.result.ok:
                snap["rolled_back"] = time.time()  # marked used; a repeat finds the values in place: already
            return rep

        reports = [r for r in await asyncio.gather(*(one(c) for c in fleet.camera_ids())) if r is not None]
    if not args.dry_run and reports:
        # Only when something was rolled back: a rollback that found nothing to do writes no state file (a mistyped
        # --state must not leave an empty one behind).
        _save_state(args.state, state)
    if not reports:
        if not args.state.exists():
            print(f"no snapshot to roll back: there is no state file at {args.state} (apply writes it; check --state)",
                  file=sys.stderr)  # fmt: skip
            return EXIT_FAILED
        if state["snapshots"] and args.snapshot is None:
            # Every recorded apply was undone already: nothing to do is not a failure.
            print("nothing left to roll back: every apply in the state file was rolled back "
                  "(--snapshot ID repeats one)", file=sys.stderr)  # fmt: skip
            return EXIT_OK
        print(
            "no snapshot to roll back" + (f" with id {args.snapshot}" if args.snapshot else ""),
            file=sys.stderr,
        )
        return EXIT_FAILED
    _print_reports(reports, args.json)
    return exit_code([r.status for r in reports])


def _vault_import(args: argparse.Namespace) -> int:
    source = _key_source(args.vault_key_file)
    vault = Vault.open(args.vault, source) if args.vault.exists() else Vault.create(args.vault, source)
    n = vault.import_csv(args.csv)
    vault.save()
    print(f"imported {n} credentials into {args.vault}")
    return EXIT_OK


async def _run_daemon(args: argparse.Namespace) -> int:
    from agent.daemon import AgentDaemon

    cfg = load_config(args.config)
    if cfg.log_json:
        _json_logging()
    else:
        logging.getLogger().setLevel(logging.INFO)
    if cfg.targets is None:
        raise UsageError("cameras.targets must name the targets file for the daemon")
    targets = load_targets(cfg.targets)
    if cfg.vault is not None:
        # The vault's credentials win over the targets file, which may then carry placeholders only.
        vault = Vault.open(cfg.vault, _key_source(cfg.vault_key_file))
        targets = [Target(t.host, t.port, vault.get(t.host, t.port) or t.credentials) for t in targets]
    fleet = CameraFleet(targets, concurrency=cfg.concurrency, timeout=cfg.timeout_s, agent_id=cfg.agent_id,
                        site=cfg.site, network_allow=cfg.network_allow, source_address=cfg.source_address,
                        auth_memory=AuthMemory(cfg.state_dir / "auth-memory.jsonl"))  # fmt: skip
    daemon = AgentDaemon(cfg, fleet)
    fleet.snapshots = daemon.state.snapshot
    fleet.snapshot_used = daemon.state.mark_snapshot_used
    if cfg.metrics_port is not None:
        daemon.metrics.serve(cfg.metrics_port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stop)
    try:
        await daemon.run()
    finally:
        await fleet.close()
        daemon.close()
    return EXIT_OK


class _JsonFormatter(logging.Formatter):
    """JSON lines for journald/ELK; messages never carry secrets (credentials hide their password)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
               "logger": record.name, "msg": record.getMessage()}  # fmt: skip
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def _json_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exc.code or 0)
    # force: onvif-zeep-async calls logging.basicConfig(level=INFO) when imported (DESIGN §8), which would
    # otherwise make this call a no-op and put INFO lines on every command's stderr.
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)  # fmt: skip
    commands: dict[str, Callable[[], int]] = {
        "scan": lambda: asyncio.run(_scan(args)),
        "inventory": lambda: asyncio.run(_inventory(args)),
        "census": lambda: asyncio.run(_census(args)),
        "plan": lambda: asyncio.run(_apply(args, dry_run=True)),
        "apply": lambda: asyncio.run(_apply(args, dry_run=False)),
        "rollback": lambda: asyncio.run(_rollback(args)),
        "vault": lambda: _vault_import(args),
        "run": lambda: asyncio.run(_run_daemon(args)),
    }
    try:
        return commands[args.command]()
    except (UsageError, ConfigError, TargetsError, RangeError, VaultError, CensusError) as exc:
        print(f"camfleet-agent: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
