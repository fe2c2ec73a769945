"""restrict_network's allow list at the controller: required unless agent_only is said explicitly, each entry an
exact network, the same refusal from the API, the dashboard forms, fleetctl and campaigns, and what approvers see.
A real controller over loopback HTTP; fleetctl as a subprocess."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientSession

from controller.auth import hash_password
from controller.store.base import UserRow
from protos.camfleet.v1 import camfleet_pb2 as pb
from protos.envelope import WIRE_MAGIC
from tests.browser.test_web_http import PW, login, session
from tests.controller.test_fleetctl import Fleet, fleet  # noqa: F401  (the fixture)

COMMANDS = "/api/v1/commands"
NORTH_DAHUA = {"site": "north", "origin": "dahua"}


async def post(f: Fleet, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with (
        ClientSession(headers={"Authorization": f"Bearer {f.tokens['operator']}"}) as s,
        s.post(f.url + path, json=body) as r,
    ):
        return r.status, await r.json()


def signed(row_envelope: bytes) -> pb.RestrictNetwork:
    assert row_envelope.startswith(WIRE_MAGIC)
    env = pb.Envelope.FromString(row_envelope[len(WIRE_MAGIC) :])
    return pb.Command.FromString(env.payload).action.restrict_network


async def test_the_api_refuses_a_missing_or_inexact_allow_list(fleet: Fleet) -> None:  # noqa: F811
    def cmd(params: dict[str, Any]) -> dict[str, Any]:
        return {"where": NORTH_DAHUA, "action": "restrict_network", "dry_run": True, "params": params}

    for params, field, words in (
        ({}, "params.allow", "agent_only: true"),
        ({"allow": []}, "params.allow", "cuts the recorder off"),
        ({"allow": [], "agent_only": False}, "params.allow", "agent_only: true"),
        ({"allow": ["10.1.2.3/24"]}, "params.allow.0", "host bits set: the network is 10.1.2.0/24"),
        ({"allow": ["10.0.0.5", "0.0.0.0/0"]}, "params.allow.1", "restricts nothing"),
        ({"allow": ["::/0"]}, "params.allow.0", "restricts nothing"),
        (
            {"allow": ["10.0.0.5/32"], "agent_only": True},
            "params.allow",
            "drop the allow list, or agent_only",
        ),
        ({"agent_only": "true"}, "params.agent_only", "boolean"),
    ):
        status, body = await post(fleet, COMMANDS, cmd(params))
        assert status == 400, (params, body)
        assert [f["field"] for f in body["fields"]] == [field], (params, body)
        assert words in body["error"], (params, body)
    assert await fleet.store.list_commands() == []
    # Said explicitly: accepted, stored and signed as asked.
    status, body = await post(fleet, COMMANDS, cmd({"agent_only": True}))
    assert status == 201, body
    row = await fleet.store.get_command(body["commands"][0]["command_id"])
    assert row is not None and row.params["agent_only"] is True and row.params["allow"] == []
    rn = signed(row.envelope)
    assert rn.agent_only is True and list(rn.allow) == []
    status, body = await post(fleet, COMMANDS, cmd({"allow": ["10.1.2.0/24", "10.0.0.5"]}))
    assert status == 201, body
    row = await fleet.store.get_command(body["commands"][0]["command_id"])
    assert row is not None
    rn = signed(row.envelope)
    assert list(rn.allow) == ["10.1.2.0/24", "10.0.0.5/32"] and rn.agent_only is False


async def test_campaigns_refuse_it_and_approvers_see_the_allow_list(fleet: Fleet) -> None:  # noqa: F811
    base = {"name": "fence", "where": NORTH_DAHUA, "preview": "none"}
    status, body = await post(fleet, "/api/v1/campaigns", {**base, "stages": ["restrict_network"]})
    assert status == 400 and [f["field"] for f in body["fields"]] == ["stages.0.params.allow"], body
    assert "agent_only: true" in body["error"]
    status, body = await post(fleet, "/api/v1/campaigns", {
        **base, "stages": [{"action": "restrict_network", "params": {"allow": ["10.9.0.1/16"]}}]})  # fmt: skip
    assert status == 400 and body["fields"][0]["field"] == "stages.0.params.allow.0", body
    status, body = await post(fleet, "/api/v1/campaigns", {
        **base, "stages": [{"action": "restrict_network", "params": {"agent_only": True}}]})  # fmt: skip
    assert status == 201, body
    assert body["spec"]["stages"][0]["params"]["agent_only"] is True
    # A batch that is fenced in and then reset: approvers sign the reset, and are shown the fence too.
    status, body = await post(fleet, "/api/v1/campaigns", {
        **base, "name": "fence and reset", "expect_cameras": 10,
        "stages": [{"action": "restrict_network", "params": {"allow": ["10.7.7.7"], "accept_recording_gap": True}},
                   {"action": "decommission", "params": {"mode": "hard"}}]})  # fmt: skip
    assert status == 201, body
    cid = body["campaign_id"]
    await fleet.store.put_user(UserRow("approver-ann", hash_password(PW), "approver"))
    async with session() as s:
        await login(s, fleet.url, "approver-ann")
        for path in ("/approvals", f"/campaigns/{cid}/batches/b001/approve"):
            async with s.get(fleet.url + path) as r:
                page = await r.text()
            assert r.status == 200, page
            assert 'data-testid="stage-param-allow">allow: 10.7.7.7/32' in page, page
            assert 'data-testid="stage-param-agent_only">agent_only: false' in page
            assert 'data-testid="param-mode">' in page


async def test_the_dashboard_forms_refuse_it_with_the_same_reason(fleet: Fleet) -> None:  # noqa: F811
    await fleet.store.put_user(UserRow("olga", hash_password(PW), "operator"))
    async with session() as s:
        csrf = await login(s, fleet.url, "olga")
        form = {
            "csrf": csrf,
            "action": "restrict_network",
            "site": "north",
            "origin": "dahua",
            "dry_run": "1",
        }
        async with s.post(fleet.url + "/commands", data=form, allow_redirects=False) as r:
            page = await r.text()
        assert r.status == 400 and "params.allow: required" in page and "agent_only: true" in page, page
        async with s.post(
            fleet.url + "/commands", data={**form, "allow": "10.1.2.3/24"}, allow_redirects=False
        ) as r:
            page = await r.text()
        assert r.status == 400 and "host bits set" in page and 'value="10.1.2.3/24"' in page, page
        async with s.post(
            fleet.url + "/commands", data={**form, "agent_only": "1"}, allow_redirects=False
        ) as r:
            assert r.status == 303, await r.text()
        (cmd,) = await fleet.store.list_commands()
        assert cmd.params["agent_only"] is True
        wizard = {"csrf": csrf, "name": "fence", "site": "north", "origin": "dahua", "stages": "restrict_network",
                  "canary": "1", "growth": "2", "max_batch": "10", "success_threshold": "100",
                  "failure_threshold": "50", "min_executed": "1", "gate_action": "pause", "ttl_min": "15",
                  "preview": "none"}  # fmt: skip
        async with s.post(fleet.url + "/campaigns", data=wizard, allow_redirects=False) as r:
            page = await r.text()
        assert r.status == 400 and "stages.0.params.allow: required" in page, page
        async with s.post(
            fleet.url + "/campaigns", data={**wizard, "agent_only": "1"}, allow_redirects=False
        ) as r:
            assert r.status == 303, await r.text()


async def test_fleetctl_shows_the_controllers_reason_and_has_agent_only(fleet: Fleet) -> None:  # noqa: F811
    res = await fleet.run("run", "restrict-network", "--where", "origin=dahua,site=north", "--no-wait")
    assert res.rc == 2 and "HTTP 400" in res.err and "params.allow: required" in res.err, res.err
    assert "--agent-only" in res.err
    res = await fleet.run("campaign", "create", "--where", "origin=dahua,site=north", "--stages", "restrict_network",
                          "--preview", "none")  # fmt: skip
    assert res.rc == 2 and "stages.0.params.allow: required" in res.err, res.err
    assert await fleet.store.list_commands() == [] and await fleet.store.campaign_list() == []
    res = await fleet.run("run", "restrict-network", "--where", "origin=dahua,site=north", "--agent-only",
                          "--no-wait", "--json")  # fmt: skip
    assert res.rc == 0, res.err
    row = await fleet.store.get_command(res.json()["commands"][0]["command_id"])
    assert row is not None and row.params["agent_only"] is True and signed(row.envelope).agent_only
    res = await fleet.run("campaign", "create", "--where", "origin=dahua,site=north", "--stages", "restrict_network",
                          "--agent-only", "--preview", "none", "--json")  # fmt: skip
    assert res.rc == 0, res.err
    (c,) = await fleet.store.campaign_list()
    assert c.spec["stages"][0]["params"]["agent_only"] is True
