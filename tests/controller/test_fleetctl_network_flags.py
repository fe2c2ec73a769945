"""`fleetctl run restrict-network` and `fleetctl campaign create`: the same network flags, the same parameters."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from controller.actions import stored_params
from controller.fleetctl.campaign import _stage_params
from controller.fleetctl.cli import build_parser

NETWORK_OPTIONS = {"--allow", "--agent-only", "--ntp", "--keep", "--keep-gateway", "--keep-dns",
                   "--accept-recording-gap"}  # fmt: skip

# (flags, what `run restrict-network` sends, what `campaign create` puts in its restrict_network stage), key
# order included: run has always sent both clear_* switches, a campaign stage only what differs from the API's
# defaults; the parameters the controller makes of them are the same (test_both_mean_the_same_to_the_api).
CASES: list[tuple[list[str], dict[str, Any], dict[str, Any]]] = [
    (["--allow", "10.0.0.5"],
     {"allow": ["10.0.0.5"], "clear_gateway": True, "clear_dns": True},
     {"allow": ["10.0.0.5"]}),
    (["--allow", "10.0.0.5/32", "--allow", " 10.0.9.0/24, 10.1.0.0/16,", "--ntp", "10.0.0.1", "--keep",
      "rtsp,https", "--keep", "dev_manage"],
     {"allow": ["10.0.0.5/32", "10.0.9.0/24", "10.1.0.0/16"], "clear_gateway": True, "clear_dns": True,
      "ntp_server": "10.0.0.1", "keep_protocols": ["RTSP", "HTTPS", "DEV_MANAGE"]},
     {"allow": ["10.0.0.5/32", "10.0.9.0/24", "10.1.0.0/16"], "ntp_server": "10.0.0.1",
      "keep_protocols": ["RTSP", "HTTPS", "DEV_MANAGE"]}),
    (["--allow", "10.0.0.5", "--keep-gateway", "--keep-dns", "--accept-recording-gap", "--ntp", "ntp.example"],
     {"allow": ["10.0.0.5"], "clear_gateway": False, "clear_dns": False, "ntp_server": "ntp.example",
      "accept_recording_gap": True},
     {"allow": ["10.0.0.5"], "ntp_server": "ntp.example", "clear_gateway": False, "clear_dns": False,
      "accept_recording_gap": True}),
    (["--agent-only", "--keep-dns"],
     {"allow": [], "clear_gateway": True, "clear_dns": False, "agent_only": True},
     {"allow": [], "clear_dns": False, "agent_only": True}),
]  # fmt: skip


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def _run_params(flags: list[str]) -> dict[str, Any]:
    args = _parse("run", "restrict-network", "--all", *flags)
    params: dict[str, Any] = args.run_action.params(args)
    return params


def _campaign_params(flags: list[str]) -> dict[str, Any]:
    return _stage_params(_parse("campaign", "create", "--all", "--stages", "restrict_network", *flags),
                         "restrict_network")  # fmt: skip


def _subparser(*path: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = build_parser()
    for name in path:
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = sub.choices[name]
    return p


def _options(p: argparse.ArgumentParser) -> dict[str, tuple[Any, ...]]:
    """The network options of a parser: what each one takes and how it is described."""
    return {o: (a.dest, a.nargs, a.const, a.metavar, type(a).__name__, bool(a.default), a.help)
            for a in p._actions for o in a.option_strings if o in NETWORK_OPTIONS}  # fmt: skip


def test_both_commands_take_the_same_network_flags() -> None:
    run, create = _options(_subparser("run", "restrict-network")), _options(_subparser("campaign", "create"))
    assert set(run) == NETWORK_OPTIONS
    assert run == create


@pytest.mark.parametrize(("flags", "run", "campaign"), CASES)
def test_the_bodies_each_command_sends(
    flags: list[str], run: dict[str, Any], campaign: dict[str, Any]
) -> None:
    got_run, got_campaign = _run_params(flags), _campaign_params(flags)
    assert list(got_run.items()) == list(run.items())
    assert list(got_campaign.items()) == list(campaign.items())


@pytest.mark.parametrize("flags", [c[0] for c in CASES])
def test_both_mean_the_same_to_the_api(flags: list[str]) -> None:
    assert stored_params("restrict_network", _run_params(flags)) == stored_params(
        "restrict_network", _campaign_params(flags)
    )
