"""Camera selectors for fleetctl: `--where origin=hikvision,site=north` and the filter flags, as API query keys."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

# The API's filter names (controller.api.camera_filter) and the aliases fleetctl accepts for them. Unknown
# keys are refused here because the API ignores them: a typo like `orign=` would otherwise select everything.
KEYS = {
    "origin": "origin",
    "manufacturer": "manufacturer",
    "vendor": "manufacturer",
    "site": "site",
    "agent": "agent",
    "risk": "risk",
    "lifecycle": "lifecycle",
    "state": "lifecycle",
    "covered": "covered",
    "cloud_reachable": "cloud_reachable",
    "cloud-reachable": "cloud_reachable",
    "q": "q",
    "search": "q",
    "ids": "ids",
    "id": "ids",
}
BOOLS = ("covered", "cloud_reachable")
LISTS = ("ids",)


class WhereError(ValueError):
    """A selector fleetctl cannot turn into API filters (a usage error)."""


def parse_where(items: Iterable[str]) -> dict[str, str]:
    """`origin=hikvision,site=north` (repeatable) -> {"origin": "hikvision", "site": "north"}.

    A comma-separated part without `=` continues the list before it, so `ids=cam-1,cam-2,site=north` works."""
    out: dict[str, str] = {}
    last: str | None = None
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            if "=" not in part:
                if last not in LISTS:
                    raise WhereError(f"--where: {part!r} is not KEY=VALUE (keys: {', '.join(sorted(KEYS))})")
                out[last] = f"{out[last]},{part}"
                continue
            key, value = (s.strip() for s in part.split("=", 1))
            api_key = KEYS.get(key.lower())
            if api_key is None:
                raise WhereError(f"--where: unknown key {key!r} (one of {', '.join(sorted(KEYS))})")
            if not value:
                raise WhereError(f"--where: {key} needs a value")
            if api_key in out and api_key not in LISTS:
                raise WhereError(f"--where: {key} given twice")
            if api_key in BOOLS:
                value = _bool(key, value)
            out[api_key] = f"{out[api_key]},{value}" if api_key in out else value
            last = api_key
    return out


def where_body(where: dict[str, str], *, all_cameras: bool = False) -> dict[str, Any]:
    """The selector as the API's JSON selection (controller.models.Selection): lists for ids and tags, real
    booleans, and `"all": true` only when the person asked for the whole fleet."""
    if all_cameras:
        if where:
            raise WhereError("--all selects every camera; drop --where and the filter flags, or drop --all")
        return {"all": True}
    if not where:
        raise WhereError("name the cameras with --where KEY=VALUE (or --all for the whole fleet)")
    out: dict[str, Any] = {}
    for key, value in where.items():
        if key in ("ids", "tags"):
            out[key] = [x.strip() for x in value.split(",") if x.strip()]
        elif key in BOOLS:
            out[key] = value == "true"
        else:
            out[key] = value
    return out


def _bool(key: str, value: str) -> str:
    v = value.lower()
    if v in ("1", "true", "yes", "y"):
        return "true"
    if v in ("0", "false", "no", "n"):
        return "false"
    raise WhereError(f"--where: {key} is true or false, not {value!r}")


def add_filter_flags(p: argparse.ArgumentParser) -> None:
    """The filter flags shared by `cameras` and `export` (combined with any --where)."""
    g = p.add_argument_group("filters")
    g.add_argument("--where", action="append", default=[], metavar="KEY=VALUE[,...]",
                   help=f"selector, e.g. origin=hikvision,site=north; keys: {', '.join(sorted(set(KEYS)))}")  # fmt: skip
    g.add_argument("--origin", help="manufacturer of origin (hikvision, dahua, ...; OEM rebrands included)")
    g.add_argument("--site")
    g.add_argument("--vendor", help="manufacturer the camera reports (e.g. an OEM brand)")
    g.add_argument("--agent", help="agent id")
    g.add_argument("--risk", choices=["low", "medium", "high", "critical", "unknown"])
    g.add_argument("--state", help="lifecycle state (DISCOVERED, INVENTORIED, CLOUD_OFF, ...)")
    g.add_argument(
        "--cloud-reachable", action="store_true", help="only cameras that reach their vendor cloud"
    )
    g.add_argument("--covered", action="store_true", help="only makers on the NDAA §889 list")
    g.add_argument("--search", help="free text in id, host, model, manufacturer, firmware")


def filters_from_args(args: argparse.Namespace) -> dict[str, str]:
    """--where plus the filter flags; a flag and a --where key for the same filter must not disagree."""
    out = parse_where(args.where)
    flags = {
        "origin": args.origin, "manufacturer": args.vendor, "site": args.site, "agent": args.agent,
        "risk": args.risk, "lifecycle": args.state, "q": args.search,
        "cloud_reachable": "true" if args.cloud_reachable else None, "covered": "true" if args.covered else None,
    }  # fmt: skip
    for key, value in flags.items():
        if value is None:
            continue
        if key in out and out[key] != value:
            raise WhereError(f"{key}: --where says {out[key]!r} but the flag says {value!r}")
        out[key] = value
    return out
