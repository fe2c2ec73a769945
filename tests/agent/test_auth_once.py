"""At most one failed login per camera and credential: a refused credential, or one whose answer was lost, is never
presented again to any API of that camera (cameras lock accounts after 5-7 failures, DESIGN §4)."""

from __future__ import annotations

import pytest

from agent.attribution import Observation
from agent.auth_guard import AuthGuard, Withheld
from agent.credentials import Credentials
from agent.errors import AuthFailed, LockedOut, Unreachable
from agent.fleet import CameraFleet, camera_id_of
from agent.http import CameraHttp, HttpPool
from agent.targets import Target
from camsim.model import Camera, User
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.agent.conftest import PASSWORD, make_test_camera
from tests.camsim.conftest import run_sim

pytestmark = pytest.mark.integration

WRONG = Credentials("admin", "not-it")
ACTIONS = (
    pb.Action(disable_cloud=pb.DisableCloud()),
    pb.Action(restrict_network=pb.RestrictNetwork(allow=["127.0.8.1"], keep_protocols=["RTSP"])),
)


def _camera(personality: str, address: str, **faults: float) -> Camera:
    cam = make_test_camera(personality, address=address)
    for key, value in faults.items():
        setattr(cam.faults, key, value)
    return cam


async def _everything(fleet: CameraFleet, cid: str) -> None:
    """What the fuzz schedule does to a camera: inventory, then each action."""
    await fleet.inventory_results([cid])
    for action in ACTIONS:
        await fleet.run_action(cid, action)


@pytest.mark.parametrize(
    ("fault", "modes"),
    [
        ({"lost_login_reply_rate": 1.0}, ["digest"]),  # the refusal's connection dies: Unreachable
        ({"login_reply_delay_ms": 900.0}, ["digest"]),  # the refusal comes after the agent gave up: Timeout
        ({"lost_login_reply_rate": 1.0}, ["wsse"]),  # the credential travels in the body (UsernameToken)
    ],
    ids=["lost-digest", "late-digest", "lost-wsse"],
)
async def test_a_lost_answer_to_a_wrong_password_is_not_a_reason_to_try_again(
    fault: dict[str, float], modes: list[str]
) -> None:
    """The fuzz failure (test_fault_schedules): an Axis camera with a wrong password saw two failed logins. The
    camera judged the first login, but its answer never arrived; the read was retried as a transient failure, and
    the retry carried the same wrong password."""
    cam = _camera("axis", "127.0.13.1", **fault)
    cam.auth.modes = modes  # type: ignore[assignment]
    async with run_sim([cam]):
        cid = camera_id_of(cam.network.address, cam.port)
        async with CameraFleet(
            [Target(cam.network.address, cam.port, WRONG)], timeout=0.4, attempts=3
        ) as fleet:
            await _everything(fleet, cid)
            # The daemon's next round (sessions are rebuilt after every sweep).
            await _everything(fleet, cid)
            assert cam.failed_logins == 1
            [again] = await fleet.inventory_results([cid])
            [err] = again.record.errors
            assert err.error_class == pb.ERROR_CLASS_AUTH and err.message.startswith("not sent:")
            assert cam.failed_logins == 1
            # New credentials are a new question: they go out (and, right, they work).
            cam.faults = type(cam.faults)()
            await fleet.set_credentials(cid, Credentials("admin", PASSWORD))
            [good] = await fleet.inventory_results([cid])
            assert good.status == "ok", good.to_json()["errors"]


