"""fleetctl read-only subcommands: cameras, agents, export, audit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from controller.fleetctl.base import API, Context, Parser, SubParsers, usage
from controller.fleetctl.http import Exit
from controller.fleetctl.output import ago, table, value, when
from controller.fleetctl.where import WhereError, add_filter_flags, filters_from_args

MAX_PAGE = 500  # the API's largest page (controller.api.MAX_PAGE)


def _filters(args: argparse.Namespace) -> dict[str, str]:
    try:
        return filters_from_args(args)
    except WhereError as exc:
        raise usage(str(exc)) from exc


def maker(c: dict[str, Any]) -> str:
    """`ANNKE → hikvision (OEM)`: what the camera says, and who really made it."""
    reported = str(c.get("manufacturer") or "?")
    origin = c.get("origin") or {}
    real = str(origin.get("manufacturer") or "unknown")
    s = reported if reported.lower().startswith(real.lower()) else f"{reported} → {real}"
    return f"{s} (OEM)" if origin.get("oem_rebrand") else s


def camera_cells(c: dict[str, Any]) -> list[object]:
    host = c.get("host", "")
    if c.get("port") not in (None, 80):
        host = f"{host}:{c['port']}"
    risk = c.get("risk") or {}
    return [
        c.get("camera_id"), c.get("site"), host, maker(c), c.get("model"), c.get("firmware"),
        f"{risk.get('level', '?')} {risk.get('score', '')}".strip(), "yes" if c.get("cloud_reachable") else "no",
        c.get("lifecycle"),
    ]  # fmt: skip


CAMERA_HEADERS = [
    "id",
    "site",
    "host",
    "manufacturer → origin",
    "model",
    "firmware",
    "risk",
    "cloud",
    "lifecycle",
]


async def cameras(ctx: Context, args: argparse.Namespace) -> int:
    flt = _filters(args)
    if args.limit < 1:
        raise usage("--limit: at least 1")
    if not 1 <= args.page_size <= MAX_PAGE:
        raise usage(f"--page-size: between 1 and {MAX_PAGE}")
    want = None if args.all else args.limit
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    offset, total = args.offset, 0
    # Walk the server's pages; a camera that moves between pages while we walk is listed once.
    while True:
        page = args.page_size if want is None else min(args.page_size, want - len(rows))
        doc = await ctx.client.get_json(
            f"{API}/cameras", {**flt, "limit": str(page), "offset": str(offset), "order": args.order}
        )
        total = int(doc.get("total", 0))
        batch = list(doc.get("cameras", []))
        for c in batch:
            if c.get("camera_id") not in seen:
                seen.add(str(c.get("camera_id")))
                rows.append(c)
        offset += len(batch)
        if not batch or offset >= total or (want is not None and len(rows) >= want):
            break
    if ctx.out.as_json:
        ctx.out.document({"total": total, "offset": args.offset, "count": len(rows), "cameras": rows})
        return Exit.OK
    ctx.out.text(table(CAMERA_HEADERS, [camera_cells(c) for c in rows]))
    more = total - args.offset - len(rows)
    tail = f"; {more} more: --all, or --offset {args.offset + len(rows)}" if more > 0 else ""
    ctx.out.text(f"{len(rows)} of {total} cameras{tail}")
    return Exit.OK


async def agents(ctx: Context, args: argparse.Namespace) -> int:
    doc = await ctx.client.get_json(f"{API}/agents")
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    rows = [
        [a.get("agent_id"), a.get("site"), "online" if a.get("online") else "OFFLINE", ago(a.get("last_seen") or 0),
         a.get("version"), a.get("camera_count"), a.get("boot_seq")]
        for a in doc.get("agents", [])
    ]  # fmt: skip
    ctx.out.text(table(["agent", "site", "status", "last seen", "version", "cameras", "boot"], rows))
    online = sum(1 for a in doc.get("agents", []) if a.get("online"))
    ctx.out.text(f"{len(rows)} agents, {online} online")
    return Exit.OK


def counts(d: Any) -> str:
    if not isinstance(d, dict) or not d:
        return "none"
    return ", ".join(f"{k} {n}" for k, n in sorted(d.items(), key=lambda kv: (-int(kv[1]), str(kv[0]))))


async def summary(ctx: Context, args: argparse.Namespace) -> int:
    """How many cameras of which real maker, where, how exposed: the ministry's question in one screen."""
    doc = await ctx.client.get_json(f"{API}/summary", _filters(args))
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    lines = [
        ("cameras", str(doc.get("total", 0))),
        ("by origin", counts(doc.get("origin"))),
        ("covered makers", f"{doc.get('covered', 0)} (NDAA §889), of which OEM rebrands {doc.get('oem_rebrand', 0)}"),
        ("cloud-reachable", str(doc.get("cloud_reachable", 0))),
        ("by site", counts(doc.get("site"))),
        ("by risk", counts(doc.get("risk_level"))),
        ("by lifecycle", counts(doc.get("lifecycle"))),
        ("by reported maker", counts(doc.get("manufacturer"))),
    ]  # fmt: skip
    for k, v in lines:
        ctx.out.text(f"{k + ':':<19}{v}")
    return Exit.OK


