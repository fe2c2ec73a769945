"""fleetctl: the network engineer's client of the controller REST API."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fleetctl",
        description="fleetctl: query the fleet and run commands through the camfleet controller.",
    )
    p.add_argument("--version", action="version", version="fleetctl 0.1.0")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