async def test_a_lost_answer_from_a_vendor_api_stops_the_credential_there_not_on_onvif() -> None:
    """ONVIF accepts the credential; VAPIX keeps its own accounts (camsim web_users) and refuses it, and that refusal is
    lost on the way back. VAPIX is not asked again (its answer is unknown: it counted), in this round or the next;
    ONVIF, which accepted this very credential, goes on working."""
    cam = _camera("axis", "127.0.13.2", lost_login_reply_rate=1.0, login_fault_path="/axis-cgi/")
    cam.web_users = [User("admin", "web-only", "Administrator")]
    async with run_sim([cam]):
        cid = camera_id_of(cam.network.address, cam.port)
        creds = Credentials("admin", PASSWORD)
        async with CameraFleet(
            [Target(cam.network.address, cam.port, creds)], timeout=0.4, attempts=3
        ) as fleet:
            await _everything(fleet, cid)
            await fleet.forget_vendor_probes(cid)  # a later round probes again (expiry, reboot)
            await _everything(fleet, cid)
            assert cam.failed_logins == 1
            [later] = await fleet.inventory_results([cid])
            assert cam.failed_logins == 1
            assert later.record.identity.serial == cam.identity.serial and later.status == "partial"
            axis = later.to_json()["vendor_apis"]["axis"]
            assert axis["credentials_sent"] is False and axis["reason"].startswith("not sent:"), axis


async def test_any_http_client_withholds_a_credential_whose_answer_was_lost(http_pool: HttpPool) -> None:
    """The rule at the HTTP client's own API (exchange/request), whatever client implements it: after a credential
    went out and no answer came back, the next authenticated request sends nothing at all."""
    cam = _camera("hikvision", "127.0.13.3", lost_login_reply_rate=1.0)
    async with run_sim([cam]) as server:
        http = CameraHttp(cam.network.address, cam.port, WRONG, pool=http_pool, timeout=0.5, attempts=3)
        with pytest.raises(AuthFailed) as exc:
            await http.request("GET", "/ISAPI/System/deviceInfo")
        assert cam.failed_logins == 1 and "not sent" in exc.value.message
        before = server.requests
        for path in ("/ISAPI/System/deviceInfo", "/onvif/device_service", "/cgi-bin/magicBox.cgi"):
            with pytest.raises(AuthFailed):
                await http.exchange("GET", path)
        assert server.requests == before, "a withheld credential must not even open a request"
        # Unauthenticated requests (pre-auth calls, probes) still go: they carry no credential.
        assert (await http.exchange("GET", "/ISAPI/System/deviceInfo", authenticate=False)).status == 401
        await http.close()


def test_the_guard_holds_a_credential_back_until_it_changes() -> None:
    right, wrong = Credentials("admin", PASSWORD), Credentials("admin", "not-it")
    guard = AuthGuard(wrong)
    guard.admit("onvif")  # nothing known yet: it may go
    guard.lose("isapi", Unreachable("no reply within 0.4s"))
    for space in ("onvif", "isapi", "axis-cgi"):
        with pytest.raises(Withheld, match="never came"):
            guard.admit(space)
    guard.refuse("isapi", AuthFailed("credentials rejected (HTTP 401, digest sent)"))
    with pytest.raises(Withheld, match=r"not sent: refused on \d{4}-\d\d-\d\d .* by isapi"):
        guard.admit("onvif")
    guard.refuse("onvif", Withheld("not sent"))  # our own refusal to send reached no camera: nothing changes
    assert guard.block is not None and guard.block.space == "isapi"
    guard.bind(wrong)
    assert guard.block is not None  # the same credential: still held back
    guard.bind(right)
    assert guard.block is None
    guard.admit("isapi")


def test_a_credential_an_api_accepted_keeps_going_there() -> None:
    """An API that accepted this very credential cannot make a failed login of it; a lost answer there is a network
    fault (commit-confirm must still write a cleared gateway back). A refusal there takes the acceptance away."""
    guard = AuthGuard(Credentials("admin", PASSWORD))
    guard.accept("onvif")
    guard.lose("onvif", Unreachable("connection closed before the answer"))
    assert guard.block is None
    guard.refuse("axis-cgi", AuthFailed("VAPIX has its own accounts"))
    guard.admit("onvif")
    with pytest.raises(Withheld):
        guard.admit("axis-cgi")
    guard.refuse("onvif", LockedOut("camera reports this client/account locked"))
    with pytest.raises(LockedOut):
        guard.admit("onvif")