def _count_rows(path: Path, fmt: str) -> int:
    if fmt == "json":
        with path.open("rb") as f:
            return len(json.load(f).get("cameras", []))
    with path.open(newline="", encoding="utf-8") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def _publish(tmp: Path, out: Path, fmt: str) -> tuple[int, int]:
    n = _count_rows(tmp, fmt)
    tmp.replace(out)
    return n, out.stat().st_size


def _discard(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


async def export(ctx: Context, args: argparse.Namespace) -> int:
    flt = _filters(args)
    fmt = args.format or ("json" if ctx.out.as_json else "csv")
    if ctx.out.as_json and fmt == "csv" and args.output is None:
        raise usage("--json with --format csv needs --output FILE (stdout carries the JSON document)")
    params = {**flt, "format": fmt}
    if args.output is None:
        _, data = await ctx.client.request("GET", f"{API}/export", params=params)
        ctx.out.out.write(data.decode("utf-8"))
        ctx.out.out.flush()
        return Exit.OK
    out = Path(args.output)
    # Write next to the target and rename, so an interrupted export never leaves a half file under its name
    # (mkstemp makes it 0600: an inventory of weak cameras is sensitive).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        await ctx.client.request("GET", f"{API}/export", params=params, sink=tmp)
        n, size = await asyncio.to_thread(_publish, tmp, out, fmt)
    finally:
        await asyncio.to_thread(_discard, tmp)
    if ctx.out.as_json:
        ctx.out.document({"output": str(out), "format": fmt, "rows": n, "bytes": size})
    else:
        ctx.out.note(f"wrote {n} cameras ({fmt}) to {out}")
    return Exit.OK


async def audit(ctx: Context, args: argparse.Namespace) -> int:
    if args.verify:
        rep = await ctx.client.get_json(f"{API}/audit/verify")
        code = Exit.OK if rep.get("ok") else Exit.FAILURES
        if ctx.out.as_json:
            ctx.out.document({**rep, "exit_code": int(code)})
            return code
        if rep.get("ok"):
            ctx.out.text(f"audit chain intact: {rep.get('entries')} entries verified")
        else:
            ctx.out.text(f"AUDIT CHAIN BROKEN ({rep.get('entries')} entries):")
            for p in rep.get("problems", []):
                ctx.out.text(f"  - {p}")
        return code
    doc = await ctx.client.get_json(f"{API}/audit", {"limit": str(args.limit), "offset": str(args.offset)})
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    rows = [
        [e.get("seq"), when(e.get("at") or 0), e.get("actor"), e.get("action"), e.get("subject"),
         value(e.get("details"))]
        for e in doc.get("entries", [])
    ]  # fmt: skip
    ctx.out.text(table(["seq", "time", "actor", "action", "subject", "details"], rows, max_width=60))
    return Exit.OK


def register(sub: SubParsers, common: Parser) -> None:
    p = sub.add_parser("cameras", parents=[common], help="list cameras (filters, server-side pagination)",
                       description="List cameras. Filters combine (AND).")  # fmt: skip
    add_filter_flags(p)
    p.add_argument("--limit", type=int, default=50, help="show at most N cameras (default 50; pages of 500)")
    p.add_argument("--offset", type=int, default=0, help="skip the first N matching cameras")
    p.add_argument("--all", action="store_true", help="walk every page (ignores --limit)")
    p.add_argument("--order", default="camera_id", help="sort column, -column for descending")
    p.add_argument("--page-size", type=int, default=MAX_PAGE, help=f"cameras per request (max {MAX_PAGE})")
    p.set_defaults(handler=cameras)

    p = sub.add_parser(
        "summary", parents=[common], help="fleet counts: origin, OEM rebrands, sites, risk, cloud"
    )
    add_filter_flags(p)
    p.set_defaults(handler=summary)

    p = sub.add_parser("agents", parents=[common], help="list agents with online status")
    p.set_defaults(handler=agents)

    p = sub.add_parser("export", parents=[common], help="export cameras as CSV or JSON")
    add_filter_flags(p)
    p.add_argument("--format", choices=["csv", "json"], help="default csv (json with --json)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(handler=export)

    p = sub.add_parser("audit", parents=[common], help="show the audit log, or --verify its hash chain",
                       description="Show the audit log. With --verify, check the hash chain: exit 1 if broken.")  # fmt: skip
    p.add_argument("--verify", action="store_true", help="verify the hash chain (exit 1 if it is broken)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(handler=audit)
