"""fleetctl: the network engineer's client of the controller REST API."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from controller import __version__
from controller.fleetctl import campaign as fleetctl_campaign
from controller.fleetctl import census as fleetctl_census
from controller.fleetctl import fleet as fleetctl_fleet
from controller.fleetctl import run as fleetctl_run
from controller.fleetctl.base import Context, Handler, Parser, Registrar
from controller.fleetctl.http import EXIT_HELP, Client, Exit, FleetctlError, plain_http_to_remote
from controller.fleetctl.output import Output

DEFAULT_URL = "http://127.0.0.1:8080"
# Subcommand modules, in --help order. Campaigns and approvals (`fleetctl campaign ...`, `fleetctl approve`)
# plug in here with their own module exposing register(subparsers, common).
REGISTRARS: list[Registrar] = [
    fleetctl_fleet.register,
    fleetctl_census.register,
    fleetctl_run.register,
    fleetctl_campaign.register,
]


def _global_options(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The global options, on the main parser (with defaults) and on every subcommand (without, so a value
    given before the subcommand is not reset by the subcommand's parser)."""

    def d(v: object) -> object:
        return v if defaults else argparse.SUPPRESS

    g = p.add_argument_group("global options")
    g.add_argument("--url", default=d(None), help=f"controller URL (env CAMFLEET_URL, default {DEFAULT_URL})")
    g.add_argument(
        "--token", default=d(None), help="API token (env CAMFLEET_TOKEN; prefer the env or --token-file)"
    )
    g.add_argument("--token-file", default=d(None), metavar="FILE", help="read the API token from FILE")
    g.add_argument("--json", action="store_true", default=d(False),
                   help="machine output: exactly one JSON document on stdout")  # fmt: skip
    g.add_argument("--timeout", type=float, default=d(15.0), metavar="SECONDS",
                   help="timeout of each HTTP request (default 15)")  # fmt: skip
    g.add_argument("--quiet", "-q", action="store_true", default=d(False), help="no progress bar or notes")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="fleetctl",
        description="fleetctl: query the fleet and run commands through the camfleet controller.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"fleetctl {__version__}")
    _global_options(p, defaults=True)
    common = Parser(add_help=False)
    _global_options(common, defaults=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for register in REGISTRARS:
        register(sub, common)
    for sp in sub.choices.values():
        sp.epilog = sp.epilog or EXIT_HELP
        sp.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        try:
            return Path(args.token_file).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise FleetctlError(
                f"--token-file: cannot read {args.token_file}: {exc.strerror}", Exit.USAGE
            ) from exc
    return args.token or os.environ.get("CAMFLEET_TOKEN") or None


async def _dispatch(args: argparse.Namespace, out: Output, token: str | None) -> int:
    if args.timeout <= 0:
        raise FleetctlError("--timeout: must be positive", Exit.USAGE)
    url = args.url or os.environ.get("CAMFLEET_URL") or DEFAULT_URL
    if token and plain_http_to_remote(url):
        out.note(f"warning: sending the API token unencrypted to {url.split('@')[-1]}; use https://")
    handler: Handler = args.handler
    async with Client(url, token, args.timeout) as client:
        return await handler(Context(client, out), args)


def _scrub(message: str, token: str | None) -> str:
    """Belt and braces: whatever produced the message, the token never reaches the terminal."""
    return message.replace(token, "***") if token and len(token) >= 4 else message


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    out = Output(as_json)
    token: str | None = None
    try:
        args = build_parser().parse_args(argv)
        out = Output(args.json, quiet=args.quiet)
        token = _token(args)
        return int(asyncio.run(_dispatch(args, out, token)))
    except FleetctlError as exc:
        msg = _scrub(exc.message, token)
        sys.stderr.write(f"fleetctl: error: {msg}\n")
        if out.as_json and not out.emitted:
            doc: dict[str, object] = {"error": msg, "exit_code": int(exc.code)}
            if exc.status is not None:
                doc["status"] = exc.status
            out.document(doc)
        return int(exc.code)
    except KeyboardInterrupt:
        sys.stderr.write("fleetctl: interrupted (commands already sent keep running on the agents)\n")
        if out.as_json and not out.emitted:
            out.document({"error": "interrupted", "exit_code": 130})
        return 130
    except BrokenPipeError:
        # `fleetctl cameras --all | head`: the reader left; not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        # A bug: say so briefly, without a traceback that might carry request details, unless asked.
        if os.environ.get("FLEETCTL_DEBUG"):
            raise
        msg = _scrub(f"internal error: {type(exc).__name__}: {exc}", token)
        sys.stderr.write(f"fleetctl: {msg} (FLEETCTL_DEBUG=1 shows the traceback)\n")
        if out.as_json and not out.emitted:
            out.document({"error": msg, "exit_code": int(Exit.INTERNAL)})
        return int(Exit.INTERNAL)


if __name__ == "__main__":
    sys.exit(main())
