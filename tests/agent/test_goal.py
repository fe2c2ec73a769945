"""agent.actions.goal: a goal is judged from the camera's settings afterwards, never from the calls made."""

from __future__ import annotations

from agent.actions.engine import Outcome, SettingResult
from agent.actions.goal import GoalSpec, GoalState, Part, evaluate

SPEC = GoalSpec(
    parts={
        "onvif.dyndns": Part("ONVIF dynamic DNS updates"),
        "onvif.discovery_mode": Part("WS-Discovery", absent_ok=False),
        "onvif.ip_filter": Part("IP filter", essential=True),
    }
)


def row(name: str, outcome: Outcome, before: object = None, reason: str = "") -> SettingResult:
    return SettingResult(name, outcome, before=before, after=None, reason=reason)


def test_changed_already_and_would_change_reach_the_goal() -> None:
    rows = [row("onvif.dyndns", Outcome.CHANGED, {"type": "ClientUpdates"}),
            row("onvif.discovery_mode", Outcome.ALREADY, "NonDiscoverable"),
            row("onvif.ip_filter", Outcome.WOULD_CHANGE, {"type": "Allow", "addresses": []})]  # fmt: skip
    assert evaluate(SPEC, rows).state is GoalState.REACHED
    # Settings the goal does not name (NTP pointed at the local server) do not count either way.
    assert evaluate(SPEC, [*rows, row("onvif.ntp", Outcome.FAILED, reason="x")]).state is GoalState.REACHED


def test_a_feature_the_camera_does_not_have_is_no_exposure_unless_it_cannot_be_told() -> None:
    absent = row("onvif.dyndns", Outcome.UNSUPPORTED, reason="ActionNotSupported")
    assert evaluate(SPEC, [absent]).state is GoalState.REACHED
    unknown = row("onvif.discovery_mode", Outcome.UNSUPPORTED, reason="ActionNotSupported")
    goal = evaluate(SPEC, [unknown])
    assert goal.state is GoalState.PARTLY and goal.residual == (
        "WS-Discovery: unknown, the camera does not say (ActionNotSupported)",
    )


def test_a_setting_the_device_cannot_change_is_residual_exposure_never_success() -> None:
    stuck = row("onvif.discovery_mode", Outcome.UNSUPPORTED, "Discoverable", "Method not implemented")
    goal = evaluate(SPEC, [stuck])
    assert goal.state is GoalState.PARTLY
    assert goal.residual == ('WS-Discovery still "Discoverable": Method not implemented',)
    failed = row("onvif.dyndns", Outcome.FAILED, {"type": "ClientUpdates"}, "unreachable: timeout")
    assert evaluate(SPEC, [failed]).residual == ("ONVIF dynamic DNS updates: unreachable: timeout",)


def test_without_an_essential_part_the_goal_is_not_reachable_on_this_device() -> None:
    goal = evaluate(SPEC, [row("onvif.ip_filter", Outcome.UNSUPPORTED, reason="IPFilter capability false")])
    assert goal.state is GoalState.NOT_REACHABLE
    assert goal.residual == ("IP filter: not on this device (IPFilter capability false)",)
    spec = GoalSpec(impossible=["IP filter: none at all"], remaining=["default gateway kept on request"])
    goal = evaluate(spec, [], extra=["answered from 127.0.9.1"])
    assert goal.state is GoalState.NOT_REACHABLE
    assert goal.residual == (
        "IP filter: none at all",
        "default gateway kept on request",
        "answered from 127.0.9.1",
    )
    assert goal.describe().startswith("goal not reachable on this device; still exposed: IP filter")


def test_restrict_network_counts_dns_and_protocols_it_cannot_read_as_unknown_exposure() -> None:
    """A camera whose IP filter took but that cannot say its DNS servers or protocols has not reached the goal:
    it still resolves names and serves whatever it serves (ipycam and ONVIF-minimal servers fault those reads)."""
    from agent.actions.network import DNS, FILTER, PROTOCOLS

    spec = GoalSpec(parts={"onvif.ip_filter": FILTER, "onvif.dns": DNS, "onvif.protocols": PROTOCOLS})
    rows = [row("onvif.ip_filter", Outcome.CHANGED, {"type": "Deny", "addresses": []}),
            row("onvif.dns", Outcome.UNSUPPORTED, reason="Action not supported"),
            row("onvif.protocols", Outcome.UNSUPPORTED, reason="Action not supported")]  # fmt: skip
    goal = evaluate(spec, rows)
    assert goal.state is GoalState.PARTLY
    assert goal.residual == (
        "DNS servers: unknown, the camera does not say (Action not supported)",
        "network protocols the recorder does not need: unknown, the camera does not say (Action not supported)",
    )
