"""The agent against cameras it has never met (camsim's foreign profiles): evidence-driven vendor probing,
no credential where the evidence does not point, and inventories that end in the right outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from agent.actions.conn import CameraConn
from agent.credentials import Credentials
from agent.errors import CameraError, Unsupported
from agent.fleet import CameraFleet, camera_id_of
from agent.http import HttpPool
from agent.inventory import Inventory, InventoryResult
from agent.onvif_session import OnvifSession
from agent.targets import Target
from camsim import catalog
from camsim.fleet import make_camera
from camsim.model import Camera, User
from camsim.server import SimServer
from tests.agent.conftest import make_test_camera
from tests.camsim.conftest import find_free_port, run_sim
from tests.fuzz.soap_replies import Plan, Reply, replay_camera

pytestmark = pytest.mark.integration

PROFILES = {m.profile: m.name for m in catalog.FOREIGN_MODELS}


def foreign(profile: str, address: str, port: int, index: int = 0) -> Camera:
    return make_camera(index, "foreign", 12, address, port=port, model_name=PROFILES[profile])


@dataclass
class World:
    server: SimServer
    fleet: CameraFleet
    cams: dict[str, Camera]  # camera_id -> camsim camera (ground truth, never read by the agent)

    def by_profile(self, profile: str) -> str:
        return next(cid for cid, c in self.cams.items() if c.web == catalog.FOREIGN[profile].web
                    and c.identity.model == PROFILES[profile])  # fmt: skip

    def traffic(self, cid: str, key: str) -> int:
        return self.server.traffic.get(self.cams[cid].id, {}).get(key, 0)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    port = find_free_port()
    cams = [foreign(p, f"127.0.72.{i + 1}", port, i) for i, p in enumerate(sorted(PROFILES))]
    # Camsim's own personalities alongside: they must not get credentials on each other's paths either.
    for i, p in enumerate(("hikvision", "dahua", "axis", "generic")):
        cams.append(make_test_camera(p, address=f"127.0.72.{20 + i}", port=port))
    async with run_sim(cams) as server:
        targets = [Target(c.network.address, c.port, Credentials(c.users[0].username, c.users[0].password))
                   for c in cams]  # fmt: skip
        fleet = CameraFleet(targets, timeout=3.0)
        try:
            yield World(server, fleet, {camera_id_of(c.network.address, c.port): c for c in cams})
        finally:
            await fleet.close()


def by_id(results: list[InventoryResult]) -> dict[str, InventoryResult]:
    return {r.record.camera_id: r for r in results}


async def test_every_foreign_server_inventories_ok_and_gets_no_foreign_credential(world: World) -> None:
    results = by_id(await world.fleet.inventory_results())
    for cid, cam in world.cams.items():
        r = results[cid]
        assert r.status == "ok", (cam.identity.model, r.to_json()["errors"])
        assert r.record.identity.model == cam.identity.model
        assert r.record.identity.serial == cam.identity.serial
        # Credentials went nowhere the evidence did not point (camsim counts Authorization on foreign paths).
        assert world.traffic(cid, "credentials_to_foreign_path") == 0, cam.identity.model
        assert cam.failed_logins == 0, cam.identity.model
    # What each probe found is kept as evidence, saying what was (not) sent.
    apis = {cid: results[cid].to_json()["vendor_apis"] for cid in world.cams}
    cgi = apis[world.by_profile("cgi_forbidden")]
    assert cgi["dahua"] == {"status": "absent", "reason": "HTTP 403", "credentials_sent": False}
    assert cgi["axis"]["reason"] == "HTTP 403"
    assert {a["reason"] for a in apis[world.by_profile("basic_only")].values()} == {
        "server offered Basic only; nothing sent"
    }
    assert "no usable answer" in apis[world.by_profile("soap11")]["axis"]["reason"]
    assert {a["reason"] for a in apis[world.by_profile("minimal")].values()} == {"HTTP 405"}
    for cid, cam in world.cams.items():
        if cam.identity.personality != "generic":
            assert apis[cid][cam.identity.personality]["status"] == "present"
            assert apis[cid][cam.identity.personality]["credentials_sent"] is True


async def test_minimal_device_ntp_is_read_although_its_count_says_zero(world: World) -> None:
    cid = world.by_profile("minimal")
    r = (await world.fleet.inventory_results([cid]))[0]
    assert world.cams[cid].ntp_count == 0
    assert list(r.record.network.ntp) == world.cams[cid].network.ntp  # an outside server, not "no NTP"
    assert r.to_json()["network"]["ntp"] == world.cams[cid].network.ntp
    assert "NTP" not in r.to_json()["capabilities"] or r.to_json()["capabilities"]["NTP"] is True


async def test_soap11_replies_are_read(world: World) -> None:
    cid = world.by_profile("soap11")
    r = (await world.fleet.inventory_results([cid]))[0]
    cam = world.cams[cid]
    assert r.status == "ok"
    assert list(r.record.network.gateways) == cam.network.gateway
    assert r.record.network.ip_filter.type == "Allow"
    # Its optional operations fault in SOAP 1.1 too, and those faults are still "unsupported".
    assert r.to_json()["capabilities"].get("DynDNS") is False


def test_a_field_that_cannot_be_read_is_unknown_not_empty() -> None:
    """GetNTP answered with garbage: the NTP servers are unknown (null, listed in network.unknown), not []."""
    with replay_camera() as cam:
        cam.plan = Plan(Reply(200, b"not xml at all", (("Content-Type", "text/xml"),)), target="GetNTP")

        async def run() -> InventoryResult:
            pool = HttpPool(concurrency=2)
            try:
                async with OnvifSession("127.0.0.1", cam.port, Credentials("admin", "x"), timeout=2.0,
                                        attempts=1, pool=pool) as s:  # fmt: skip
                    conn = CameraConn("replay", "127.0.0.1", cam.port, s)
                    return await Inventory(conn, vendor_apis=False).run()
            finally:
                await pool.close()

        r = asyncio.run(run())
    assert "GetNTP" in cam.plan.seen
    # (Some recorded replies of that server are broken too, so other fields may be unknown as well.)
    assert "ntp" in r.record.network.unknown
    assert r.to_json()["network"]["ntp"] is None
    assert {e["operation"] for e in r.to_json()["errors"]} >= {"GetNTP"}
    assert r.status == "partial"


async def test_vendor_api_refusing_the_onvif_account_fails_only_that_api(world: World) -> None:
    """Hikvision keeps ONVIF users apart from web users: ISAPI refuses the ONVIF account. That is one failed
    login on ISAPI, never repeated, and the camera's ONVIF data stays good (partial, not failed)."""
    cid = next(cid for cid, c in world.cams.items() if c.identity.personality == "hikvision")
    cam = world.cams[cid]
    cam.web_users = [User("admin", "another-web-password", "Administrator")]
    first = (await world.fleet.inventory_results([cid]))[0]
    assert first.status == "partial"
    assert first.record.identity.model == cam.identity.model and first.record.network.dns
    errs = first.to_json()["errors"]
    assert [e["error_class"] for e in errs] == ["auth"] and errs[0]["operation"] == "hikvision API"
    assert "digest sent" in errs[0]["message"]
    assert cam.failed_logins == 1
    assert "our credentials were refused" not in " ".join(first.record.risk.reasons)
    second = (await world.fleet.inventory_results([cid]))[0]
    assert cam.failed_logins == 1  # not sent again
    assert second.status == "partial"
    assert second.to_json()["vendor_apis"]["hikvision"]["status"] == "refused"
    # The operator gives the agent the web account: new credentials lift the memory, ISAPI answers.
    cam.users = list(cam.web_users)
    await world.fleet.set_credentials(cid, Credentials("admin", "another-web-password"))
    third = (await world.fleet.inventory_results([cid]))[0]
    assert third.status == "ok" and "hikvision" in {k.split(".")[0] for k in third.vendor_settings}


