"""Issue 13, row by row: what an attacker with an API token, a browser or one agent's certificate tried against a
running stack (30 cameras, 3 sites, Mosquitto), and what the controller must answer now. Real processes only."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import os
import socket
import ssl
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from google.protobuf.json_format import ParseDict

from devstack.stack import ADMIN_PASSWORD, BIN, Stack, wait_until
from protos import topics
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import WIRE_MAGIC
from protos.keys import Keyring, SigningKey

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PINNED = [SigningKey.generate(), SigningKey.generate()]  # the approver keys controller and agents pin
STRANGER = SigningKey.generate()  # an approver key nobody pinned
SSE_PER_SESSION, SSE_TOTAL, HEADER_TIMEOUT_S = 3, 5, 2.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack(cameras=30, seed=13, http_extra={"header_timeout_s": HEADER_TIMEOUT_S, "body_timeout_s": 5.0,
                                                "sse_per_session": SSE_PER_SESSION, "sse_total": SSE_TOTAL})  # fmt: skip
    s.root.mkdir(parents=True, exist_ok=True)
    (s.root / "approvers.json").write_text(Keyring.of(*(k.public_key for k in PINNED)).to_json())
    s.start()
    try:
        asyncio.run(s.wait_inventory(120))
        yield s
    finally:
        s.cleanup()


def cli(s: Stack, *argv: str) -> str:
    res = subprocess.run([str(BIN / "camfleet-controller"), *argv, "--config", str(s.root / "controller" / "controller.toml")],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "CAMFLEET_PASSWORD": "pw-" + "x" * 12})  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


_USERS: dict[str, str] = {}


def token(s: Stack, name: str, role: str, key: SigningKey | None = None) -> str:
    """A user of `role` (with its approver key registered) and an API token for it, made once."""
    if name not in _USERS:
        extra: list[str] = []
        if key is not None:
            pub = s.root / f"{name}.pub.json"
            pub.write_text(Keyring.of(key.public_key).to_json())
            extra = ["--approver-key", str(pub)]
        cli(s, "user", name, "--role", role, *extra)
        _USERS[name] = cli(s, "token", name)
    return _USERS[name]


async def call(s: Stack, method: str, path: str, tok: str, **kw: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {tok}"}, timeout=aiohttp.ClientTimeout(total=60)
        ) as c,
        c.request(method, f"{s.url}{path}", **kw) as r,
    ):
        body: Any = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


def tls(s: Stack, who: str) -> ssl.SSLContext:
    pki = s.root / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    crt, key = (pki / "controller.crt", pki / "controller.key") if who == "controller" else (
        pki / "agents" / f"{who}.crt", pki / "agents" / f"{who}.key")  # fmt: skip
    ctx.load_cert_chain(crt, key)
    return ctx


def command_of(envelope: bytes) -> pb.Command:
    assert envelope.startswith(WIRE_MAGIC)
    return pb.Command.FromString(pb.Envelope.FromString(envelope[len(WIRE_MAGIC) :]).payload)


async def cameras_of(s: Stack, tok: str, **where: str) -> list[dict[str, Any]]:
    status, body = await call(s, "GET", "/api/v1/cameras", tok, params={**where, "limit": "500"})
    assert status == 200, body
    return list(body["cameras"])


async def targeted(s: Stack, tok: str, body: dict[str, Any]) -> int:
    status, doc = await call(s, "POST", "/api/v1/commands", tok, json=body)
    assert status == 201, doc
    n = 0
    for c in doc["commands"]:
        _, detail = await call(s, "GET", f"/api/v1/commands/{c['command_id']}", tok)
        n += len(detail["executions"])
    return n


# ---- row 1: a typo'd or empty selection is an error, "all" is explicit --------------------------------
def test_row1_selection_is_explicit(stack: Stack) -> None:
    async def go() -> None:
        op = token(stack, "olga", "operator")
        for where, field in (({"sitee": "north"}, "where.sitee"), ({"bogus": "x"}, "where.bogus"),
                             ({"SITE": "north"}, "where.SITE"), ({"site": ""}, "where.site"), ({}, "where")):  # fmt: skip
            status, body = await call(stack, "POST", "/api/v1/commands", op,
                                      json={"where": where, "action": "disable_cloud", "dry_run": True})  # fmt: skip
            assert status == 400 and field in body["error"], (where, body)
            assert any(f["field"].startswith("where") for f in body["fields"]), body
        assert (
            await targeted(
                stack, op, {"where": {"site": "north"}, "action": "disable_cloud", "dry_run": True}
            )
            == 10
        )
        assert (
            await targeted(stack, op, {"where": {"all": True}, "action": "disable_cloud", "dry_run": True})
            == 30
        )
        status, body = await call(stack, "POST", "/api/v1/commands", op,
                                  json={"where": {"all": True, "site": "north"}, "action": "inventory"})  # fmt: skip
        assert status == 400 and "all" in body["error"]
        # A campaign with a decommission stage and a typo'd selection plans nothing at all.
        status, body = await call(stack, "POST", "/api/v1/campaigns", op, json={
            "name": "typo", "where": {"orign": "hikvision"}, "stages": ["decommission"], "expect_cameras": 30})  # fmt: skip
        assert status == 400 and "where.orign" in body["error"], body
        _, listing = await call(stack, "GET", "/api/v1/campaigns", op)
        assert not [c for c in listing["campaigns"] if c["name"] == "typo"]

    asyncio.run(go())


def test_row1_a_destructive_selection_that_grew_is_refused(stack: Stack) -> None:
    async def go() -> None:
        op = token(stack, "olga", "operator")
        east = len(await cameras_of(stack, op, site="east"))
        body = {"name": "grown", "where": {"site": "east"}, "stages": ["decommission"], "preview": "none"}
        status, doc = await call(stack, "POST", "/api/v1/campaigns", op, json=body)
        assert status == 400 and "expect_cameras" in doc["error"]  # no preview, no destructive campaign
        status, doc = await call(
            stack, "POST", "/api/v1/campaigns", op, json={**body, "expect_cameras": east - 1}
        )
        assert status == 409 and "more than the" in doc["error"], doc
        status, doc = await call(
            stack, "POST", "/api/v1/campaigns", op, json={**body, "expect_cameras": east}
        )
        assert status == 201, doc
        await call(
            stack, "POST", f"/api/v1/campaigns/{doc['campaign_id']}/abort", op, json={"reason": "test"}
        )

    asyncio.run(go())


# ---- row 2: "false" is not a boolean; what is signed is what was asked, and approvers see all of it -----
def test_row2_booleans_and_what_gets_signed(stack: Stack) -> None:
    async def go() -> None:
        op = token(stack, "olga", "operator")
        status, body = await call(stack, "POST", "/api/v1/commands", op, json={
            "where": {"site": "north"}, "action": "restrict_network", "dry_run": True,
            "params": {"allow": ["10.9.9.9/32"], "clear_gateway": "false", "clear_dns": "false"}})  # fmt: skip
        assert status == 400, body
        assert {f["field"] for f in body["fields"]} == {"params.clear_gateway", "params.clear_dns"}
        status, body = await call(stack, "POST", "/api/v1/campaigns", op, json={
            "name": "wipe", "where": {"site": "north"}, "expect_cameras": 10,
            "stages": [{"action": "decommission", "params": {"wipe_users": "false"}}]})  # fmt: skip
        assert status == 400 and body["fields"][0]["field"] == "stages.0.params.wipe_users", body
        # Real booleans: the signed envelope the agent receives carries exactly them.
        seen: list[bytes] = []
        async with aiomqtt.Client("127.0.0.1", stack.mqtt_port, tls_context=tls(stack, "controller"),
                                  identifier=f"watch-{uuid.uuid4()}") as c:  # fmt: skip
            await c.subscribe(topics.agent_topic("agent-north", "cmd"), qos=1)
            status, body = await call(stack, "POST", "/api/v1/commands", op, json={
                "where": {"site": "north"}, "action": "restrict_network", "dry_run": True,
                "params": {"allow": ["10.9.9.9/32"], "clear_gateway": False, "clear_dns": False}})  # fmt: skip
            assert status == 201, body
            assert body["commands"][0]["params"]["clear_gateway"] is False
            async with asyncio.timeout(20):
                async for m in c.messages:
                    seen.append(bytes(m.payload) if isinstance(m.payload, bytes | bytearray) else b"")
                    if command_of(seen[-1]).command_id == body["commands"][0]["command_id"]:
                        break
        rn = command_of(seen[-1]).action.restrict_network
        assert list(rn.allow) == ["10.9.9.9/32"] and rn.clear_gateway is False and rn.clear_dns is False
        # The manifest an approver signs, and the approvals page, show the mode and wipe_users.
        status, camp = await call(stack, "POST", "/api/v1/campaigns", op, json={
            "name": "hard reset", "where": {"site": "south"}, "expect_cameras": 10, "preview": "none",
            "stages": [{"action": "decommission", "params": {"mode": "hard", "wipe_users": False}}]})  # fmt: skip
        assert status == 201, camp
        cid = camp["campaign_id"]
        _, m = await call(stack, "GET", f"/api/v1/campaigns/{cid}/batches/b001/manifest", op)
        assert m["describe"]["params"] == {"mode": "hard", "wipe_users": False}
        signed = pb.ApprovalManifest.FromString(base64.b64decode(m["manifest_b64"])).action.decommission
        assert signed.mode == pb.FACTORY_RESET_MODE_HARD and signed.wipe_users is False
        async with dashboard(stack, "127.0.0.1") as d:
            page = await d.get_text("/approvals")
            assert "wipe_users: false" in page and "mode: hard" in page, page
            page = await d.get_text(f"/campaigns/{cid}/batches/b001/approve")
            assert 'data-testid="param-wipe_users"><strong>false' in page and "hard" in page
        await call(stack, "POST", f"/api/v1/campaigns/{cid}/abort", op, json={"reason": "test"})

    asyncio.run(go())


# ---- row 3: one agent's certificate speaks for another agent's camera ---------------------------------------
def test_row3_an_agent_speaks_only_for_its_own_cameras(stack: Stack) -> None:
    async def go() -> None:
        op = token(stack, "olga", "operator")
        victim = (await cameras_of(stack, op, agent="agent-north"))[0]
        _, full = await call(stack, "GET", f"/api/v1/cameras/{victim['camera_id']}", op)
        rec = ParseDict(full["record"], pb.CameraRecord(), ignore_unknown_fields=True)
        rec.site, rec.identity.manufacturer, rec.risk.level = "east", "Hijacked", "low"
        rogue = pb.InventoryReport(agent_id="agent-east", full=False, cameras=[rec], seq=2**40)
        own = (await cameras_of(stack, op, agent="agent-east"))[0]
        _, own_full = await call(stack, "GET", f"/api/v1/cameras/{own['camera_id']}", op)
        own_rec = ParseDict(own_full["record"], pb.CameraRecord(), ignore_unknown_fields=True)
        own_rec.identity.model = "NO-SEQ"
        unsequenced = pb.InventoryReport(agent_id="agent-east", full=False, cameras=[own_rec])  # seq 0
        async with aiomqtt.Client("127.0.0.1", stack.mqtt_port, tls_context=tls(stack, "agent-east"),
                                  identifier=f"rogue-{uuid.uuid4()}") as c:  # fmt: skip
            await c.publish(topics.agent_topic("agent-east", "inventory"), rogue.SerializeToString(), qos=1)
            await c.publish(
                topics.agent_topic("agent-east", "inventory"), unsequenced.SerializeToString(), qos=1
            )

        async def refused() -> bool:
            _, q = await call(stack, "GET", "/api/v1/quarantine", op)
            reasons = [m["reason"] for m in q["messages"] if m["agent_id"] == "agent-east"]
            return any(victim["camera_id"] in r for r in reasons) and any("sequence" in r for r in reasons)

        assert await wait_until(refused, 30)
        _, after = await call(stack, "GET", f"/api/v1/cameras/{victim['camera_id']}", op)
        assert (after["agent_id"], after["site"], after["manufacturer"]) == (
            "agent-north", victim["site"], victim["manufacturer"])  # fmt: skip
        _, own_after = await call(stack, "GET", f"/api/v1/cameras/{own['camera_id']}", op)
        assert own_after["model"] != "NO-SEQ"
        _, alerts = await call(stack, "GET", "/api/v1/alerts", op, params={"open": "true"})
        mine = [
            a
            for a in alerts["alerts"]
            if a["kind"] == "foreign_report" and a["camera_id"] == victim["camera_id"]
        ]
        assert len(mine) == 1 and mine[0]["details"]["agent_id"] == "agent-east", alerts
        _, audit = await call(stack, "GET", "/api/v1/audit", op, params={"limit": "10000"})
        assert any(e["action"] == "agent.foreign_report" and e["subject"] == victim["camera_id"]
                   for e in audit["entries"])  # fmt: skip
        # The next command for the camera still goes to the agent that owns it.
        status, body = await call(stack, "POST", "/api/v1/commands", op, json={
            "where": {"ids": [victim["camera_id"]]}, "action": "inventory", "dry_run": True})  # fmt: skip
        assert status == 201 and [c["agent_id"] for c in body["commands"]] == ["agent-north"]
        # Moving a camera is an admin's explicit, audited act.
        status, _ = await call(stack, "POST", f"/api/v1/cameras/{victim['camera_id']}/owner", op,
                               json={"agent_id": "agent-east", "note": "moved"})  # fmt: skip
        assert status == 403

    asyncio.run(go())


# ---- row 4: spreadsheet formulas in every CSV ----------------------------------------------------------------
FORMULAS = ['=HYPERLINK("http://127.0.0.2:9/x","click")', " =1+1", "@SUM(1,2)", "+1", "-2+3", "\t=1"]


def test_row4_csv_exports_neutralise_formulas(stack: Stack, tmp_path: Path) -> None:
    async def go() -> None:
        from controller.pki import Pki

        Pki(stack.root / "pki").issue_agent("agent-west")  # a new site's agent reports odd model strings
        report = pb.InventoryReport(agent_id="agent-west", full=False, seq=1)
        for i, text in enumerate(FORMULAS):
            rec = report.cameras.add(camera_id=f"west-{i}", host=f"10.7.0.{i + 1}", port=80, site="west")
            rec.identity.model, rec.identity.manufacturer, rec.identity.firmware = text, text, text
        async with aiomqtt.Client("127.0.0.1", stack.mqtt_port, tls_context=tls(stack, "agent-west"),
                                  identifier="agent-west") as c:  # fmt: skip
            await c.publish(topics.agent_topic("agent-west", "inventory"), report.SerializeToString(), qos=1)
        adm = stack.token

        async def arrived() -> bool:
            return len(await cameras_of(stack, adm, site="west")) == len(FORMULAS)

        assert await wait_until(arrived, 30)
        status, text = await call(
            stack, "GET", "/api/v1/export", adm, params={"format": "csv", "site": "west"}
        )
        assert status == 200
        async with dashboard(stack, "127.0.0.1") as d:
            page_csv = await d.get_text("/export/cameras.csv?site=west")
        out = tmp_path / "west.csv"
        res = await asyncio.to_thread(
            subprocess.run, [str(BIN / "fleetctl"), "--url", stack.url, "--token", adm, "export", "--format", "csv",
                              "--site", "west", "--output", str(out)], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        for doc in (text, page_csv, out.read_text()):
            rows = list(csv.DictReader(io.StringIO(doc)))
            assert len(rows) == len(FORMULAS)
            for r in rows:
                for col in ("model", "manufacturer", "firmware"):
                    assert r[col].startswith("'"), (col, r[col])
                    assert r[col][1:] in FORMULAS

    asyncio.run(go())


# ---- row 5: an unknown parameter is an error, not "every feature" --------------------------------------------
def test_row5_unknown_parameters_are_refused(stack: Stack) -> None:
    async def go() -> None:
        op = token(stack, "olga", "operator")
        for params, field, why in (({"featurez": ["p2p"]}, "params.featurez", "unknown key"),
                                   ({"features": ["p2p"]}, "params.features.0", "unknown feature"),
                                   ({"features": "ezviz"}, "params.features", "array")):  # fmt: skip
            status, body = await call(stack, "POST", "/api/v1/commands", op, json={
                "where": {"site": "north"}, "action": "disable_cloud", "dry_run": True, "params": params})  # fmt: skip
            assert (
                status == 400 and body["fields"][0]["field"] == field and why in body["fields"][0]["message"]
            ), body
        status, body = await call(stack, "POST", "/api/v1/commands", op, json={
            "where": {"site": "north"}, "action": "disable_cloud", "dry_run": True, "params": {"features": ["EZVIZ"]}})  # fmt: skip
        assert status == 201 and body["commands"][0]["params"] == {"features": ["ezviz"]}

    asyncio.run(go())


# ---- row 6: physical removal is for admins, in the API as on the dashboard ------------------------------------
def test_row6_removal_needs_an_admin(stack: Stack) -> None:
    async def go() -> None:
        op = token(stack, "olga", "operator")
        cam = (await cameras_of(stack, op))[0]["camera_id"]
        status, body = await call(stack, "POST", f"/api/v1/cameras/{cam}/removed", op, json={"note": "gone"})
        assert status == 403, body
        status, body = await call(
            stack, "POST", f"/api/v1/cameras/{cam}/removed", stack.token, json={"note": "gone"}
        )
        assert status == 409  # the admin passes the role check; the camera is not decommissioned

    asyncio.run(go())


# ---- dashboard helper (a browser's HTTP, from a chosen loopback address) ----------------------------------
class Browser:
    def __init__(self, s: Stack, source: str) -> None:
        self.s = s
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(source, 0)), cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=30),
        )  # fmt: skip

    async def login(self, username: str, password: str, nxt: str = "/") -> aiohttp.ClientResponse:
        async with self.http.get(f"{self.s.url}/login") as r:
            page = await r.text()
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        async with self.http.post(f"{self.s.url}/login", allow_redirects=False,
                                  data={"csrf": csrf, "username": username, "password": password, "next": nxt}) as r:  # fmt: skip
            await r.read()
            return r

    async def get_text(self, path: str) -> str:
        async with self.http.get(f"{self.s.url}{path}") as r:
            assert r.status == 200, (path, r.status)
            return await r.text()


class dashboard:
    def __init__(self, s: Stack, source: str) -> None:
        self.b = Browser(s, source)

    async def __aenter__(self) -> Browser:
        r = await self.b.login("admin", ADMIN_PASSWORD)
        assert r.status == 302, r.status
        return self.b

    async def __aexit__(self, *exc: object) -> None:
        await self.b.http.close()


# ---- row 7: password guessing is slowed per client and per account; the real admin still gets in -------------
def test_row7_login_throttling_never_locks_the_admin_out(stack: Stack) -> None:
    async def go() -> None:
        admin = Browser(stack, "127.0.0.1")
        try:
            assert (await admin.login("admin", ADMIN_PASSWORD)).status == 302  # a browser admin used before
            attacker = Browser(stack, "127.0.0.2")
            statuses = [(await attacker.login("admin", f"guess-{i}")).status for i in range(10)]
            assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
            # The right password from the admin's own browser passes, whatever the attacker did.
            assert (await admin.login("admin", ADMIN_PASSWORD)).status == 302
            await attacker.http.close()
            sprayer = Browser(stack, "127.0.0.3")
            sprayed = [(await sprayer.login(f"user{i}", "Winter2026!")).status for i in range(15)]
            assert sprayed[:5] == [401] * 5 and set(sprayed[5:]) == {429}, sprayed
            await sprayer.http.close()
        finally:
            await admin.http.close()

    asyncio.run(go())


# ---- row 8: live streams are capped; slowloris sockets are cut off ----------------------------------------
def test_row8_stream_caps_and_slowloris(stack: Stack) -> None:
    async def go() -> None:
        # Two dashboard sessions (two browsers): a few streams each, a bounded number in all.
        browsers = [Browser(stack, "127.0.0.7"), Browser(stack, "127.0.0.8")]
        held: list[aiohttp.ClientResponse] = []
        try:
            for b in browsers:
                assert (await b.login("admin", ADMIN_PASSWORD)).status == 302
            answers = []
            for _ in range(SSE_PER_SESSION + 1):
                r = await browsers[0].http.get(f"{stack.url}/events")
                answers.append(r.status)
                held.append(r)
            assert answers == [200] * SSE_PER_SESSION + [429], answers
            answers = []
            for _ in range(SSE_TOTAL - SSE_PER_SESSION + 1):
                r = await browsers[1].http.get(f"{stack.url}/events")
                answers.append(r.status)
                held.append(r)
            assert answers == [200] * (SSE_TOTAL - SSE_PER_SESSION) + [429], answers
        finally:
            for r in held:
                r.close()
            for b in browsers:
                await b.http.close()
        pid = stack.procs["controller"].popen.pid  # type: ignore[union-attr]
        before = len(os.listdir(f"/proc/{pid}/fd"))
        socks = []
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", stack.http_port), timeout=10)
            sock.sendall(b"GET /api/v1/agents HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(sock)
        started = time.monotonic()
        closed = 0
        for sock in socks:  # trickle one byte now and then; the server must hang up anyway
            try:
                while time.monotonic() - started < HEADER_TIMEOUT_S * 10:
                    sock.sendall(b"a")
                    sock.settimeout(0.5)
                    try:
                        if sock.recv(1024) == b"":
                            closed += 1
                            break
                    except TimeoutError:
                        continue
            except (BrokenPipeError, ConnectionResetError):
                closed += 1
            finally:
                sock.close()
        assert closed == len(socks)
        assert time.monotonic() - started < HEADER_TIMEOUT_S * 10
        assert len(os.listdir(f"/proc/{pid}/fd")) <= before + 5

    asyncio.run(go())


# ---- row 9: approvals are checked at the controller against its own pinned keyring ----------------------------
def test_row9_an_approver_key_the_controller_does_not_pin_does_not_count(stack: Stack) -> None:
    from controller.campaigns.approvals import sign_manifest

    async def go() -> None:
        op = token(stack, "olga", "operator")
        ann = token(stack, "ann", "approver", PINNED[0])
        bob = token(stack, "bob", "approver", STRANGER)
        cat = token(stack, "cat", "approver", PINNED[1])
        cam = (await cameras_of(stack, op, site="south"))[0]["camera_id"]
        status, camp = await call(stack, "POST", "/api/v1/campaigns", op, json={
            "name": "pinned", "where": {"ids": [cam]}, "stages": ["decommission"], "expect_cameras": 1,
            "preview": "none"})  # fmt: skip
        assert status == 201, camp
        base = f"/api/v1/campaigns/{camp['campaign_id']}/batches/b001"
        _, m = await call(stack, "GET", base + "/manifest", op)
        for tok, key, want in ((ann, PINNED[0], 201), (bob, STRANGER, 403)):
            sig = sign_manifest(m["manifest_b64"], key, m["digest"])
            status, body = await call(stack, "POST", base + "/approvals", tok, json=sig.body())
            assert status == want, body
        _, st = await call(stack, "GET", f"/api/v1/campaigns/{camp['campaign_id']}", op)
        assert st["batches"][0]["state"] == "AWAITING_APPROVAL"
        assert [a["username"] for a in st["batches"][0]["approval"]["approvers"]] == ["ann"]
        sig = sign_manifest(m["manifest_b64"], PINNED[1], m["digest"])
        status, body = await call(stack, "POST", base + "/approvals", cat, json=sig.body())
        assert status == 201 and body["state"] == "READY", body
        await call(
            stack, "POST", f"/api/v1/campaigns/{camp['campaign_id']}/abort", op, json={"reason": "test"}
        )

    asyncio.run(go())


# ---- row 10: no open redirect after login -------------------------------------------------------------------
def test_row10_login_redirects_only_to_local_paths(stack: Stack) -> None:
    async def go() -> None:
        for nxt in (
            "/\t/127.0.0.2:9/phish",
            "/\n/127.0.0.2:9/x",
            "//127.0.0.2:9/x",
            "/\\127.0.0.2:9",
            "/ /x",
        ):
            b = Browser(stack, "127.0.0.4")
            try:
                r = await b.login("admin", ADMIN_PASSWORD, nxt)
                assert r.status == 302 and r.headers["Location"] == "/", (nxt, r.headers.get("Location"))
            finally:
                await b.http.close()
        b = Browser(stack, "127.0.0.4")
        try:
            r = await b.login("admin", ADMIN_PASSWORD, "/cameras?site=north")
            assert r.headers["Location"] == "/cameras?site=north"
        finally:
            await b.http.close()

    asyncio.run(go())


# ---- row 11: long, deep and huge input is a 400, never a 500; LIKE wildcards are literal ---------------------
def test_row11_no_500_for_long_deep_or_huge_input(stack: Stack) -> None:
    async def go() -> None:
        op = token(stack, "olga", "operator")
        status, body = await call(stack, "POST", "/api/v1/commands", op, json={
            "where": {"q": "x" * 1_000_000}, "action": "inventory", "dry_run": True})  # fmt: skip
        assert status == 400 and "where.q" in body["error"]
        deep = '{"where": ' + "[" * 100_000 + "]" * 100_000 + "}"
        status, body = await call(stack, "POST", "/api/v1/commands", op, data=deep,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
        assert status == 400, body
        for path in (
            "/api/v1/cameras",
            "/api/v1/audit",
            "/api/v1/commands",
            "/api/v1/campaigns",
            "/api/v1/alerts",
        ):
            for params in ({"offset": str(10**21)}, {"limit": str(10**21)}, {"limit": "9" * 5000}):
                status, body = await call(stack, "GET", path, op, params=params)
                assert status == 400, (path, params, body)
        async with dashboard(stack, "127.0.0.5") as d:
            for path in ("/cameras", "/audit", "/commands"):
                await d.get_text(f"{path}?page={10**21}")
                await d.get_text(f"{path}?page={'9' * 5000}")
        for q in ("%", "_", "%%", "\\"):
            status, body = await call(stack, "GET", "/api/v1/cameras", op, params={"q": q})
            assert status == 200 and body["total"] == 0, (q, body["total"])

    asyncio.run(go())


# ---- row 12: databases, keys and state directories are private ----------------------------------------------
def test_row12_state_files_are_private(stack: Stack) -> None:
    state = stack.root / "controller" / "state"
    files = [state / "fleet.db", state / "fleet.db-wal", state / "controller-signing.pem"]
    for site in stack.sites:
        agent_state = stack.root / "agents" / site / "state"
        files += [agent_state / "agent.db", agent_state / "outbox.db"]
        assert stat.S_IMODE(agent_state.stat().st_mode) == 0o700, agent_state
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for f in files:
        if f.exists() or not f.name.endswith("-wal"):
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, (f, oct(f.stat().st_mode))


def test_quarantine_is_on_the_dashboard(stack: Stack) -> None:
    async def go() -> None:
        async with aiomqtt.Client("127.0.0.1", stack.mqtt_port, tls_context=tls(stack, "agent-south"),
                                  identifier=f"junk-{uuid.uuid4()}") as c:  # fmt: skip
            await c.publish(topics.agent_topic("agent-south", "result"), b"\xff\xfe not protobuf", qos=1)

        async def shown() -> bool:
            async with dashboard(stack, "127.0.0.6") as d:
                page = await d.get_text("/agents")
            return "undecodable" in page

        assert await wait_until(shown, 30, step=1.0)
        _, doc = await call(stack, "GET", "/api/v1/quarantine", stack.token)
        assert any(m["agent_id"] == "agent-south" and m["kind"] == "result" for m in doc["messages"])

    asyncio.run(go())


def test_health_and_readiness_tell_the_truth(stack: Stack) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as c:
            async with c.get(f"{stack.url}/healthz") as r:
                assert r.status == 200
            async with c.get(f"{stack.url}/readyz") as r:
                doc = await r.json()
                assert r.status == 200 and doc["broker"] == "connected" and doc["store"] == "writable", doc
                assert doc["leader"] is True and "dispatcher" in doc["tasks"] and "expirer" in doc["tasks"]
            async with c.get(f"{stack.url}/metrics") as r:
                text = await r.text()
        for name in ("camfleet_hub_lag_seconds", "camfleet_hub_backlog_messages", "camfleet_ingest_quarantine ",
                     "camfleet_ingest_quarantined_total", "camfleet_hub_connected 1.0"):  # fmt: skip
            assert name in text, name
        stack.procs["mosquitto"].stop()
        try:

            async def unready() -> bool:
                async with aiohttp.ClientSession() as c, c.get(f"{stack.url}/readyz") as r:
                    return r.status == 503 and "broker" in (await r.json())["problems"]

            assert await wait_until(unready, 30)
        finally:
            stack.start_mosquitto()

        async def ready() -> bool:
            async with aiohttp.ClientSession() as c, c.get(f"{stack.url}/readyz") as r:
                return r.status == 200

        assert await wait_until(ready, 60)

    asyncio.run(go())
