"""Issue 15 end to end, graded against camsim's truth.json: a census without credentials, recorders' channel lists
with credentials for the recorders only, then the cameras' own credentials, recorder impact and the refusal."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import Stack
from tests.timing import scaled

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A /24 of its own: other simulators on this machine answer the same multicast groups.
BLOCK = f"127.11.{os.getpid() % 250 + 1}"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(
        cameras=30, seed=5, sites=("north",), base_address=f"{BLOCK}.1",
        camsim_args=("--recorders", "3", "--unactivated-share", "0.25"), census_sites=("north",),
        site_targets={"north": "recorders"},
    )  # fmt: skip
    s.start()
    try:
        yield s
    finally:
        s.cleanup()


async def _poll(s: Stack, path: str, ok: Any, seconds: float) -> Any:
    deadline = asyncio.get_running_loop().time() + scaled(seconds)
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await s.api("GET", path)
        if ok(last):
            return last
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{path}: {last}")


def test_recorder_credentials_only_count_every_camera_with_its_recorder_and_channel(stack: Stack) -> None:
    truth = stack.truth()
    cams = [t for t in truth if t["kind"] == "camera"]
    recs = [t for t in truth if t["kind"] == "recorder"]
    reachable = [t for t in truth if t["reachable"]]
    hidden = [t for t in cams if not t["reachable"]]

    def complete(f: dict[str, Any]) -> bool:
        return bool(f["recorders"] == len(recs) and f["channels"] == sum(len(r["channels"]) for r in recs)
                    and f["census_devices"] >= len(reachable))  # fmt: skip

    fleet = asyncio.run(_poll(stack, "/api/v1/fleet", complete, 180))
    # Every camera once: the LAN ones found by the census (no credential), the PoE ones only through recorders.
    assert fleet["cameras"] == len(cams)
    assert (fleet["inventoried"], fleet["census_only"], fleet["behind_recorder_only"]) == (
        0, len(cams) - len(hidden), len(hidden))  # fmt: skip
    by_host = {r["host"]: r["id"] for r in recs}
    got = {(by_host[b["recorder_host"]], b["channel"], b["serial"]) for b in fleet["behind"]}
    assert got == {(t["recorder"], t["channel"], t["serial"]) for t in hidden}
    # Unactivated cameras: every one found, and nothing else called unactivated.
    assert fleet["unactivated"] == sum(1 for t in cams if not t["activated"])
    census = asyncio.run(stack.api("GET", "/api/v1/census?limit=10000"))["devices"]
    assert {d["host"] for d in census} == {t["host"] for t in reachable}
    truth_by_host = {t["host"]: t for t in reachable}
    right = 0
    for d in census:
        t = truth_by_host[d["host"]]
        right += d["origin"] == (t["true_manufacturer"] if t["true_manufacturer"] != "generic" else "unknown")
    assert right / len(census) >= 0.95
    recorders = asyncio.run(stack.api("GET", "/api/v1/recorders"))["recorders"]
    assert {r["host"]: len(r["channels"]) for r in recorders} == {r["host"]: len(r["channels"]) for r in recs}
    # No credential reached any camera: the agent held only the recorders' (camsim counts per device).
    cameras = asyncio.run(stack.camsim("GET", "/cameras"))
    sent = {c["host"] for c in cameras if c.get("traffic", {}).get("credentials", 0)}
    assert not sent - {r["host"] for r in recs}
    stats = asyncio.run(stack.camsim("GET", "/stats"))
    assert stats["credentials_presented"] > 0  # the recorders were read with theirs


def test_camera_credentials_then_recorder_impact_and_refusal(stack: Stack) -> None:
    truth = stack.truth()
    cams = [t for t in truth if t["kind"] == "camera"]
    hidden = [t for t in cams if not t["reachable"]]
    # The engineer now has the cameras' passwords too: the same site's agent gets them (one agent per site).
    stack.procs["agent-north"].stop()
    (stack.root / "agents" / "north" / "targets.csv").write_text(
        (stack.root / "camsim" / "targets.csv").read_text()
    )
    stack.start_agent("north")
    managed = [t for t in cams if t["reachable"] and t["activated"]]
    fleet = asyncio.run(_poll(stack, "/api/v1/fleet", lambda f: f["inventoried"] == len(managed), 180))
    assert fleet["cameras"] == len(cams)
    assert (fleet["census_only"], fleet["behind_recorder_only"]) == (
        len(cams) - len(managed) - len(hidden),
        len(hidden),
    )
    fed = [t for t in managed if t["recorder"]]
    assert fed, "some cameras on the LAN feed a recorder"
    listed = asyncio.run(stack.api("GET", "/api/v1/cameras", params={"limit": "500"}))["cameras"]
    by_addr = {
        f"{c['host']}:{c['port']}": c["camera_id"] for c in listed
    }  # ids are the controller's, not addresses
    ids = [by_addr[f"{t['host']}:{t['port']}"] for t in fed]  # a JSON selection names ids as a list
    spec = {
        "name": "fence",
        "where": {"ids": ids},
        "stages": [{"action": "restrict_network", "params": {"allow": ["10.1.2.3/32"]}}],
        "plan": {"canary": 2, "growth": 2},
    }
    # Cutting the cameras off their recorders is refused, for a campaign and for a plain command alike.
    refused = asyncio.run(stack.api("POST", "/api/v1/campaigns", json=spec))
    assert "would cut" in refused["error"] and "recording gap" in refused["error"]
    cmd = {"action": "restrict_network", "where": {"ids": ids}, "params": {"allow": ["10.1.2.3/32"]}}
    assert "would cut" in asyncio.run(stack.api("POST", "/api/v1/commands", json=cmd))["error"]
    # Accepted explicitly, the campaign is planned, and its preview lists per batch exactly the channels that go dark.
    spec["stages"][0]["params"]["accept_recording_gap"] = True  # type: ignore[index]
    spec["preview"] = "none"
    created = asyncio.run(stack.api("POST", "/api/v1/campaigns", json=spec))
    preview = asyncio.run(stack.api("GET", f"/api/v1/campaigns/{created['campaign_id']}/preview"))
    impact = preview["recorder_impact"]
    assert [b["batch_id"] for b in impact] == [b["batch_id"] for b in created["batches"]]
    members = {b["batch_id"]: set(b["camera_ids"]) for b in created["batches"]}
    for b in impact:
        want = {
            (t["recorder_host"], t["channel"])
            for t in fed
            if by_addr[f"{t['host']}:{t['port']}"] in members[b["batch_id"]]
        }
        assert {(c["recorder_host"], c["channel"]) for c in b["channels"]} == want
        assert b["refused"] is None