async def test_a_vendor_api_refusal_keeps_the_credential_from_onvif_until_it_changes() -> None:
    """One memory for every API of the camera (agent.auth_guard): VAPIX refuses the credential before ONVIF ever
    accepted it, so ONVIF is not sent it either, in the next round too, and the same credential given again changes
    nothing. A different one lifts the memory for ONVIF and for VAPIX alike."""
    cam = _camera("axis", "127.0.13.4")
    cam.web_users = [User("admin", "web-only", "Administrator")]  # VAPIX keeps its own accounts
    async with run_sim([cam]):
        cid = camera_id_of(cam.network.address, cam.port)
        creds = Credentials("admin", PASSWORD)
        async with CameraFleet([Target(cam.network.address, cam.port, creds)], timeout=2.0) as fleet:
            # An action's first request goes to VAPIX (the maker known from an earlier read, no ONVIF call yet).
            c = fleet.conn(cid)
            c.evidence = Observation(
                onvif_manufacturer=cam.identity.manufacturer, onvif_model=cam.identity.model
            )
            probes = await c.vendor_probes()
            assert probes.apis["axis"].status == "refused" and probes.apis["axis"].credentials_sent
            assert cam.failed_logins == 1
            await fleet.release(cid)
            for again in (False, True):
                if again:
                    await fleet.set_credentials(cid, Credentials("admin", PASSWORD))  # the same: no change
                [r] = await fleet.inventory_results([cid])
                assert r.status == "failed" and cam.failed_logins == 1
                [err] = r.record.errors
                assert err.error_class == pb.ERROR_CLASS_AUTH
                assert err.message.startswith("not sent: refused on ") and "by axis-cgi" in err.message
            # New credentials, right for both APIs: ONVIF and VAPIX are asked again, and answer.
            cam.users = cam.web_users = [User("admin", "new-" + PASSWORD, "Administrator")]
            await fleet.set_credentials(cid, Credentials("admin", "new-" + PASSWORD))
            [good] = await fleet.inventory_results([cid])
            assert good.status == "ok", good.to_json()["errors"]
            assert good.to_json()["vendor_apis"]["axis"]["status"] == "present"
            assert cam.failed_logins == 1


def test_an_api_that_turned_the_credential_away_without_a_failed_login_stops_only_itself() -> None:
    """What the guard remembers per API besides its block: a 403 (the account lacks the privilege) is no failed
    login, so that API alone is not asked again; once the credential is refused somewhere, the guard's own words
    say why it is not sent; only a different credential lifts both."""
    right, wrong = Credentials("admin", PASSWORD), Credentials("admin", "not-it")
    guard = AuthGuard(wrong)
    assert guard.denial("isapi") is None
    guard.deny("isapi", AuthFailed("HTTP 403: the account lacks the privilege", operation="hikvision API"))
    guard.deny("isapi", AuthFailed("a later one"))  # the first stays
    denied = guard.denial("isapi")
    assert denied is not None and not isinstance(denied, Withheld) and "privilege" in denied.message
    guard.admit("onvif")  # not a failed login: the other APIs still get the credential
    assert guard.denial("onvif") is None
    guard.refuse("onvif", AuthFailed("credentials rejected (HTTP 401, digest sent)"))
    guard.deny("onvif", AuthFailed("credentials rejected (HTTP 401, digest sent)"))
    for space in ("onvif", "isapi"):
        held = guard.denial(space, operation="GetDeviceInformation")
        assert isinstance(held, Withheld) and held.message.startswith("not sent: refused on ")
        assert held.operation == "GetDeviceInformation"
    # axis-cgi never asked for it: a probe may still find the API (and be withheld then).
    assert guard.denial("axis-cgi") is None
    guard.bind(wrong)
    assert guard.denial("isapi") is not None and guard.denial("onvif") is not None
    guard.bind(right)
    assert guard.denial("isapi") is None and guard.denial("onvif") is None and guard.block is None
