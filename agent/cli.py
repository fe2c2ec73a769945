"""Command line of the camfleet agent (stand-alone use on site, and the daemon)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="camfleet-agent",
        description="camfleet site agent: inventory and neutralise the cameras of one site or VLAN.",
    )
    p.add_argument("--version", action="version", version="camfleet-agent 0.1.0")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
