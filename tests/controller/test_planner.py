"""The pure campaign planner: batch sizing, gates, state machines, lifecycle and windows (unit + hypothesis)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.campaigns import planner
from controller.campaigns.planner import BatchPlan, CampaignSpec, Gate, PlanError, Tally, Window

plans = st.builds(
    lambda canary, extra, growth: BatchPlan(canary, growth, canary + extra),
    st.integers(1, 50),
    st.integers(0, 200),
    st.floats(1.0, 10.0, allow_nan=False),
)


@given(st.integers(0, 5000), plans)
def test_batch_sizes_cover_the_target_canary_first_monotone_up_to_cap(total: int, plan: BatchPlan) -> None:
    sizes = planner.batch_sizes(total, plan)
    assert sum(sizes) == total
    assert all(s >= 1 for s in sizes)
    if total:
        assert sizes[0] == min(plan.canary, total)
    assert all(s <= plan.max_batch for s in sizes)
    # every batch but the last (the remainder) is at least as big as the one before
    assert all(a <= b for a, b in itertools.pairwise(sizes[:-1]))
    if plan.growth > 1.0:
        # growth actually grows until the cap: no stalls below max_batch
        body = sizes[:-1]
        assert all(b > a or b == plan.max_batch for a, b in itertools.pairwise(body))


@given(st.lists(st.text(min_size=1, max_size=6), max_size=300), plans)
def test_split_is_a_partition_in_sorted_order(ids: list[str], plan: BatchPlan) -> None:
    batches = planner.split(ids, plan)
    flat = [x for b in batches for x in b]
    assert flat == sorted(set(ids))
    assert [len(b) for b in batches] == planner.batch_sizes(len(set(ids)), plan)


def test_batch_sizes_examples() -> None:
    assert planner.batch_sizes(20, BatchPlan(2, 2.0, 8)) == [2, 4, 8, 6]
    assert planner.batch_sizes(10, BatchPlan(1, 1.0, 5)) == [1] * 10
    assert planner.batch_sizes(7, BatchPlan(3, 1.1, 10)) == [3, 4]
    assert planner.batch_sizes(0, BatchPlan()) == []
    with pytest.raises(PlanError):
        planner.batch_sizes(5, BatchPlan(0, 2.0, 5))
    with pytest.raises(PlanError):
        planner.batch_sizes(5, BatchPlan(5, 2.0, 4))


def test_gate_examples() -> None:
    g = Gate(success_threshold=0.9, failure_threshold=0.5, min_executed=4, action="pause")
    assert planner.evaluate(Tally(10, succeeded=1, failed=2), g) == "running"  # below min_executed
    assert planner.evaluate(Tally(10, succeeded=2, failed=2), g) == "tripped"  # 2/4 >= 0.5
    assert planner.evaluate(Tally(10, succeeded=9, failed=1), g) == "passed"
    assert planner.evaluate(Tally(10, succeeded=8, failed=1, canceled=1), g) == "short"
    assert planner.evaluate(Tally(0), g) == "passed"
    assert planner.tally(["SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "CANCELED", "SENT"]) == Tally(
        6, 1, 3, 1
    )


@given(
    st.integers(1, 200).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n)).flatmap(
            lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.integers(0, t[0] - t[1]))
        )
    ),
    st.floats(0.0, 1.0),
    st.floats(0.01, 1.0),
    st.integers(1, 50),
)
def test_gate_properties(
    counts: tuple[int, int, int], success: float, failure: float, min_executed: int
) -> None:
    total, ok, bad = counts
    g = Gate(success, failure, min_executed)
    t = Tally(total, succeeded=ok, failed=bad)
    v = planner.evaluate(t, g)
    tripped = t.executed >= min_executed and t.executed > 0 and bad / t.executed >= failure
    assert (v == "tripped") == tripped
    if not tripped:
        if t.final < total:
            assert v == "running"
        else:
            assert v == ("passed" if ok / total >= success else "short")
    # one more success never turns a pass into something else
    if v == "passed" and ok + bad < total:
        assert planner.evaluate(Tally(total, ok + 1, bad), g) == "passed"


def test_batch_state_machine() -> None:
    path = ["PLANNED", "AWAITING_APPROVAL", "READY", "RUNNING", "PAUSED", "RUNNING", "SUCCEEDED", "ROLLING_BACK",
            "ROLLED_BACK"]  # fmt: skip
    for a, b in itertools.pairwise(path):
        assert planner.transition(a, b) == b
    for bad in [("PLANNED", "RUNNING"), ("AWAITING_APPROVAL", "RUNNING"), ("SUCCEEDED", "RUNNING"),
                ("ROLLED_BACK", "RUNNING"), ("PAUSED", "SUCCEEDED"), ("READY", "PAUSED")]:  # fmt: skip
        with pytest.raises(planner.InvalidTransition):
            planner.transition(*bad)
    for s in planner.BATCH_STATES:
        assert set(planner.BATCH_TRANSITIONS[s]) <= set(planner.BATCH_STATES)
    with pytest.raises(planner.InvalidTransition):
        planner.transition("COMPLETED", "RUNNING", planner.CAMPAIGN_TRANSITIONS)


@given(st.sampled_from(planner.LIFECYCLE), st.sampled_from(planner.STAGES))
def test_lifecycle_only_moves_forward(current: str, stage: str) -> None:
    new = planner.advance(current, stage)
    assert planner.lifecycle_rank(new) >= planner.lifecycle_rank(current)
    assert new in (current, planner.STAGE_LIFECYCLE[stage])


def test_lifecycle_before_and_removal() -> None:
    stages = ["disable_cloud", "restrict_network", "decommission"]
    assert planner.lifecycle_before("INVENTORIED", stages, 0) == "INVENTORIED"
    assert planner.lifecycle_before("INVENTORIED", stages, 2) == "NETWORK_LOCKED"
    assert planner.lifecycle_before("NETWORK_LOCKED", stages, 1) == "NETWORK_LOCKED"
    assert planner.can_remove("DECOMMISSIONED") and not planner.can_remove("NETWORK_LOCKED")


def _at(y: int, mo: int, d: int, h: int, mi: int) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()


def test_windows() -> None:
    # 2026-11-30 is a Monday
    night = Window.parse({"days": [0], "start": "22:00", "end": "04:00"})
    assert night.contains(_at(2026, 11, 30, 23, 0))
    assert night.contains(_at(2026, 12, 1, 3, 59))  # early Tuesday belongs to Monday's night
    assert not night.contains(_at(2026, 12, 1, 4, 0))
    assert not night.contains(_at(2026, 11, 30, 3, 0))  # early Monday belongs to Sunday's night
    day = Window.parse({"days": [5, 6], "start": "09:00", "end": "17:00"})
    assert day.contains(_at(2026, 12, 5, 9, 0)) and not day.contains(_at(2026, 12, 4, 10, 0))
    assert planner.in_windows(_at(2026, 12, 4, 10, 0), [])
    assert Window.parse(night.to_dict()) == night
    for bad in ({"days": [7]}, {"start": "25:00"}, {"start": "x"}):
        with pytest.raises(PlanError):
            Window.parse(bad)


def test_spec_validation() -> None:
    ok = CampaignSpec.from_dict({"name": "n", "stages": ["disable_cloud", "decommission"]})
    assert ok.needs_approval and ok.approvals_required == 2
    assert CampaignSpec.from_dict(ok.to_dict()) == ok
    for bad in (
        {"name": "", "stages": ["disable_cloud"]},
        {"name": "n", "stages": []},
        {"name": "n", "stages": ["decommission", "disable_cloud"]},  # out of order
        {"name": "n", "stages": ["disable_cloud", "disable_cloud"]},
        {"name": "n", "stages": ["reboot"]},
        {"name": "n", "stages": ["decommission"], "approvals_required": 1},
        {"name": "n", "stages": ["disable_cloud"], "gate": {"action": "explode"}},
        {"name": "n", "stages": ["disable_cloud"], "plan": {"growth": 0.5}},
        {"name": "n", "stages": ["disable_cloud"], "ttl_s": 1},
        {"name": "n", "stages": [{"params": {}}]},
    ):
        with pytest.raises(PlanError):
            CampaignSpec.from_dict(bad)


triples = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from([f"c{i}" for i in range(8)]), st.sampled_from(
        ["QUEUED", "SENT", "IN_PROGRESS", "SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "CANCELED"])),
    max_size=40,
    unique_by=lambda t: (t[0], t[1]),
)  # fmt: skip


@given(triples, st.randoms(use_true_random=False))
def test_latest_state_ignores_report_order(ts: list[tuple[int, str, str]], rnd: random.Random) -> None:
    shuffled = list(ts)
    rnd.shuffle(shuffled)
    got = planner.latest(ts)
    assert got == planner.latest(shuffled)
    for cam, state in got.items():
        top = max(a for a, c, _ in ts if c == cam)
        assert (top, cam, state) in ts


@given(triples, st.booleans())
def test_resume_retries_only_what_failed_and_never_a_pending_or_done_camera(
    ts: list[tuple[int, str, str]], failed_only: bool
) -> None:
    cams = sorted({c for _, c, _ in ts})
    states = planner.latest(ts)
    assert planner.attempt_targets(cams, states, 0, failed_only) == cams
    retry = planner.attempt_targets(cams, states, 1, failed_only)
    assert all(states[c] in planner.EXEC_FINAL for c in retry)  # pending executions are never duplicated
    if failed_only:
        assert {c for c in cams if states[c] in planner.RETRYABLE} == set(retry)
        assert not any(states[c] == "SUCCEEDED" for c in retry)
    else:
        assert {c for c in cams if states[c] in planner.EXEC_FINAL} == set(retry)


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=6), min_size=1, max_size=12))
def test_repeated_resume_converges_and_sends_each_success_once(outcomes: list[list[bool]]) -> None:
    """Camera i fails its first tries as in outcomes[i] (True = success), then succeeds: resuming with
    retry_failed_only sends each camera until its first success and never after."""
    cams = [f"c{i}" for i in range(len(outcomes))]
    ts: list[tuple[int, str, str]] = []
    sent: dict[str, int] = dict.fromkeys(cams, 0)
    for attempt in range(8):
        for c in planner.attempt_targets(cams, planner.latest(ts), attempt, True):
            tries = outcomes[int(c[1:])]
            ok = tries[sent[c]] if sent[c] < len(tries) else True
            sent[c] += 1
            ts.append((attempt, c, "SUCCEEDED" if ok else "FAILED"))
    final = planner.latest(ts)
    assert set(final.values()) == {"SUCCEEDED"}
    for c in cams:
        tries = outcomes[int(c[1:])]
        first_ok = next((i for i, ok in enumerate(tries) if ok), len(tries))
        assert sent[c] == first_ok + 1