async def test_wrong_password_is_one_rejected_login_and_failed(world: World) -> None:
    cid = world.by_profile("basic_only")
    cam = world.cams[cid]
    await world.fleet.set_credentials(cid, Credentials("admin", "wrong-password"))
    r = (await world.fleet.inventory_results([cid]))[0]
    assert r.status == "failed"
    errs = r.to_json()["errors"]
    assert errs[0]["error_class"] == "auth" and "WS-UsernameToken rejected" in errs[0]["message"]
    assert cam.failed_logins == 1
    r = (await world.fleet.inventory_results([cid]))[0]
    assert cam.failed_logins == 1  # remembered: the camera is not asked again
    assert r.to_json()["errors"][0]["message"].startswith("not sent: refused on ")


async def test_plan_apply_verify_rollback_on_every_foreign_profile(world: World) -> None:
    """Each foreign server: the plan reads everything (an unsupported operation is an answer), apply changes
    what the device allows and says what stays exposed, verify reads it back, rollback restores it all."""
    from protos.camfleet.v1 import camfleet_pb2 as pb

    cloud = pb.Action(disable_cloud=pb.DisableCloud())
    net = pb.Action(
        restrict_network=pb.RestrictNetwork(allow=["127.0.8.10/32"], clear_gateway=True, clear_dns=True)
    )
    expected = {"cgi_forbidden": "not_reachable", "basic_only": "not_reachable", "minimal": "not_reachable",
                "soap11": "reached"}  # fmt: skip
    for profile, goal in expected.items():
        cid = world.by_profile(profile)
        cam = world.cams[cid]
        prior = cam._config_dict()
        plan = await world.fleet.run_action(cid, net, dry_run=True)
        assert plan.status == "ok" and not cam.writes, (profile, plan.to_json())
        assert plan.goal is not None and plan.goal.state.value == goal, profile
        snapshots: dict[str, object] = {}
        for action in (cloud, net):
            rep = await world.fleet.run_action(cid, action)
            assert rep.error is None and rep.completed, (profile, rep.to_json())
            assert rep.result is not None
            for k, v in rep.result.snapshot.items():
                snapshots.setdefault(k, v)  # the first prior value of each setting
        assert rep.goal is not None and rep.goal.state.value == goal, (profile, rep.to_json())
        # verify read back what it reported changed; the camera holds it.
        assert cam.network.gateway == [] and cam.network.dns == []
        if goal == "reached":
            assert ("127.0.8.10", 32) in cam.network.ip_filter.ipv4
        assert world.traffic(cid, "credentials_to_foreign_path") == 0
        back = await world.fleet.run_action(cid, pb.Action(rollback=pb.Rollback()), snapshot=snapshots)
        assert back.ok, (profile, back.to_json())
        assert cam._config_dict() == prior, profile


