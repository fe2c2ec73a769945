"""Action flags shared by `fleetctl run` and `fleetctl campaign create`, and the API params made of them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def split_list(values: Sequence[str] | None) -> list[str]:
    """Repeatable flags that also take comma-separated lists: --allow a --allow b,c -> [a, b, c]."""
    return [x.strip() for v in values or [] for x in v.split(",") if x.strip()]


def add_network_flags(p: argparse._ActionsContainer) -> None:
    """The restrict_network flags, on a parser or an argument group."""
    p.add_argument("--allow", action="append", metavar="CIDR",
                   help="address or network that may still reach the cameras (the recorder, the VMS); "
                        "repeatable. Required unless --agent-only. The agent is always allowed.")  # fmt: skip
    p.add_argument("--agent-only", action="store_true",
                   help="send no allow list: each agent keeps only its site's cameras.network_allow, or with none "
                        "lets itself alone in (cuts the recorders off)")  # fmt: skip
    p.add_argument("--ntp", metavar="ADDR", help="NTP server to set")
    p.add_argument("--keep", action="append", metavar="PROTO", help="protocols kept on (default RTSP)")
    p.add_argument("--keep-gateway", action="store_true", help="do not clear the default gateway")
    p.add_argument("--keep-dns", action="store_true", help="do not clear the DNS servers")
    p.add_argument("--accept-recording-gap", action="store_true",
                   help="run even where the allow list cuts cameras off their recorders (they stop recording)")  # fmt: skip


def network_params(a: argparse.Namespace, *, clear_switches: bool) -> dict[str, Any]:
    """The restrict_network params of the flags of add_network_flags. With clear_switches, clear_gateway and
    clear_dns are sent even at the API's default (True): `run` always has, a campaign stage names only what
    differs; both mean the same to the controller, and neither body changes (key order included)."""
    p: dict[str, Any] = {"allow": split_list(a.allow)}
    if clear_switches:
        p.update(clear_gateway=True, clear_dns=True)
    if a.ntp:
        p["ntp_server"] = a.ntp
    if a.keep:
        p["keep_protocols"] = [k.upper() for k in split_list(a.keep)]
    # An existing key keeps its place when set again, so run's switches stay right after allow.
    if a.keep_gateway:
        p["clear_gateway"] = False
    if a.keep_dns:
        p["clear_dns"] = False
    if a.accept_recording_gap:
        p["accept_recording_gap"] = True
    if a.agent_only:
        p["agent_only"] = True
    return p
