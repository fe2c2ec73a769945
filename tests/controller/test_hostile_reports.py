"""No 500 and no stuck site for odd input, on both store backends. A NUL anywhere in a URL, a form or a JSON body
is a 400 (PostgreSQL refuses NUL in text: every lookup with one was a 500 there); a camera's NUL-padded strings
and an agent's NaN confidence are stored cleaned instead of failing the whole report (on PostgreSQL one such
camera quarantined every inventory report of its site; on SQLite a NaN did)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from controller.api import STORE
from controller.app import build_app
from controller.auth import hash_password, new_token, token_hash
from controller.config import ControllerConfig
from controller.hub import Hub, HubSettings
from controller.store import Store
from controller.store.base import UserRow
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey
from tests.browser.test_web_http import PW, login, row
from tests.controller.conftest import Backend
from tests.controller.test_replica_sessions import store_url

N = "\x00"


@dataclass
class Live:
    url: str
    store: Store
    token: str


@pytest.fixture
async def live(backend: Backend, tmp_path: Path) -> AsyncIterator[Live]:
    cfg = ControllerConfig(state_dir=tmp_path / "c", store_url=store_url(backend), secure_cookies=False)
    app = build_app(cfg, SigningKey.generate(), mqtt=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    store = app[STORE]
    rows = [row(i, "hikvision", "north") for i in range(4)]
    await store.ingest_cameras("agent-north", rows, full=True, removed=[], seq=1)
    await store.put_user(UserRow("adm", hash_password(PW), "admin"))
    token = new_token()
    await store.add_token(token_hash(token), "adm", "t")
    try:
        yield Live(str(server.make_url("")).rstrip("/"), store, token)
    finally:
        await server.close()


def strict_json(text: str) -> Any:
    def no_constant(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=no_constant)


async def test_a_nul_in_a_url_a_form_or_a_body_is_a_400(live: Live) -> None:
    api: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", "/api/v1/cameras?site=%00", {}, "query string"),
        ("GET", "/api/v1/cameras?q=a%00", {}, "query string"),
        ("GET", "/api/v1/cameras/cam%00", {}, "path"),
        ("GET", "/api/v1/commands/%00", {}, "path"),
        ("GET", "/api/v1/campaigns/%00/batches/b001/manifest", {}, "path"),
        ("GET", "/api/v1/export?manufacturer=%00", {}, "query string"),
        ("POST", "/api/v1/commands/%00/cancel", {}, "path"),
        ("POST", "/api/v1/commands", {"json": {"where": {"site": N}, "action": "inventory"}}, "where.site"),
        ("POST", "/api/v1/commands", {"json": {"where": {"ids": ["cam-0000"]}, "action": "rollback",
                                               "params": {"snapshot_id": "c" + N}}}, "params.snapshot_id"),
        ("POST", "/api/v1/campaigns", {"json": {"name": N, "where": {"site": "north"}, "stages": ["disable_cloud"],
                                                "preview": "none"}}, "name"),
        ("POST", "/api/v1/cameras/cam-0000/owner", {"json": {"agent_id": "agent-north", "note": N}}, "note"),
    ]  # fmt: skip
    async with ClientSession(headers={"Authorization": f"Bearer {live.token}"}) as s:
        for method, path, kw, where in api:
            async with s.request(method, live.url + path, **kw) as r:
                body = strict_json(await r.text())
            assert r.status == 400 and where in body["error"] and "NUL" in body["error"], (path, body)
    assert await live.store.list_commands() == []
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
        async with s.get(live.url + "/login") as r:
            m = re.search(r'name="csrf" value="([^"]+)"', await r.text())
        assert m is not None
        async with s.post(live.url + "/login", data={"csrf": m[1], "username": N, "password": "x"}) as r:
            assert r.status == 400, await r.text()
        csrf = await login(s, live.url, "adm")
        for path in ("/report?site=%00", "/cameras?site=%00", "/cameras/%00", "/campaigns/%00"):
            async with s.get(live.url + path) as r:
                assert r.status == 400 and "NUL" in await r.text(), path
        for path, form in (("/commands", {"action": "inventory", "site": N}),
                           ("/campaigns/%00/abort", {"reason": "x"}),
                           ("/cameras/cam-0000/removed", {"note": "gone" + N})):  # fmt: skip
            async with s.post(live.url + path, data={"csrf": csrf, **form}, allow_redirects=False) as r:
                page = await r.text()
            assert r.status == 400 and ("a form field" in page or "the path" in page), (path, page)
    assert await live.store.list_commands() == []


def padded_inventory(seq: int) -> bytes:
    rep = pb.InventoryReport(agent_id="agent-north", seq=seq, full=False)
    for i, model in ((90, "DS-2CD2042WD\x00\x00\x00\x00"), (91, "IPC-HFW1230S")):
        c = rep.cameras.add(
            camera_id=f"cam-{i:04d}", host=f"127.0.3.{i}", port=80, site="north", reachable=True
        )
        c.identity.manufacturer, c.identity.model = "Dahua\x00", model
        c.identity.serial = f"4E0123P{i}\x00\x00\x00\x00\x00\x00"
        c.origin.manufacturer, c.origin.confidence = "dahua", float("nan") if i == 91 else 0.9
        c.observed_at.GetCurrentTime()
    rec = rep.cameras.add(
        camera_id="cam-0092", host="127.0.3.92", port=80, site="north", device_class="recorder"
    )
    rec.identity.model = "NVR4108HS\x00"
    rec.channels.add(channel=1, address="127.0.3.90", identity=pb.CameraIdentity(serial="4E0123P90\x00"))
    rec.channels.add(channel=2**32 - 1, address="127.0.3.91")  # no INTEGER column holds it: dropped
    return rep.SerializeToString()


def padded_census() -> bytes:
    rep = pb.CensusReport(agent_id="agent-north", seq=20, census_id="c1")
    d = rep.devices.add(
        host="127.0.3.93", serial="DH-SN\x00\x00\x00", model="DH-IPC\x00\x00", macs=["3c:ef:8c:00:00:01"]
    )
    d.origin.manufacturer, d.origin.confidence = "dahua", float("inf")
    return rep.SerializeToString()


async def test_a_cameras_nul_padded_text_is_stored_clean_and_its_site_goes_on(live: Live) -> None:
    hub = Hub(live.store, HubSettings(), [])
    await hub.handle(topics.agent_topic("agent-north", "inventory"), padded_inventory(2))
    await hub.handle(topics.agent_topic("agent-north", "census"), padded_census())
    async with ClientSession(headers={"Authorization": f"Bearer {live.token}"}) as s:
        async with s.get(live.url + "/api/v1/cameras?limit=500") as r:
            # The controller keys a camera by its identity; the agent names it by its reference (issue 14).
            ids = {c["agent_ref"]: c["camera_id"] for c in strict_json(await r.text())["cameras"]}
        assert {"cam-0090", "cam-0091", "cam-0092"} <= set(ids), ids
        status_create = await s.post(live.url + "/api/v1/commands", json={
            "where": {"ids": [ids["cam-0090"]]}, "action": "disable_cloud", "dry_run": True})  # fmt: skip
        assert status_create.status == 201, await status_create.text()
        cmd = (await status_create.json())["commands"][0]["command_id"]
        upd = pb.ExecutionUpdate(command_id=cmd, camera_id="cam-0090", state=pb.EXECUTION_STATE_FAILED, seq=30,
                                 error_class=pb.ERROR_CLASS_PROTOCOL, message="camera said: Error\x00\x00")  # fmt: skip
        await hub.handle_many([(topics.agent_topic("agent-north", "result"), upd.SerializeToString())])
        assert [q.reason for q in await live.store.quarantine_list()] == []
        docs = {}
        for cam in ("cam-0090", "cam-0091", "cam-0092"):
            async with s.get(f"{live.url}/api/v1/cameras/{ids[cam]}") as r:
                assert r.status == 200, await r.text()
                docs[cam] = strict_json(await r.text())
        assert docs["cam-0090"]["model"] == "DS-2CD2042WD" and docs["cam-0090"]["manufacturer"] == "Dahua"
        assert docs["cam-0091"]["origin"]["confidence"] == 0.0
        async with s.get(live.url + "/api/v1/recorders") as r:
            channels = strict_json(await r.text())
        assert r.status == 200 and [c["channel"] for c in channels["recorders"][0]["channels"]] == [1], (
            channels
        )
        async with s.get(live.url + "/api/v1/census") as r:
            census = strict_json(await r.text())
        assert r.status == 200 and [(d["serial"], d["model"], d["confidence"]) for d in census["devices"]] == [
            ("DH-SN", "DH-IPC", 0.0)]  # fmt: skip
        async with s.get(f"{live.url}/api/v1/commands/{cmd}") as r:
            ex = strict_json(await r.text())["executions"][0]
        assert (ex["state"], ex["message"]) == ("FAILED", "camera said: Error")
        for path in ("/api/v1/cameras?limit=500", "/api/v1/export", "/api/v1/fleet", "/api/v1/summary"):
            async with s.get(live.url + path) as r:
                assert r.status == 200, path
                strict_json(await r.text())
