"""The REST API over real HTTP: tokens and roles, filters and pagination, exports, OpenAPI, clear 4xx errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from controller.app import STORE, build_app
from controller.auth import hash_password, new_token, token_hash
from controller.config import ControllerConfig
from controller.store.base import CameraRow, UserRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.keys import SigningKey


def row(i: int, origin: str, site: str) -> CameraRow:
    rec = pb.CameraRecord(camera_id=f"cam-{i:04d}", host=f"127.0.1.{i % 250 + 1}", port=80)
    rec.origin.manufacturer = origin
    return CameraRow(
        camera_id=f"cam-{i:04d}", agent_id=f"agent-{site}", site=site, host=rec.host, port=80,
        manufacturer=origin.upper(), model="M", firmware="F", origin=origin, covered=origin in ("hikvision", "dahua"),
        oem_rebrand=i % 10 == 0, confidence=0.9, risk_score=50, risk_level="high" if i % 2 else "low",
        cloud_reachable=i % 3 == 0, fingerprint=f"fp{i}", reachable=True, observed_at=time.time(),
        record=rec.SerializeToString(),
    )  # fmt: skip


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    cfg = ControllerConfig(state_dir=tmp_path)
    app = build_app(cfg, SigningKey.generate(), mqtt=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    store = app[STORE]
    tokens = {}
    for role in ("viewer", "operator", "approver", "admin"):
        await store.put_user(UserRow(role, hash_password("x" * 12), role))
        tokens[role] = new_token()
        await store.add_token(token_hash(tokens[role]), role, "test")
    rows = [row(i, ["hikvision", "dahua", "axis"][i % 3], ["north", "south"][i % 2]) for i in range(60)]
    for site in ("north", "south"):
        await store.ingest_cameras(
            f"agent-{site}", [r for r in rows if r.site == site], full=True, removed=[], seq=1
        )
    yield str(server.make_url("")), tokens
    await server.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_are_required_and_checked(api: tuple[str, dict[str, str]]) -> None:
    url, tokens = api
    async with ClientSession() as s:
        async with s.get(f"{url}/api/v1/cameras") as r:
            assert r.status == 401 and "Bearer" in (await r.json())["error"]
        async with s.get(f"{url}/api/v1/cameras", headers=auth("cf_forged")) as r:
            assert r.status == 401
        async with s.get(f"{url}/api/v1/cameras", headers=auth(tokens["viewer"])) as r:
            assert r.status == 200


async def test_filters_pagination_and_summary(api: tuple[str, dict[str, str]]) -> None:
    url, tokens = api
    h = auth(tokens["viewer"])
    async with ClientSession(headers=h) as s:
        async with s.get(
            f"{url}/api/v1/cameras", params={"origin": "dahua", "site": "north", "limit": "5"}
        ) as r:
            body = await r.json()
        assert body["total"] == 10 and len(body["cameras"]) == 5
        assert {c["origin"]["manufacturer"] for c in body["cameras"]} == {"dahua"}
        async with s.get(
            f"{url}/api/v1/cameras", params={"origin": "dahua", "site": "north", "offset": "5", "limit": "5"}
        ) as r:
            page2 = await r.json()
        assert not {c["camera_id"] for c in body["cameras"]} & {c["camera_id"] for c in page2["cameras"]}
        async with s.get(f"{url}/api/v1/summary") as r:
            summ = await r.json()
        assert summ["total"] == 60 and summ["origin"] == {"hikvision": 20, "dahua": 20, "axis": 20}
        assert summ["covered"] == 40 and summ["cloud_reachable"] == 20
        async with s.get(f"{url}/api/v1/cameras/cam-0007") as r:
            one = await r.json()
        assert one["record"]["camera_id"] == "cam-0007" and one["history"]


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "abc"}, {"offset": "-1"}, {"covered": "maybe"}, {"order": "password"}],
)
async def test_bad_queries_are_400(api: tuple[str, dict[str, str]], query: dict[str, str]) -> None:
    url, tokens = api
    async with (
        ClientSession(headers=auth(tokens["viewer"])) as s,
        s.get(f"{url}/api/v1/cameras", params=query) as r,
    ):
        assert r.status == 400
        assert (await r.json())["error"].startswith("bad request")


async def test_roles(api: tuple[str, dict[str, str]]) -> None:
    url, tokens = api
    body = {"action": "disable_cloud", "where": {"origin": "hikvision"}, "dry_run": True}
    async with ClientSession() as s:
        for role, status in (("viewer", 403), ("approver", 403), ("operator", 201), ("admin", 201)):
            async with s.post(f"{url}/api/v1/commands", json=body, headers=auth(tokens[role])) as r:
                assert r.status == status, (role, await r.text())
        async with s.post(
            f"{url}/api/v1/commands", json={"action": "format_c"}, headers=auth(tokens["operator"])
        ) as r:
            assert r.status == 400 and "unknown action" in (await r.json())["error"]
        async with s.post(f"{url}/api/v1/commands", data=b"{not json", headers=auth(tokens["operator"])) as r:
            assert r.status == 400
        bad = {"action": "restrict_network", "params": {"allow": ["not-an-ip"]}, "where": {"origin": "dahua"}}
        async with s.post(f"{url}/api/v1/commands", json=bad, headers=auth(tokens["operator"])) as r:
            assert r.status == 400 and "not an address" in (await r.json())["error"]
        decom = {"action": "decommission", "where": {"origin": "dahua"}}
        async with s.post(f"{url}/api/v1/commands", json=decom, headers=auth(tokens["admin"])) as r:
            assert r.status == 400 and "approvals" in (await r.json())["error"]


async def test_command_is_signed_stored_and_audited(api: tuple[str, dict[str, str]]) -> None:
    url, tokens = api
    async with ClientSession(headers=auth(tokens["operator"])) as s:
        body = {"action": "disable_cloud", "where": {"origin": "hikvision"}}
        async with s.post(f"{url}/api/v1/commands", json=body) as r:
            created = (await r.json())["commands"]
        # One command per agent, holding exactly that agent's matching cameras; no broker here, so QUEUED.
        assert {c["agent_id"] for c in created} == {"agent-north", "agent-south"}
        cid = created[0]["command_id"]
        async with s.get(f"{url}/api/v1/commands/{cid}") as r:
            detail = await r.json()
        assert detail["state"] == "QUEUED" and detail["counts"] == {"QUEUED": 10}
        async with s.post(f"{url}/api/v1/commands/{cid}/cancel") as r:
            assert (await r.json())["canceled"] == 10
        async with s.get(f"{url}/api/v1/audit") as r:
            actions = [e["action"] for e in (await r.json())["entries"]]
        assert actions.count("command.create") == 2 and "command.cancel" in actions
        async with s.get(f"{url}/api/v1/audit/verify") as r:
            assert (await r.json())["ok"] is True


async def test_exports_and_openapi(api: tuple[str, dict[str, str]]) -> None:
    url, tokens = api
    async with ClientSession(headers=auth(tokens["viewer"])) as s:
        async with s.get(f"{url}/api/v1/export", params={"format": "csv", "origin": "axis"}) as r:
            text = await r.text()
        lines = text.strip().splitlines()
        assert lines[0].startswith("camera_id,site") and len(lines) == 21
        async with s.get(f"{url}/api/v1/export", params={"format": "xml"}) as r:
            assert r.status == 400
        async with s.get(f"{url}/api/openapi.json") as r:
            doc = await r.json()
        assert doc["openapi"].startswith("3.") and "/api/v1/cameras" in doc["paths"]
