"""The pure campaign planner: batch sizing, gates, state machines and windows (no I/O, no clock reads)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from controller.states import EXEC_FAILED, EXEC_FINAL, LIFECYCLE, RETIRED, BatchState, CampaignState

__all__ = ["EXEC_FAILED", "EXEC_FINAL", "LIFECYCLE", "RETIRED"]  # the engine reads them from here
CAMPAIGN_STATES = tuple(s.value for s in CampaignState)
BATCH_STATES = tuple(s.value for s in BatchState)

STAGES = ("disable_cloud", "restrict_network", "decommission")
DESTRUCTIVE_STAGES = frozenset({"decommission"})
# Where a successful stage leaves the camera (DESIGN.md §6 lifecycle).
STAGE_LIFECYCLE = {
    "disable_cloud": "CLOUD_OFF",
    "restrict_network": "NETWORK_LOCKED",
    "decommission": "DECOMMISSIONED",
}
# The AWS IoT Jobs / hawkBit shape: a batch runs, may pause (by hand or by a gate), and ends SUCCEEDED or
# ABORTED; either end can be rolled back from the snapshots its commands left on the agents. ROLLING_BACK is
# the transient state while the rollback commands run (so ROLLED_BACK is only claimed once it is true).
BATCH_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "PLANNED": frozenset({"AWAITING_APPROVAL", "READY", "ABORTED"}),
    "AWAITING_APPROVAL": frozenset({"READY", "ABORTED"}),
    # back to AWAITING_APPROVAL only when the approval expired before the destructive stage was sent
    "READY": frozenset({"RUNNING", "AWAITING_APPROVAL", "ABORTED"}),
    "RUNNING": frozenset({"PAUSED", "SUCCEEDED", "AWAITING_APPROVAL", "ABORTED"}),
    "PAUSED": frozenset({"RUNNING", "ABORTED"}),
    "SUCCEEDED": frozenset({"ROLLING_BACK"}),
    "ABORTED": frozenset({"ROLLING_BACK"}),
    "ROLLING_BACK": frozenset({"ROLLED_BACK"}),
    "ROLLED_BACK": frozenset(),
}
CAMPAIGN_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "CREATED": frozenset({"RUNNING", "ABORTED"}),
    "RUNNING": frozenset({"PAUSED", "COMPLETED", "ABORTED"}),
    "PAUSED": frozenset({"RUNNING", "ABORTED"}),
    "COMPLETED": frozenset(),
    "ABORTED": frozenset(),
}
FINAL_BATCH = frozenset({"SUCCEEDED", "ABORTED", "ROLLED_BACK", "ROLLING_BACK"})


class PlanError(ValueError):
    """A campaign specification that cannot be run; the message says why."""


class InvalidTransition(PlanError):
    """A state change the state machine does not allow (e.g. resuming a batch that already succeeded)."""


def transition(state: str, new: str, table: Mapping[str, frozenset[str]] = BATCH_TRANSITIONS) -> str:
    if new not in table.get(state, frozenset()):
        raise InvalidTransition(f"cannot go from {state} to {new}")
    return new


# ---- batch sizing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchPlan:
    """A canary batch, then batches growing by `growth` up to `max_batch` (the AWS IoT exponential rollout)."""

    canary: int = 1
    growth: float = 2.0
    max_batch: int = 50

    def validate(self) -> None:
        if self.canary < 1:
            raise PlanError("canary: at least 1 camera")
        if not 1.0 <= self.growth <= 100.0:
            raise PlanError("growth: between 1.0 and 100")
        if self.max_batch < self.canary:
            raise PlanError("max_batch: at least the canary size")


def batch_sizes(total: int, plan: BatchPlan) -> list[int]:
    """Sizes that add up to `total`: the canary first, then each batch ceil(previous * growth) (at least one
    more than the previous while growth > 1) capped at max_batch; the last batch takes what is left."""
    plan.validate()
    sizes: list[int] = []
    left = total
    size = plan.canary
    while left > 0:
        take = min(size, left)
        sizes.append(take)
        left -= take
        grown = math.ceil(size * plan.growth)
        if plan.growth > 1.0:
            grown = max(grown, size + 1)
        size = min(plan.max_batch, grown)
    return sizes


def split(camera_ids: Sequence[str], plan: BatchPlan) -> list[list[str]]:
    """Cameras in a deterministic order (sorted ids) cut into the planned batches."""
    ids = sorted(set(camera_ids))
    out, at = [], 0
    for n in batch_sizes(len(ids), plan):
        out.append(ids[at : at + n])
        at += n
    return out


# ---- gates ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gate:
    """Per batch and stage. success_threshold: fraction of the batch that must succeed to advance.
    failure_threshold + min_executed: once at least min_executed executions are final and the failed
    fraction of those reaches failure_threshold, `action` happens at once (AWS abortConfig)."""

    success_threshold: float = 1.0
    failure_threshold: float = 0.5
    min_executed: int = 1
    action: Literal["pause", "abort"] = "pause"

    def validate(self) -> None:
        if not 0.0 <= self.success_threshold <= 1.0 or not 0.0 < self.failure_threshold <= 1.0:
            raise PlanError("thresholds are fractions: success 0..1, failure (0..1]")
        if self.min_executed < 1:
            raise PlanError("min_executed: at least 1")
        if self.action not in ("pause", "abort"):
            raise PlanError("gate action: pause or abort")


@dataclass(frozen=True)
class Tally:
    total: int
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0

    @property
    def executed(self) -> int:
        return self.succeeded + self.failed

    @property
    def final(self) -> int:
        return self.succeeded + self.failed + self.canceled

    @property
    def done(self) -> bool:
        return self.final >= self.total


def tally(states: Iterable[str], total: int | None = None) -> Tally:
    """Count the latest state of each camera's execution (anything not final counts as pending)."""
    st = list(states)
    return Tally(
        total=len(st) if total is None else total,
        succeeded=sum(1 for s in st if s == "SUCCEEDED"),
        failed=sum(1 for s in st if s in EXEC_FAILED),
        canceled=sum(1 for s in st if s == "CANCELED"),
    )


