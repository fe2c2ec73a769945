"""Issue 15 in Chromium: the overview answers "how many, and how we know" (census next to inventoried, cameras only
behind recorders, recorders), and the campaign wizard lists per batch the recorder channels that would go dark."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devstack.stack import ADMIN_PASSWORD, Stack
from tests.browser.conftest import shot
from tests.timing import scaled

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

BLOCK = f"127.12.{os.getpid() % 250 + 1}"


async def _settled(s: Stack) -> None:
    truth = s.truth()
    managed = sum(1 for t in truth if t["kind"] == "camera" and t["reachable"] and t["activated"])
    reachable = sum(1 for t in truth if t["reachable"])
    deadline = asyncio.get_running_loop().time() + scaled(180)
    while asyncio.get_running_loop().time() < deadline:
        f = await s.api("GET", "/api/v1/fleet")
        linked = await s.api("GET", "/api/v1/census?status=inventoried&limit=10000")
        if f["inventoried"] == managed and f["census_devices"] >= reachable and linked["total"] >= managed:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"fleet never settled: {f}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Started (and waited for) before Playwright's event loop takes this thread: asyncio.run only here.
    s = Stack(cameras=16, seed=9, sites=("north",), base_address=f"{BLOCK}.1", census_sites=("north",),
              camsim_args=("--recorders", "2", "--unactivated-share", "0.3"))  # fmt: skip
    s.start()
    try:
        asyncio.run(_settled(s))
        yield s
    finally:
        s.cleanup()


def _login(page: Page, s: Stack) -> None:
    page.goto(s.url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(s.url + "/")


def _n(page: Page, testid: str) -> int:
    return int(page.get_by_test_id(testid).inner_text())


def test_overview_counts_census_next_to_inventoried_and_recorders(stack: Stack, page: Page) -> None:
    truth = stack.truth()
    cams = [t for t in truth if t["kind"] == "camera"]
    recs = [t for t in truth if t["kind"] == "recorder"]
    _login(page, stack)
    expect(page.get_by_role("heading", name="How many, and how we know")).to_be_visible()
    assert _n(page, "fleet-cameras") == len(cams)
    assert _n(page, "fleet-inventoried") == sum(1 for t in cams if t["reachable"] and t["activated"])
    assert _n(page, "fleet-census-only") == sum(1 for t in cams if t["reachable"] and not t["activated"])
    assert _n(page, "fleet-behind") == sum(1 for t in cams if not t["reachable"])
    assert _n(page, "fleet-recorders") == len(recs)
    assert _n(page, "fleet-channels") == sum(len(r["channels"]) for r in recs)
    assert _n(page, "census-devices") == sum(1 for t in truth if t["reachable"])
    assert _n(page, "census-unactivated") == sum(1 for t in cams if not t["activated"])
    table = page.locator("#recorders-table")
    ids = _ids_by_address(stack)
    for r in recs:
        rid = ids[f"{r['host']}:{r['port']}"]
        row = table.locator(f'tr[data-recorder="{rid}"]')
        hidden = sum(
            1 for c in r["channels"] if not next(t for t in cams if t["id"] == c["camera_id"])["reachable"]
        )
        expect(row.locator("td").nth(1)).to_have_text(str(len(r["channels"])))
        expect(row.locator("td").nth(3)).to_have_text(str(hidden))
    shot(page, "15-census-overview")


def _ids_by_address(stack: Stack) -> dict[str, str]:
    """host:port -> the controller's camera id (ids are stable identities, not addresses). A plain HTTP call:
    Playwright's loop owns this thread."""
    req = urllib.request.Request(
        f"{stack.url}/api/v1/cameras?limit=500", headers={"Authorization": f"Bearer {stack.token}"}
    )
    with urllib.request.urlopen(req, timeout=scaled(30)) as r:  # our own controller, on loopback
        cams = json.load(r)["cameras"]
    return {f"{c['host']}:{c['port']}": c["camera_id"] for c in cams}


def _fed(stack: Stack) -> list[dict[str, Any]]:
    return [
        t
        for t in stack.truth()
        if t["kind"] == "camera" and t["reachable"] and t["activated"] and t["recorder"]
    ]


def test_wizard_lists_the_channels_each_batch_takes_dark(stack: Stack, page: Page) -> None:
    fed = _fed(stack)
    assert fed, "cameras on the LAN feed the recorders"
    _login(page, stack)
    page.goto(stack.url + "/campaigns/new")
    page.get_by_label("Name").fill("fence the fed cameras")
    ids = _ids_by_address(stack)
    page.get_by_label("Camera ids (comma-separated)").fill(
        ",".join(ids[f"{t['host']}:{t['port']}"] for t in fed)
    )
    page.locator('input[name="stages"][value="disable_cloud"]').uncheck()
    page.locator('input[name="stages"][value="restrict_network"]').check()
    page.get_by_label("restrict_network: allowed addresses").fill("10.1.2.3")
    page.get_by_label("Canary batch size").fill("1")
    page.locator("#plan-campaign").click()
    expect(page.get_by_test_id("plan-refused")).to_contain_text("would cut")
    rows = page.locator("#plan-impact tbody tr")
    expect(rows).to_have_count(len(fed))
    shown = {(r.get_attribute("data-batch"), r.locator("td").nth(2).inner_text(), r.locator("td").nth(3).inner_text())
             for r in rows.all()}  # fmt: skip
    want = {(t["recorder_host"], str(t["channel"])) for t in fed}
    assert {(host.split(" (")[1].rstrip(")"), ch) for _, host, ch in shown} == want
    assert {b for b, _, _ in shown} <= {f"b{i:03d}" for i in range(1, len(fed) + 1)}
    # Creating it unchanged is refused; with the gap accepted it is created and its batches show the same channels.
    page.locator("#create-campaign").click()
    expect(page.locator("#wizard-error")).to_contain_text("would cut")
    page.get_by_label("Accept the recording gap").check()
    page.locator("#create-campaign").click()
    page.wait_for_url(f"{stack.url}/campaigns/*")
    tables = page.get_by_test_id("batch-impact")
    expect(tables.locator("tbody tr")).to_have_count(len(fed))
    shot(page, "15-campaign-recorder-impact")
