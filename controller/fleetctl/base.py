"""What every fleetctl subcommand gets (client, output) and how a subcommand module plugs into the parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from controller.fleetctl.http import Client, Exit, FleetctlError
from controller.fleetctl.output import Output


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as FleetctlError (exit 2, and a JSON document under --json)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise FleetctlError(f"{self.prog}: {message}", Exit.USAGE)


if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[Parser]
else:
    SubParsers = argparse._SubParsersAction


@dataclass
class Context:
    client: Client
    out: Output


# A subcommand handler returns fleetctl's exit code; it is stored with `parser.set_defaults(handler=...)`.
Handler = Callable[[Context, argparse.Namespace], Awaitable[int]]
# A subcommand module exposes `register(subparsers, common)`; `common` is the parent parser holding the global
# options (--url, --token, --json, --timeout, ...) so that they work after the subcommand name too.
Registrar = Callable[[SubParsers, Parser], None]

API = "/api/v1"


def usage(message: str) -> FleetctlError:
    return FleetctlError(message, Exit.USAGE)
