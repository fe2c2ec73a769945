"""Whether an action reached its goal on one camera, judged from what the camera holds afterwards, not the calls."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from agent.actions import engine
from agent.vendor_probe import ApiProbe


class GoalState(StrEnum):
    REACHED = "reached"
    PARTLY = "partly_reached"  # some exposure remains: Goal.residual says which
    NOT_REACHABLE = "not_reachable"  # the device cannot get there (no IP filter at all, no factory reset ...)


@dataclass(frozen=True)
class Part:
    """What one setting means for the goal of its action.

    `what` names the exposure in an operator's words ("WS-Discovery", "default gateway"). A setting the camera
    answers as unsupported when *read* is a feature it does not have (no exposure) when `absent_ok`, and an
    unknown (residual exposure) otherwise. `essential`: without it the goal cannot be reached on this device.
    """

    what: str
    absent_ok: bool = True
    essential: bool = False


@dataclass(frozen=True)
class Goal:
    state: GoalState
    residual: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"state": self.state.value, "residual_exposure": list(self.residual)}

    def describe(self) -> str:
        text = {GoalState.REACHED: "goal reached", GoalState.PARTLY: "goal partly reached",
                GoalState.NOT_REACHABLE: "goal not reachable on this device"}[self.state]  # fmt: skip
        return text + (f"; still exposed: {'; '.join(self.residual)}" if self.residual else "")


@dataclass
class GoalSpec:
    """The parts of one action's goal on one camera: per setting name, plus what is known to remain up front
    (a gateway kept on request, an API that refused the credential) and missing essentials."""

    parts: dict[str, Part] = field(default_factory=dict)
    remaining: list[str] = field(default_factory=list)
    impossible: list[str] = field(default_factory=list)  # essentials this device lacks entirely
    rows: list[engine.SettingResult] = field(default_factory=list)  # report rows for what has no setting


def vendor_rows(goal: GoalSpec, probe: ApiProbe, names: dict[str, str]) -> None:
    """Report rows (and unknown-exposure parts) for the settings of a vendor API the evidence points at but
    that could not be used: unsupported where the API is not there, failed where it refused or was busy."""
    outcome = engine.Outcome.UNSUPPORTED if probe.status == "absent" else engine.Outcome.FAILED
    reason = f"the {probe.api} API is {probe.status} on this camera ({probe.reason})"
    for name, what in names.items():
        setting = f"{probe.api}.{name}"
        goal.rows.append(engine.SettingResult(setting, outcome, reason=reason))
        goal.parts[setting] = Part(f"{probe.api} {what}", absent_ok=False)


def _short(value: engine.Json) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def evaluate(spec: GoalSpec, results: Sequence[engine.SettingResult], *, extra: Sequence[str] = ()) -> Goal:
    """Reached only when every part is in its wanted state (changed, already, or for a dry run would_change).

    A setting the device cannot change is residual exposure, never success; a setting that could not be read
    is unknown, so exposure too. `extra` adds what the caller found afterwards (isolation not proven ...).
    """
    residual = list(spec.remaining)
    impossible = list(spec.impossible)
    for r in results:
        part = spec.parts.get(r.setting)
        if part is None or r.outcome in (engine.Outcome.CHANGED, engine.Outcome.ALREADY,
                                          engine.Outcome.WOULD_CHANGE):  # fmt: skip
            continue
        if r.outcome is engine.Outcome.UNSUPPORTED and r.before is None:
            if part.essential:
                impossible.append(f"{part.what}: not on this device ({r.reason})")
            elif not part.absent_ok:
                residual.append(f"{part.what}: unknown, the camera does not say ({r.reason})")
            continue
        if r.outcome is engine.Outcome.UNSUPPORTED:
            residual.append(f"{part.what} still {_short(r.before)}: {r.reason}")
            continue
        residual.append(f"{part.what}: {r.reason}")
    residual += extra
    if impossible:
        return Goal(GoalState.NOT_REACHABLE, tuple(impossible + residual))
    return Goal(GoalState.PARTLY if residual else GoalState.REACHED, tuple(residual))