Verdict = Literal["running", "passed", "tripped", "short"]


def evaluate(t: Tally, gate: Gate) -> Verdict:
    """running: wait. passed: advance. tripped: the failure threshold fired (possibly before the end).
    short: everything finished but fewer succeeded than the success threshold asks."""
    if t.executed >= gate.min_executed and t.executed and t.failed / t.executed >= gate.failure_threshold:
        return "tripped"
    if not t.done:
        return "running"
    if t.total == 0 or t.succeeded / t.total >= gate.success_threshold:
        return "passed"
    return "short"


# ---- progress and retries (re-derived from executions on every tick, so a restart loses nothing) -------------
RETRYABLE = EXEC_FAILED | {"CANCELED"}


def latest(triples: Iterable[tuple[int, str, str]]) -> dict[str, str]:
    """camera -> state of its execution in the highest attempt, from (attempt, camera_id, state) triples."""
    out: dict[str, tuple[int, str]] = {}
    for attempt, cam, state in triples:
        if cam not in out or attempt >= out[cam][0]:
            out[cam] = (attempt, state)
    return {c: s for c, (_, s) in out.items()}


def attempt_targets(
    cameras: Sequence[str], states: Mapping[str, str], attempt: int, retry_failed_only: bool
) -> list[str]:
    """Cameras an attempt of a stage is sent to. Attempt 0: all. A retry (after resume): those whose last try
    failed or was canceled; without retry_failed_only, every camera whose last try is final. A camera whose
    execution is still pending is never sent again."""
    if attempt == 0:
        return list(cameras)
    return [
        c for c in cameras
        if states.get(c) in RETRYABLE or (not retry_failed_only and states.get(c) in EXEC_FINAL)
    ]  # fmt: skip


# ---- lifecycle ----------------------------------------------------------------------------------------
def lifecycle_rank(state: str) -> int:
    return LIFECYCLE.index(state) if state in LIFECYCLE else 0


def advance(current: str, stage: str) -> str:
    """The lifecycle after `stage` succeeded. It only moves forward: disabling the cloud of a camera that is
    already network-locked leaves it NETWORK_LOCKED."""
    target = STAGE_LIFECYCLE[stage]
    return target if lifecycle_rank(target) > lifecycle_rank(current) else current


def lifecycle_before(initial: str, stages: Sequence[str], stage_index: int) -> str:
    """The lifecycle a camera had before stages[stage_index] ran (what a rollback of that stage restores)."""
    state = initial
    for s in stages[:stage_index]:
        state = advance(state, s)
    return state


def can_remove(current: str) -> bool:
    """REMOVED (physical removal, confirmed by a person) only follows DECOMMISSIONED."""
    return current == "DECOMMISSIONED"


# ---- maintenance windows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """Weekly window in UTC: days 0=Monday..6=Sunday; end before start means it runs past midnight."""

    days: tuple[int, ...]
    start_min: int
    end_min: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Window:
        def minutes(text: str) -> int:
            try:
                h, m = str(text).split(":")
                v = int(h) * 60 + int(m)
            except ValueError as exc:
                raise PlanError(f"window time {text!r}: HH:MM") from exc
            if not 0 <= v <= 24 * 60:
                raise PlanError(f"window time {text!r}: HH:MM")
            return v

        days = tuple(sorted({int(x) for x in d.get("days", range(7))}))
        if not days or any(not 0 <= x <= 6 for x in days):
            raise PlanError("window days: 0 (Monday) .. 6 (Sunday)")
        return cls(days, minutes(d.get("start", "00:00")), minutes(d.get("end", "24:00")))

    def to_dict(self) -> dict[str, Any]:
        return {"days": list(self.days), "start": f"{self.start_min // 60:02d}:{self.start_min % 60:02d}",
                "end": f"{self.end_min // 60:02d}:{self.end_min % 60:02d}"}  # fmt: skip

    def contains(self, at: float) -> bool:
        dt = datetime.fromtimestamp(at, UTC)
        minute = dt.hour * 60 + dt.minute
        day = dt.weekday()
        if self.start_min <= self.end_min:
            return day in self.days and self.start_min <= minute < self.end_min
        # Past midnight: the late part belongs to the listed day, the early part to the day after it.
        return (day in self.days and minute >= self.start_min) or (
            (day - 1) % 7 in self.days and minute < self.end_min
        )


