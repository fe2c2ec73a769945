"""fleetctl read-only subcommands of the census: fleet (how many, and whose?) and recorders (their channels)."""

from __future__ import annotations

import argparse

from controller.fleetctl.base import API, Context, Parser, SubParsers
from controller.fleetctl.fleet import counts
from controller.fleetctl.http import Exit
from controller.fleetctl.output import table


async def fleet(ctx: Context, args: argparse.Namespace) -> int:
    """Every camera once, however it is known: inventoried, found by the census, or only behind a recorder."""
    doc = await ctx.client.get_json(f"{API}/fleet")
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    status = doc.get("census_by_status") or {}
    lines = [
        ("cameras", str(doc.get("cameras", 0))),
        ("by origin", counts(doc.get("by_origin"))),
        ("inventoried", f"{doc.get('inventoried', 0)} (read with credentials)"),
        ("census only", f"{doc.get('census_only', 0)} (found without credentials, not inventoried)"),
        ("behind a recorder", f"{doc.get('behind_recorder_only', 0)} only through a recorder channel, "
                              f"{doc.get('on_recorders', 0)} on a recorder in all"),
        ("unactivated", f"{doc.get('unactivated', 0)} (no password set yet: anyone on the segment can claim them)"),
        ("recorders", f"{doc.get('recorders', 0)} with {doc.get('channels', 0)} channels, "
                      f"{doc.get('channels_online', 0)} online"),
        ("census devices", f"{doc.get('census_devices', 0)}: " + counts({k: v for k, v in status.items() if v})),
    ]  # fmt: skip
    for k, v in lines:
        ctx.out.text(f"{k + ':':<19}{v}")
    behind = doc.get("behind") or []
    if behind and args.behind:
        rows = [[b.get("recorder_host"), b.get("channel"), b.get("address"), b.get("model"), b.get("serial"),
                 b.get("origin") or "unknown", "online" if b.get("online") else "offline"] for b in behind]  # fmt: skip
        ctx.out.text("\ncameras seen only behind a recorder:")
        ctx.out.text(table(["recorder", "ch", "address", "model", "serial", "origin", "state"], rows))
    return Exit.OK


async def recorders(ctx: Context, args: argparse.Namespace) -> int:
    doc = await ctx.client.get_json(f"{API}/recorders")
    if ctx.out.as_json:
        ctx.out.document(doc)
        return Exit.OK
    rows = [
        [r.get("recorder_id"), r.get("site"), r.get("host"), c.get("channel"), c.get("address"), c.get("protocol"),
         "online" if c.get("online") else (c.get("status") or "offline"), c.get("model"), c.get("serial"),
         c.get("origin") or "unknown", c.get("camera_id") or ""]
        for r in doc.get("recorders", []) for c in r.get("channels", [])
    ]  # fmt: skip
    headers = [
        "recorder",
        "site",
        "host",
        "ch",
        "address",
        "protocol",
        "state",
        "model",
        "serial",
        "origin",
        "camera",
    ]
    ctx.out.text(table(headers, rows) if rows else "no recorder channels reported")
    return Exit.OK


def register(sub: SubParsers, common: Parser) -> None:
    p = sub.add_parser("fleet", parents=[common], help="how many cameras, and whose: census, inventory, recorders",
                       description="Count every camera once, whether it was inventoried, found by the "
                                   "credential-free census, or is visible only through a recorder channel.")  # fmt: skip
    p.add_argument("--behind", action="store_true", help="also list the cameras seen only behind a recorder")
    p.set_defaults(handler=fleet)
    p = sub.add_parser("recorders", parents=[common], help="list recorders and the camera on each channel")
    p.set_defaults(handler=recorders)
