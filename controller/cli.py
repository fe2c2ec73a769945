"""Command line of the camfleet controller (serve, PKI, broker config, audit)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="camfleet-controller",
        description="camfleet controller: fleet state, signed commands, campaigns and the dashboard.",
    )
    p.add_argument("--version", action="version", version="camfleet-controller 0.1.0")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
