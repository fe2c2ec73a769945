"""Campaigns in a real browser, against real agents: wizard + dry run, canary, auto-pause, two approvers, roles."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect

from controller.campaigns import planner
from controller.campaigns.approvals import sign_manifest
from controller.store.base import CameraFilter
from tests.browser.conftest import login, shot
from tests.browser.harness import Fleet
from tests.timing import scaled

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
LIVE_TIMEOUT = scaled(90_000)


@pytest.fixture(autouse=True)
def _needs_agents(fleet: Fleet) -> None:
    if not fleet.live:
        pytest.skip("campaigns run on agents: needs `camfleet-agent run` (helper agent-core)")


def cameras(fleet: Fleet, **flt: Any) -> list[str]:
    async def q() -> list[str]:
        rows, _ = await fleet.controller.store.query_cameras(CameraFilter(**flt), limit=1000)
        return [r.camera_id for r in rows]

    return fleet.controller.call(q)


def hosts(fleet: Fleet, camera_ids: list[str]) -> dict[str, str]:
    """camera id -> its address now (ids are stable identities, not addresses)."""

    async def q() -> dict[str, str]:
        rows = [await fleet.controller.store.get_camera(c) for c in camera_ids]
        return {r.camera_id: r.host for r in rows if r is not None}

    return fleet.controller.call(q)


def lifecycle(fleet: Fleet, camera_id: str) -> str:
    async def q() -> str:
        row = await fleet.controller.store.get_camera(camera_id)
        assert row is not None
        return row.lifecycle

    return fleet.controller.call(q)


def create_campaign(page: Page, fleet: Fleet, name: str, where: dict[str, str], stages: list[str],
                    **fields: str) -> str:  # fmt: skip
    page.goto(fleet.controller.url + "/campaigns")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill(name)
    labels = {"origin": "Origin", "site": "Site", "vendor": "Brand", "ids": "Camera ids (comma-separated)"}
    for k, v in where.items():
        page.get_by_label(labels[k], exact=True).fill(v)
    for s in ("disable_cloud", "restrict_network", "decommission"):
        box = page.locator(f'input[name="stages"][value="{s}"]')
        box.set_checked(s in stages)
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Plan (preview batches)").click()
    expect(page.locator("#plan")).to_be_visible()
    shot(page, f"10-wizard-plan-{name.replace(' ', '-')}")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_create_campaign_preview_and_watch_canary_complete(page: Page, fleet: Fleet) -> None:
    targets = cameras(fleet, origin="hikvision", site="north")
    assert len(targets) >= 3
    login(page, fleet, "operator")
    page.goto(fleet.controller.url + "/campaigns/new?origin=hikvision&site=north")
    page.get_by_label("Name").fill("north hikvision cloud off")
    page.get_by_label("Maximum batch size").fill("10")
    page.get_by_role("button", name="Plan (preview batches)").click()
    expect(page.get_by_test_id("plan-count")).to_have_text(str(len(targets)))
    sizes = planner.batch_sizes(len(targets), planner.BatchPlan(canary=1, growth=2.0, max_batch=10))
    expect(page.get_by_test_id("plan-sizes")).to_have_text(", ".join(map(str, sizes)))
    shot(page, "11-wizard-plan")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/[0-9a-f-]{36}$"))
    # The dry run over the canary comes back from the agent: per setting, what would change.
    preview = page.locator("#preview")
    expect(preview).to_contain_text("SUCCEEDED", timeout=LIVE_TIMEOUT)
    expect(preview.locator(".chg").first).to_contain_text("→")
    expect(preview).to_contain_text("hikvision.upnp")
    canary = sorted(targets)[0]
    assert lifecycle(fleet, canary) == "INVENTORIED"
    shot(page, "12-campaign-preview")
    page.get_by_role("button", name="Start").click()
    batches = page.locator("section.batch")
    # Live progress, no reload: the canary passes its gate, then the next batch runs and passes too.
    expect(batches.nth(0).get_by_test_id("batch-state")).to_have_text("SUCCEEDED", timeout=LIVE_TIMEOUT)
    expect(batches.nth(0)).to_contain_text("passed")
    shot(page, "13-canary-succeeded")
    expect(page.get_by_test_id("campaign-state")).to_have_text("COMPLETED", timeout=LIVE_TIMEOUT)
    expect(page.get_by_test_id("batch-state")).to_have_text(["SUCCEEDED"] * len(sizes))
    assert {lifecycle(fleet, c) for c in targets} == {"CLOUD_OFF"}
    shot(page, "14-campaign-completed")


def test_batch_auto_pauses_at_its_failure_threshold(page: Page, fleet: Fleet) -> None:
    targets = cameras(fleet, origin="dahua", site="south")
    assert len(targets) >= 2
    host_to_sim = {t["host"]: t["id"] for t in fleet.camsim.truth}
    broken = sorted(targets)[:2]
    host = hosts(fleet, broken)
    for cid in broken:
        fleet.camsim.control("POST", f"/cameras/{host_to_sim[host[cid]]}/faults", {"http500_rate": 1.0})
    try:
        login(page, fleet, "operator")
        page.goto(fleet.controller.url + f"/campaigns/new?ids={','.join(targets)}")
        page.get_by_label("Name").fill("south dahua with faults")
        page.get_by_label("Canary batch size").fill(str(len(targets)))
        page.get_by_label("Maximum batch size").fill(str(len(targets)))
        page.get_by_label("Failure threshold (%)").fill("30")
        page.get_by_label("Minimum executed before the failure threshold applies").fill("2")
        page.get_by_label("Dry-run preview over").select_option("none")
        page.get_by_role("button", name="Create campaign").click()
        page.wait_for_url(re.compile(r".*/campaigns/[0-9a-f-]{36}$"))
        page.get_by_role("button", name="Start").click()
        batch = page.locator("section.batch").nth(0)
        expect(batch.get_by_test_id("batch-state")).to_have_text("PAUSED", timeout=LIVE_TIMEOUT)
        expect(page.get_by_test_id("campaign-state")).to_have_text("PAUSED")
        expect(batch).to_contain_text("tripped")
        shot(page, "15-batch-auto-paused")
        # The operator aborts what the gate stopped.
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Abort").click()
        expect(page.get_by_test_id("campaign-state")).to_have_text("ABORTED")
    finally:
        for cid in broken:
            fleet.camsim.control("POST", f"/cameras/{host_to_sim[host[cid]]}/faults", {"http500_rate": 0.0})


def sign_on_page(page: Page, fleet: Fleet, who: str) -> None:
    """What an approver does: read the digest on the page, sign with `fleetctl approve` (the same code:
    sign_manifest, refusing a manifest that does not match the digest shown), paste the result."""
    digest = page.get_by_test_id("digest").inner_text()
    manifest = page.get_by_test_id("manifest").text_content() or ""
    signed = sign_manifest(manifest, fleet.people.approver_keys[who], expect_digest=digest)
    page.get_by_label("Signature", exact=True).fill(json.dumps(signed.body()))
    page.get_by_role("button", name="Submit approval").click()


def test_decommission_needs_two_different_approvers(page: Page, fleet: Fleet) -> None:
    targets = cameras(fleet, origin="axis", site="north")
    assert targets
    login(page, fleet, "operator")
    page.goto(fleet.controller.url + f"/campaigns/new?ids={','.join(targets)}")
    page.get_by_label("Name").fill("retire north axis")
    for s in ("disable_cloud", "decommission"):
        page.locator(f'input[name="stages"][value="{s}"]').set_checked(s == "decommission")
    page.get_by_label("Canary batch size").fill(str(len(targets)))
    # A destructive campaign is created only from a plan the operator has seen.
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#wizard-error")).to_contain_text("Plan first")
    page.get_by_role("button", name="Plan (preview batches)").click()
    expect(page.get_by_test_id("plan-count")).to_have_text(str(len(targets)))
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/[0-9a-f-]{36}$"))
    board = page.url
    expect(page.locator("section.batch").nth(0).get_by_test_id("batch-state")).to_have_text(
        "AWAITING_APPROVAL"
    )
    # The operator may not sign (no approve permission) and the batch cannot run before two approvals.
    r = page.request.post(
        board + "/batches/b001/approve",
        multipart={
            "csrf": page.locator("body").get_attribute("data-csrf") or "",
            "key_id": "x",
            "signature": "x",
        },
    )
    assert r.status == 403
    page.context.clear_cookies()

    login(page, fleet, "alice")
    page.get_by_role("link", name="Approvals").click()
    row = page.locator("#approval-queue tbody tr", has_text="retire north axis")
    row.get_by_role("link", name="Review and sign").click()
    shot(page, "16-approve-page")
    sign_on_page(page, fleet, "alice")
    expect(page.get_by_text("Approvals: 1")).to_be_visible()
    # The same person twice does not count twice.
    sign_on_page(page, fleet, "alice")
    expect(page.locator("#approve-error")).to_contain_text("already approved")
    # A signature from another key than the one registered for this user is refused.
    digest = page.get_by_test_id("digest").inner_text()
    forged = sign_manifest(
        (page.get_by_test_id("manifest").text_content() or ""), fleet.people.approver_keys["bob"], digest
    )
    page.get_by_label("Signature", exact=True).fill(json.dumps(forged.body()))
    page.get_by_role("button", name="Submit approval").click()
    expect(page.locator("#approve-error")).to_contain_text("not the approver key registered")
    page.context.clear_cookies()

    login(page, fleet, "bob")
    page.goto(board + "/batches/b001/approve")
    # Bob uploads the file `fleetctl approve` wrote instead of pasting it.
    digest = page.get_by_test_id("digest").inner_text()
    signed = sign_manifest(
        page.get_by_test_id("manifest").text_content() or "", fleet.people.approver_keys["bob"], digest
    )
    payload: FilePayload = {"name": "approval.json", "mimeType": "application/json",
                            "buffer": json.dumps(signed.body()).encode()}  # fmt: skip
    page.get_by_label("or signature file").set_input_files(files=[payload])
    page.get_by_role("button", name="Submit approval").click()
    expect(page.get_by_test_id("batch-state")).to_have_text("READY")
    shot(page, "17-approved-by-two")
    page.context.clear_cookies()

    login(page, fleet, "operator")
    page.goto(board)
    page.get_by_role("button", name="Start").click()
    # The agents check both approver signatures themselves before the factory reset.
    expect(page.get_by_test_id("campaign-state")).to_have_text("COMPLETED", timeout=LIVE_TIMEOUT)
    assert {lifecycle(fleet, c) for c in targets} == {"DECOMMISSIONED"}
    shot(page, "18-decommissioned")
    page.context.clear_cookies()

    login(page, fleet, "admin")
    page.goto(fleet.controller.url + f"/cameras/{targets[0]}")
    page.get_by_label(re.compile("Physically removed")).fill(
        "taken down by J. Smith, north lobby, 2026-11-29"
    )
    page.get_by_role("button", name="Confirm removal").click()
    expect(page.get_by_test_id("lifecycle")).to_have_text("REMOVED")


def test_viewer_cannot_start_a_campaign(page: Page, fleet: Fleet) -> None:
    targets = cameras(fleet, origin="hikvision", site="south")
    login(page, fleet, "operator")
    cid = create_campaign(page, fleet, "viewer check", {"ids": ",".join(targets[:1])}, ["disable_cloud"])
    page.context.clear_cookies()
    login(page, fleet, "viewer")
    page.goto(fleet.controller.url + "/campaigns")
    expect(page.get_by_role("link", name="New campaign")).to_have_count(0)
    page.goto(fleet.controller.url + f"/campaigns/{cid}")
    expect(page.get_by_test_id("campaign-state")).to_have_text("CREATED")
    for name in ("Start", "Pause", "Resume", "Abort"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    shot(page, "19-viewer-campaign")
    csrf = page.locator("body").get_attribute("data-csrf") or ""
    for op in ("start", "abort"):
        r = page.request.post(fleet.controller.url + f"/campaigns/{cid}/{op}", form={"csrf": csrf})
        assert r.status == 403, op
    r = page.request.post(
        fleet.controller.url + "/campaigns", form={"csrf": csrf, "name": "x", "stages": "disable_cloud"}
    )
    assert r.status == 403
    page.reload()
    expect(page.get_by_test_id("campaign-state")).to_have_text("CREATED")