def in_windows(at: float, windows: Sequence[Window]) -> bool:
    """No windows means any time."""
    return not windows or any(w.contains(at) for w in windows)


# ---- the campaign specification ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    action: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def destructive(self) -> bool:
        return self.action in DESTRUCTIVE_STAGES


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    where: dict[str, Any]  # a controller.models.Selection, as JSON
    stages: tuple[Stage, ...]
    plan: BatchPlan = BatchPlan()
    gate: Gate = Gate()
    ttl_s: float = 900.0
    windows: tuple[Window, ...] = ()
    retry_failed_only: bool = True
    approvals_required: int = 2
    approval_ttl_s: float = 7 * 86400.0
    preview: Literal["canary", "all", "none"] = "canary"

    @property
    def needs_approval(self) -> bool:
        return any(s.destructive for s in self.stages)

    def validate(self) -> None:
        if not self.name.strip():
            raise PlanError("name: required")
        names = [s.action for s in self.stages]
        if not names:
            raise PlanError("stages: name at least one of " + ", ".join(STAGES))
        unknown = [n for n in names if n not in STAGES]
        if unknown:
            raise PlanError(f"stages: unknown {unknown}; use {', '.join(STAGES)}")
        if len(set(names)) != len(names) or names != sorted(names, key=STAGES.index):
            raise PlanError("stages: each at most once, in the order " + " -> ".join(STAGES))
        self.plan.validate()
        self.gate.validate()
        if not 10 <= self.ttl_s <= 7 * 86400:
            raise PlanError("ttl_s: between 10 seconds and 7 days")
        if self.needs_approval and self.approvals_required < 2:
            raise PlanError("a destructive stage needs at least two distinct approvers")
        if not 60 <= self.approval_ttl_s <= 30 * 86400:
            raise PlanError("approval_ttl_s: between a minute and 30 days")
        if self.preview not in ("canary", "all", "none"):
            raise PlanError("preview: canary, all or none")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "where": dict(self.where),
            "stages": [{"action": s.action, "params": s.params} for s in self.stages],
            "plan": {"canary": self.plan.canary, "growth": self.plan.growth, "max_batch": self.plan.max_batch},
            "gate": {"success_threshold": self.gate.success_threshold,
                     "failure_threshold": self.gate.failure_threshold,
                     "min_executed": self.gate.min_executed, "action": self.gate.action},
            "ttl_s": self.ttl_s, "windows": [w.to_dict() for w in self.windows],
            "retry_failed_only": self.retry_failed_only, "approvals_required": self.approvals_required,
            "approval_ttl_s": self.approval_ttl_s, "preview": self.preview,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, approvals_required: int = 2) -> CampaignSpec:
        """Parse (and validate) the JSON form used by the API, fleetctl and the dashboard wizard."""
        try:
            raw_stages = d.get("stages", [])
            stages = tuple(
                Stage(s, {}) if isinstance(s, str) else Stage(str(s["action"]), dict(s.get("params") or {}))
                for s in raw_stages
            )
            p = d.get("plan") or {}
            g = d.get("gate") or {}
            where = d.get("where") or {}
            if not isinstance(where, Mapping):
                raise PlanError("where: a JSON object of filters")
            spec = cls(
                name=str(d.get("name", "")),
                where=dict(where),
                stages=stages,
                plan=BatchPlan(int(p.get("canary", 1)), float(p.get("growth", 2.0)), int(p.get("max_batch", 50))),
                gate=Gate(float(g.get("success_threshold", 1.0)), float(g.get("failure_threshold", 0.5)),
                          int(g.get("min_executed", 1)), g.get("action", "pause")),
                ttl_s=float(d.get("ttl_s", 900.0)),
                windows=tuple(Window.parse(w) for w in d.get("windows") or ()),
                retry_failed_only=bool(d.get("retry_failed_only", True)),
                approvals_required=int(d.get("approvals_required", approvals_required)),
                approval_ttl_s=float(d.get("approval_ttl_s", 7 * 86400.0)),
                preview=d.get("preview", "canary"),
            )  # fmt: skip
        except (TypeError, KeyError, AttributeError) as exc:
            raise PlanError(f"malformed campaign: {exc}") from exc
        except ValueError as exc:
            if isinstance(exc, PlanError):
                raise
            raise PlanError(f"malformed campaign: {exc}") from exc
        spec.validate()
        return spec
