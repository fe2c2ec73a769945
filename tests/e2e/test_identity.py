"""Stable camera identity end to end: camsim moves a camera to another address (a new DHCP lease), the site's
targets follow, and the agent's next inventory keeps the camera's id; a command by that id reaches it there."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator

import pytest

from devstack.stack import Stack, wait_until
from tests.timing import scaled

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEW_HOST = "127.0.94.200"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(cameras=6, sites=("north",), seed=23, base_address="127.0.94.1")
    s.start()
    try:
        asyncio.run(s.wait_inventory(scaled(120)))
        yield s
    finally:
        s.cleanup()


def retarget(s: Stack, old: tuple[str, str], new_host: str) -> None:
    """What the site's engineer does after a re-IP: the targets file names the camera's new address."""
    path = s.root / "agents" / "north" / "targets.csv"
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if (r["host"], r["port"]) == old:
            r["host"] = new_host
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["host", "port", "username", "password"])
        w.writeheader()
        w.writerows(rows)


def test_a_camera_that_changes_address_keeps_its_id_and_commands_still_reach_it(stack: Stack) -> None:
    async def go() -> None:
        listed = (await stack.api("GET", "/api/v1/cameras", params={"limit": "100"}))["cameras"]
        sim = {(c["host"], str(c["port"])): c["id"] for c in await stack.camsim("GET", "/cameras")}
        cam = next(c for c in listed if c["identity"]["identified_by"] != "address")
        cid, old = cam["camera_id"], (cam["host"], str(cam["port"]))
        assert cid.startswith("cam-") and cam["agent_ref"] == f"{old[0]}:{old[1]}"
        moved = await stack.camsim("POST", f"/cameras/{sim[old]}/address", json={"address": NEW_HOST})
        assert moved["host"] == NEW_HOST
        stack.procs["agent-north"].stop()
        retarget(stack, old, NEW_HOST)
        stack.start_agent("north")

        async def seen_there() -> bool:
            c = await stack.api("GET", f"/api/v1/cameras/{cid}")
            return bool(c.get("host") == NEW_HOST and c.get("reachable"))

        assert await wait_until(seen_there, scaled(120)), await stack.api("GET", f"/api/v1/cameras/{cid}")
        after = await stack.api("GET", f"/api/v1/cameras/{cid}")
        assert after["agent_ref"] == f"{NEW_HOST}:{old[1]}" and after["identity"] == cam["identity"]
        assert after["lifecycle"] == cam["lifecycle"]
        # One camera that moved: not a new camera beside a vanished one.
        assert (await stack.api("GET", "/api/v1/summary"))["total"] == stack.cameras
        changes = [h["change"] for h in after["history"]]
        assert {"address": [f"{old[0]}:{old[1]}", f"{NEW_HOST}:{old[1]}"]}.items() <= next(
            c for c in changes if "address" in c
        ).items()
        audit = (await stack.api("GET", "/api/v1/audit", params={"limit": "10000"}))["entries"]
        assert any(e["action"] == "camera.address" and e["subject"] == cid for e in audit)
        # A command by the camera's id goes to its new address (nothing answers at the old one any more).
        res = await stack.api("POST", "/api/v1/commands",
                              json={"action": "disable_cloud", "where": {"ids": [cid]}})  # fmt: skip
        (command,) = res["commands"]
        detail = await stack.wait_command(command["command_id"], scaled(90))
        (e,) = detail["executions"]
        assert e["camera_id"] == cid and e["state"] == "SUCCEEDED", e
        assert e["settings"] and {s["outcome"] for s in e["settings"]} <= {
            "changed",
            "already",
            "unsupported",
        }

    asyncio.run(go())
