"""fleetctl command subcommands: run (create, wait with a progress bar, summarise), status, cancel, commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.fleetctl.base import API, Context, Parser, SubParsers, usage
from controller.fleetctl.http import EXIT_HELP, Exit, FleetctlError
from controller.fleetctl.output import ProgressBar, table, value, when
from controller.fleetctl.params import add_network_flags, network_params, split_list
from controller.fleetctl.where import WhereError, add_filter_flags, filters_from_args, where_body
from controller.states import EXEC_FINAL

# Execution states after which nothing more happens.
FINAL = EXEC_FINAL
# Per-setting outcomes as the API reports them (protos Outcome, lower-cased).
OUTCOMES = ("changed", "would_change", "already", "unsupported", "failed")


@dataclass(frozen=True)
class RunAction:
    """A `fleetctl run` action: its API name, help, its own flags, and how they become API params."""

    api: str
    help: str
    add_flags: Callable[[argparse.ArgumentParser], None]
    params: Callable[[argparse.Namespace], dict[str, Any]]


def _no_flags(p: argparse.ArgumentParser) -> None:
    return None


def _cloud_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature", action="append", metavar="NAME",
                   help="only these cloud features (EZVIZ, Ehome, T2U, UPnP, DDNS ...); default all")  # fmt: skip


def _inventory_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-vendor-apis", action="store_true", help="ONVIF only, skip ISAPI/Dahua HTTP APIs")


# Destructive actions (decommission, factory reset) are not here on purpose: they need approvals and run
# through campaigns (`fleetctl campaign ...` / `fleetctl approve`), which register their own subcommands.
RUN_ACTIONS: dict[str, RunAction] = {
    "disable-cloud": RunAction(
        "disable_cloud", "switch off vendor cloud / P2P features", _cloud_flags,
        lambda a: {"features": split_list(a.feature)} if a.feature else {},
    ),
    "restrict-network": RunAction(
        "restrict_network", "IP allow-list, NTP, only the kept protocols on", add_network_flags,
        lambda a: network_params(a, clear_switches=True),
    ),
    "inventory": RunAction(
        "inventory", "re-read the cameras now", _inventory_flags,
        lambda a: {"include_vendor_apis": False} if a.no_vendor_apis else {},
    ),
    "reboot": RunAction("reboot", "reboot the cameras", _no_flags, lambda a: {}),
}  # fmt: skip


# ---- polling and summaries (reused by status and, later, campaign status) ----------------------------
async def fetch_commands(ctx: Context, ids: Sequence[str]) -> list[dict[str, Any]]:
    results = await asyncio.gather(
        *(ctx.client.get_json(f"{API}/commands/{i}") for i in ids), return_exceptions=True
    )
    docs: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, BaseException):
            raise r
        docs.append(r)
    return docs


def executions(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in docs:
        for e in d.get("executions", []):
            out.append({**e, "agent_id": d.get("agent_id", ""), "command_id": d.get("command_id", "")})
    return out


def _progress_detail(execs: Sequence[dict[str, Any]]) -> str:
    c = Counter(str(e.get("state")) for e in execs)
    bad = c["FAILED"] + c["REJECTED"] + c["TIMED_OUT"] + c["CANCELED"]
    return f"ok {c['SUCCEEDED']}  failed {bad}  running {c['ACCEPTED'] + c['IN_PROGRESS']}"


async def wait_for(
    ctx: Context, ids: Sequence[str], wait_s: float, interval: float
) -> tuple[list[dict[str, Any]], bool]:
    """Poll the commands until every execution is final or `wait_s` passes; returns (commands, complete).
    A controller that drops out for a while (restart) is retried until the deadline."""
    bar = ProgressBar(ctx.out.err, enabled=not ctx.out.quiet)
    deadline = time.monotonic() + wait_s
    warned = False
    try:
        while True:
            try:
                docs = await fetch_commands(ctx, ids)
            except FleetctlError as exc:
                if exc.code != Exit.UNREACHABLE or time.monotonic() >= deadline:
                    raise
                if not warned:
                    ctx.out.note(f"{exc.message}; retrying")
                    warned = True
                await asyncio.sleep(interval)
                continue
            execs = executions(docs)
            done = sum(1 for e in execs if e.get("state") in FINAL)
            bar.update(done, len(execs), _progress_detail(execs))
            if done == len(execs):
                return docs, True
            left = deadline - time.monotonic()
            if left <= 0:
                return docs, False
            await asyncio.sleep(min(interval, left))
    finally:
        bar.close()


def setting_counts(settings: Sequence[dict[str, Any]]) -> Counter[str]:
    return Counter(str(s.get("outcome", "unspecified")) for s in settings)


def _outcome_rank(outcome: str) -> tuple[int, str]:
    return (OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES), outcome)


def totals(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    execs = executions(docs)
    settings: Counter[str] = Counter()
    for e in execs:
        settings.update(setting_counts(e.get("settings") or []))
    return {
        "cameras": len(execs),
        "states": dict(sorted(Counter(str(e.get("state")) for e in execs).items())),
        "settings": {o: settings[o] for o in sorted(settings, key=_outcome_rank)},
    }


def outcome_code(docs: Sequence[dict[str, Any]], *, pending_fails: bool) -> Exit:
    """1 when any camera failed, was rejected, timed out or canceled, or had a setting fail; also when some
    are still pending and the caller waited for completion."""
    for e in executions(docs):
        state = e.get("state")
        if state in FINAL and state != "SUCCEEDED":
            return Exit.FAILURES
        if state not in FINAL and pending_fails:
            return Exit.FAILURES
        if setting_counts(e.get("settings") or [])["failed"]:
            return Exit.FAILURES
    return Exit.OK


def _error(e: dict[str, Any]) -> str:
    cls, msg = str(e.get("error_class") or ""), str(e.get("message") or "")
    return f"{cls}: {msg}" if cls and msg else cls or msg


def render_summary(ctx: Context, docs: Sequence[dict[str, Any]], *, diff: bool) -> None:
    """Per-command header, per-setting diff (dry runs, or --diff), per-camera table and totals."""
    dry = any(d.get("dry_run") for d in docs)
    for d in docs:
        tag = "  DRY RUN" if d.get("dry_run") else ""
        ctx.out.text(f"command {d.get('command_id')}  agent {d.get('agent_id')}  {d.get('action')}{tag}  "
                     f"state {d.get('state')}  by {d.get('created_by')} at {when(d.get('created_at') or 0)}")  # fmt: skip
    execs = sorted(executions(docs), key=lambda e: (str(e.get("camera_id")), str(e.get("command_id"))))
    if diff or dry:
        changes = [
            [e.get("camera_id"), s.get("setting"), value(s.get("before")), "→", value(s.get("after")),
             s.get("outcome")]
            for e in execs for s in e.get("settings") or []
            if s.get("outcome") in ("would_change", "changed", "failed")
        ]  # fmt: skip
        ctx.out.text()
        if changes:
            ctx.out.text(table(["camera", "setting", "before", "", "after", "outcome"], changes))
        else:
            ctx.out.text("no setting would change" if dry else "no setting changed")
    rows = []
    for e in execs:
        c = setting_counts(e.get("settings") or [])
        rows.append([e.get("camera_id"), e.get("agent_id"), e.get("state"), c["changed"] + c["would_change"],
                     c["already"], c["unsupported"], c["failed"], _error(e)])  # fmt: skip
    ctx.out.text()
    ctx.out.text(table(["camera", "agent", "state", "would change" if dry else "changed", "already",
                        "unsupported", "failed", "error"], rows, max_width=60))  # fmt: skip
    t = totals(docs)
    states = ", ".join(f"{n} {s.lower()}" for s, n in t["states"].items()) or "none"
    sets = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in t["settings"].items()) or "none"
    ctx.out.text(f"\n{t['cameras']} cameras: {states}\nsettings: {sets}")


def finish(
    ctx: Context, docs: list[dict[str, Any]], complete: bool, *, pending_fails: bool, diff: bool
) -> int:
    code = outcome_code(docs, pending_fails=pending_fails)
    if ctx.out.as_json:
        ctx.out.document(
            {"commands": docs, "totals": totals(docs), "complete": complete, "exit_code": int(code)}
        )
        return code
    render_summary(ctx, docs, diff=diff)
    if not complete:
        ids = " ".join(str(d.get("command_id")) for d in docs)
        ctx.out.text(f"still running; follow with: fleetctl status --wait {ids}")
    return code


# ---- subcommands --------------------------------------------------------------------------------
async def count_selected(ctx: Context, where: dict[str, str]) -> int:
    """How many cameras the selector matches now (tags are not a camera filter: an upper bound then)."""
    query = {k: v for k, v in where.items() if k != "tags"}
    doc = await ctx.client.get_json(f"{API}/cameras", {**query, "limit": "1"})
    return int(doc.get("total", 0))


async def _confirm(ctx: Context, action: str, where: dict[str, str]) -> int:
    """Ask before changing real cameras when a person is at the terminal (scripts pass --yes, or no tty).
    Returns the number of cameras the person agreed to: the controller refuses the command if it grew."""
    n = await count_selected(ctx, where)
    sel = ",".join(f"{k}={v}" for k, v in where.items()) or "the whole fleet"
    # The question goes to stderr, so a redirected stdout holds only the results.
    ctx.out.err.write(f"{action} on {n} cameras ({sel})? [y/N] ")
    ctx.out.err.flush()
    answer = await asyncio.to_thread(sys.stdin.readline)
    if answer.strip().lower() not in ("y", "yes"):
        raise FleetctlError("aborted; nothing was sent", Exit.USAGE)
    return n


async def run(ctx: Context, args: argparse.Namespace) -> int:
    action: RunAction = args.run_action
    try:
        where = filters_from_args(args)
        selection = where_body(where, all_cameras=args.all_cameras)
    except WhereError as exc:
        raise usage(str(exc)) from exc
    if not 10 <= args.ttl <= 7 * 86400:
        raise usage("--ttl: between 10 seconds and 7 days")
    params = action.params(args)
    body: dict[str, Any] = {
        "action": action.api,
        "params": params,
        "where": selection,
        "dry_run": args.dry_run,
        "ttl_s": args.ttl,
    }
    if not args.dry_run and not args.yes and not ctx.out.as_json and sys.stdin.isatty():
        body["expect_cameras"] = await _confirm(ctx, action.api, where)
    created = list((await ctx.client.post_json(f"{API}/commands", body)).get("commands", []))
    ids = [str(c["command_id"]) for c in created]
    if args.no_wait:
        if ctx.out.as_json:
            ctx.out.document({"commands": created, "waited": False, "exit_code": 0})
        else:
            rows = [[c.get("command_id"), c.get("agent_id"), c.get("action"), "yes" if c.get("dry_run") else "",
                     c.get("state")] for c in created]  # fmt: skip
            ctx.out.text(table(["command", "agent", "action", "dry run", "state"], rows))
            ctx.out.text(f"follow with: fleetctl status --wait {' '.join(ids)}")
        return Exit.OK
    ctx.out.note(f"created {len(ids)} command(s) for {len(ids)} agent(s): {' '.join(ids)}")
    wait_s = args.wait_timeout if args.wait_timeout is not None else args.ttl + 30
    docs, complete = await wait_for(ctx, ids, wait_s, args.interval)
    return finish(ctx, docs, complete, pending_fails=True, diff=args.diff)


async def status(ctx: Context, args: argparse.Namespace) -> int:
    if args.wait:
        wait_s = args.wait_timeout if args.wait_timeout is not None else 900.0
        docs, complete = await wait_for(ctx, args.command_ids, wait_s, args.interval)
    else:
        docs = await fetch_commands(ctx, args.command_ids)
        complete = all(e.get("state") in FINAL for e in executions(docs))
    # Without --wait a command still running is not a failure; with --wait, not finishing in time is.
    return finish(ctx, docs, complete, pending_fails=args.wait, diff=args.diff)


async def cancel(ctx: Context, args: argparse.Namespace) -> int:
    results = []
    for cid in args.command_ids:
        await ctx.client.get_json(f"{API}/commands/{cid}")  # 404 (exit 5) before the cancel's 400
        doc = await ctx.client.post_json(f"{API}/commands/{cid}/cancel", {})
        results.append({"command_id": cid, "canceled": int(doc.get("canceled", 0))})
    if ctx.out.as_json:
        ctx.out.document({"results": results})
    else:
        for r in results:
            ctx.out.text(f"{r['command_id']}: {r['canceled']} execution(s) canceled")
    return Exit.OK


async def commands(ctx: Context, args: argparse.Namespace) -> int:
    doc = await ctx.client.get_json(f"{API}/commands", {"limit": str(args.limit), "offset": str(args.offset)})
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    rows = [[c.get("command_id"), c.get("agent_id"), c.get("action"), "yes" if c.get("dry_run") else "",
             c.get("state"), when(c.get("created_at") or 0), c.get("created_by")]
            for c in doc.get("commands", [])]  # fmt: skip
    ctx.out.text(table(["command", "agent", "action", "dry run", "state", "created", "by"], rows))
    return Exit.OK


def _wait_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                   help="stop waiting after this long (run: default the TTL + 30 s; status --wait: 900 s)")  # fmt: skip
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="poll interval (default 1)")
    p.add_argument("--diff", action="store_true", help="show each changed setting (before → after)")


def register(sub: SubParsers, common: Parser) -> None:
    p = sub.add_parser(
        "run", parents=[common], help="run an action on the selected cameras and wait for the results",
        description="Create the command (one signed command per agent), then show a progress bar on stderr while "
                    "results arrive and a per-camera summary. Exit 1 if any camera failed, was rejected, timed "
                    "out, or had not finished when waiting stopped.",
    )  # fmt: skip
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, act in RUN_ACTIONS.items():
        ap = actions.add_parser(
            name, parents=[common], help=act.help, description=act.help, epilog=EXIT_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        add_filter_flags(ap)
        ap.add_argument("--all", "--all-cameras", dest="all_cameras", action="store_true",
                        help="target the whole fleet (instead of --where)")  # fmt: skip
        act.add_flags(ap)
        ap.add_argument("--dry-run", action="store_true", help="ask the agents for the diff, change nothing")
        ap.add_argument("--no-wait", action="store_true", help="create the command(s) and return")
        ap.add_argument("--ttl", type=float, default=900.0, metavar="SECONDS",
                        help="the command expires (executions time out) after this long (default 900)")  # fmt: skip
        ap.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation on a terminal")
        _wait_flags(ap)
        ap.set_defaults(handler=run, run_action=act)

    p = sub.add_parser("status", parents=[common], help="show (or --wait for) commands and their results",
                       description="Per-camera results of commands. Exit 1 if any camera failed, was rejected "
                                   "or timed out (with --wait: also if not finished in time).")  # fmt: skip
    p.add_argument("command_ids", nargs="+", metavar="CMD")
    p.add_argument("--wait", action="store_true", help="poll with a progress bar until every camera is done")
    _wait_flags(p)
    p.set_defaults(handler=status)

    p = sub.add_parser("cancel", parents=[common], help="cancel the executions of commands not yet started")
    p.add_argument("command_ids", nargs="+", metavar="CMD")
    p.set_defaults(handler=cancel)

    p = sub.add_parser("commands", parents=[common], help="list recent commands")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(handler=commands)
