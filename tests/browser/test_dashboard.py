"""Dashboard in a real browser: login, fleet counts against camsim's truth, cameras table, detail, roles, CSRF."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, shot
from tests.browser.harness import SITES, Fleet
from tests.timing import scaled

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def tile(page: Page, testid: str) -> int:
    return int(page.get_by_test_id(testid).inner_text())


def test_login_required_and_wrong_password(page: Page, fleet: Fleet) -> None:
    base = fleet.controller.url
    page.goto(base + "/cameras?origin=dahua")
    assert page.url.startswith(base + "/login?next=")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    page.get_by_label("Password").fill(fleet.people.password)
    page.get_by_role("button", name="Log in").click()
    # Back where the user wanted to go, with the filter intact.
    page.wait_for_url(re.compile(r".*/cameras\?origin=dahua$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "camfleet_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(base + "/")
    assert "/login" in page.url


def test_fleet_counts_match_camsim_truth(page: Page, fleet: Fleet) -> None:
    login(page, fleet, "viewer")
    truth = fleet.camsim.truth
    assert tile(page, "total") == len(truth)
    origin = Counter(t["true_manufacturer"] for t in truth)
    for maker in ("hikvision", "dahua"):
        row = page.locator(f'#origin-table tr[data-origin="{maker}"]')
        assert int(row.locator("td").nth(0).inner_text()) == origin[maker], maker
        # OEM rebrands show as such: the brand on the label next to the real maker.
        rebrands = Counter(
            t["manufacturer"] for t in truth if t["true_manufacturer"] == maker and t["oem_brand"]
        )
        for brand in rebrands:
            expect(row).to_contain_text(brand)
    covered = origin["hikvision"] + origin["dahua"]
    assert tile(page, "covered") == covered
    assert tile(page, "oem") == sum(1 for t in truth if t["oem_brand"])
    stats = fleet.camsim.control("GET", "/stats")
    assert tile(page, "cloud") == stats["cloud_reachable"]
    sites = Counter(fleet.site_of_host()[t["host"]] for t in truth)
    chart = page.get_by_role("img", name=re.compile("Cameras by site"))
    for site in SITES:
        expect(chart).to_have_attribute("aria-label", re.compile(rf"{site} {sites[site]}\b"))
    shot(page, "01-fleet-overview")


def test_cameras_table_filter_search_paginate_and_detail(page: Page, fleet: Fleet) -> None:
    login(page, fleet, "viewer")
    base = fleet.controller.url
    truth = fleet.camsim.truth
    page.goto(base + "/cameras")
    page.get_by_label("Origin").select_option("dahua")
    page.get_by_label("Per page").select_option("25")
    page.get_by_role("button", name="Apply").click()
    n_dahua = sum(1 for t in truth if t["true_manufacturer"] == "dahua")
    expect(page.get_by_test_id("camera-total")).to_have_text(str(n_dahua))
    assert page.locator("#cameras-table tbody tr").count() == n_dahua
    shot(page, "02-cameras-filtered")
    # Server-side pagination: pages of 25 over the whole fleet, no camera on two pages.
    page.goto(base + "/cameras?per=10")
    first = set(page.locator("#cameras-table tbody th a").all_inner_texts())
    page.get_by_role("link", name="Next →").click()
    second = set(page.locator("#cameras-table tbody th a").all_inner_texts())
    assert len(first) == 10 and len(second) == 10 and not first & second
    # Search by address, keyboard only: type, Enter submits the filter form.
    host = truth[3]["host"]
    page.goto(base + "/cameras")
    page.get_by_label("Search").fill(host)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("camera-total")).to_have_text("1")
    page.locator("#cameras-table tbody th a").first.click()
    expect(page.get_by_role("heading", name="Identity")).to_be_visible()
    expect(page.locator("dl.kv").first).to_contain_text(truth[3]["serial"])
    expect(page.get_by_role("table", name="Attribution evidence")).to_be_visible()
    assert page.locator("table:has(caption:text('Attribution evidence')) tbody tr").count() >= 1
    expect(page.get_by_role("heading", name="Vendor cloud features")).to_be_visible()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    shot(page, "03-camera-detail")


def test_read_only_pages_work_without_javascript(browser: object, fleet: Fleet) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    ctx = browser.new_context(java_script_enabled=False)
    try:
        p = ctx.new_page()
        login(p, fleet, "viewer")
        assert tile(p, "total") == len(fleet.camsim.truth)
        p.goto(fleet.controller.url + "/cameras?origin=hikvision")
        assert p.locator("#cameras-table tbody tr").count() >= 1
        p.goto(fleet.controller.url + "/audit")
        p.get_by_role("button", name="Verify the hash chain").click()
        expect(p.locator("#chain-result")).to_contain_text("Chain intact")
        shot(p, "04-audit-verified-nojs")
    finally:
        ctx.close()


def test_viewer_cannot_start_anything(page: Page, fleet: Fleet) -> None:
    login(page, fleet, "viewer")
    base = fleet.controller.url
    page.goto(base + "/commands")
    expect(page.get_by_role("link", name="Run a command")).to_have_count(0)
    page.goto(base + "/campaigns")
    expect(page.get_by_role("link", name=re.compile("New campaign"))).to_have_count(0)
    before = fleet.controller.call(fleet.controller.store.list_commands)
    csrf = page.locator("body").get_attribute("data-csrf") or ""
    # The server refuses too, with a valid session and CSRF token: hiding the button is not the control.
    r = page.request.post(
        base + "/commands", form={"csrf": csrf, "action": "disable_cloud", "origin": "dahua"}
    )
    assert r.status == 403
    r = page.request.post(
        base + "/api/v1/commands",
        data={"action": "disable_cloud", "where": {"origin": "dahua"}},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status == 403
    r = page.request.get(base + "/commands/new")
    assert r.status == 403
    assert fleet.controller.call(fleet.controller.store.list_commands) == before
    shot(page, "05-viewer-commands")


def test_session_api_posts_need_the_csrf_header(page: Page, fleet: Fleet) -> None:
    login(page, fleet, "operator")
    base = fleet.controller.url
    body = {"action": "disable_cloud", "where": {"origin": "dahua"}, "dry_run": True}
    r = page.request.post(base + "/api/v1/commands", data=body)
    assert r.status == 403 and "CSRF" in r.json()["error"]
    # The JSON API reads with the browser session (what the page scripts use).
    r = page.request.get(base + "/api/v1/summary")
    assert r.status == 200 and r.json()["total"] == len(fleet.camsim.truth)
    csrf = page.locator("body").get_attribute("data-csrf") or ""
    r = page.request.post(base + "/api/v1/commands", data=body, headers={"X-CSRF-Token": csrf})
    assert r.status == 201, r.text()


def test_operator_runs_a_dry_run_and_watches_it(page: Page, fleet: Fleet) -> None:
    login(page, fleet, "operator")
    page.get_by_role("link", name="Commands").click()
    page.get_by_role("link", name="Run a command").click()
    page.get_by_label("disable_cloud").check()
    page.get_by_label("Origin", exact=True).fill("hikvision")
    page.get_by_label("Site", exact=True).fill(SITES[0])
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r".*/commands/[0-9a-f-]+$"))
    expect(page.get_by_test_id("command-state")).to_be_visible()
    if fleet.live:
        # The agent runs the dry run; the page follows over SSE without a reload.
        expect(page.get_by_test_id("command-state")).to_have_text("SUCCEEDED", timeout=scaled(60_000))
    shot(page, "06-command-detail")


def test_exports_and_report(page: Page, fleet: Fleet) -> None:
    login(page, fleet, "viewer")
    base = fleet.controller.url
    r = page.request.get(base + "/export/cameras.csv?origin=hikvision")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text().strip().splitlines()
    assert lines[0].startswith("camera_id,") and len(lines) - 1 == sum(
        1 for t in fleet.camsim.truth if t["true_manufacturer"] == "hikvision"
    )
    r = page.request.get(base + "/export/cameras.json")
    assert len(r.json()["cameras"]) == len(fleet.camsim.truth)
    page.goto(base + f"/report?site={SITES[1]}")
    expect(page.get_by_role("heading", name=re.compile(SITES[1]))).to_be_visible()
    shot(page, "07-report-site")


def test_keyboard_navigation(page: Page, fleet: Fleet) -> None:
    login(page, fleet, "viewer")
    # The first Tab lands on the skip link; Enter jumps past the navigation to the page's main content.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every form control on the cameras page has a label a screen reader announces.
    page.goto(fleet.controller.url + "/cameras")
    unlabeled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)"""
    )
    assert unlabeled == []
    # Charts carry their numbers as text, not only as bars.
    page.goto(fleet.controller.url + "/")
    label = page.get_by_role("img", name=re.compile("Cameras by manufacturer of origin")).get_attribute(
        "aria-label"
    )
    assert label is not None and "hikvision" in label