_EMPTY12 = b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
_EMPTY11 = b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'
_FAULT11 = (
    b'<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"'
    b' xmlns:ter="http://www.onvif.org/ver10/error"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Server'
    b"</faultcode><faultstring>Optional Action Not Implemented</faultstring><detail><ter:ActionNotSupported/>"
    b"</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)


@pytest.mark.parametrize(
    ("body", "done"),
    [(_EMPTY12, True), (_EMPTY11, True), (b"", True), (_FAULT11, False)],
    ids=["soap12-empty-body", "soap11-empty-body", "no-content", "soap11-fault"],
)
def test_empty_but_valid_write_replies_are_done_and_soap11_faults_classified(body: bytes, done: bool) -> None:
    """A write answered 200 with an empty Body (1.2 or 1.1) or nothing at all is done (verify reads it back);
    a SOAP 1.1 fault carrying ter:ActionNotSupported in <detail> is still 'unsupported'."""
    status = 200 if done else 500
    with replay_camera() as cam:
        cam.plan = Plan(Reply(status, body, (("Content-Type", "text/xml"),)), target="SetDNS")

        async def run() -> object:
            pool = HttpPool(concurrency=2)
            try:
                async with OnvifSession("127.0.0.1", cam.port, Credentials("admin", "x"), timeout=2.0, attempts=1,
                                        pool=pool) as s:  # fmt: skip
                    try:
                        return await s.call(
                            "SetDNS", optional=True, idempotent=False, FromDHCP=False, DNSManual=[]
                        )
                    except CameraError as exc:
                        return exc
            finally:
                await pool.close()

        got = asyncio.run(run())
    assert "SetDNS" in cam.plan.seen
    if done:
        assert got is None
    else:
        assert isinstance(got, Unsupported) and "ActionNotSupported" in got.message
