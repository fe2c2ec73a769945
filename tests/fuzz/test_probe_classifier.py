"""Hypothesis on the vendor-probe classifier: any status, header and body ends in present, absent, a challenge
or a classified error; a refusal is never read where no credential went (agent/vendor_probe.py)."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from agent.attribution import Observation
from agent.credentials import Credentials
from agent.drivers import DRIVERS, VendorDriver
from agent.errors import AuthFailed, CameraError, LockedOut, Unreachable
from agent.http import CameraHttp, HttpPool, HttpReply
from agent.vendor_probe import Classified, classify, probe_api
from tests.fixtures import SHARED_FIXTURES, require
from tests.fuzz.soap_replies import Plan, ReplayCamera, Reply, replay_camera

FUZZ = settings(
    max_examples=int(os.environ.get("CAMFLEET_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
SCHEMES = ("Digest", "Basic", "Bearer", "Negotiate", "NTLM", "digest", "")
#: Bodies in each API's own shape, plus the shapes foreign servers answer with.
SHAPED = (
    b"deviceType=IPC-HDW5831R-ZE\r\nserialNumber=4X7C5A1ZAG21L3F\r\n",
    b"root.Brand.Brand=AXIS\nroot.Brand.ProdNbr=M1065-LW\n",
    b'<?xml version="1.0"?><DeviceInfo xmlns="http://www.hikvision.com/ver20/XMLSchema"><model>DS-2CD</model>'
    b"</DeviceInfo>",
    b"<!DOCTYPE html><html><body>login</body></html>",
    b"<html><head><title>403 Forbidden</title></head></html>",
    b'<?xml version="1.0"?><userCheck><statusValue>401</statusValue><lockStatus>lock</lockStatus>'
    b"<unlockTime>1800</unlockTime></userCheck>",
    b"Error\r\nToo many connections\r\n",
    b"Error\r\nBad Request!\r\n",
    b"# Error: Error -1 getting param in group 'Brand'\n",
    b'{"success": false, "error": "Unauthorized"}',
    b"",
)


def _bodies() -> st.SearchStrategy[bytes]:
    recorded = st.sampled_from(sorted(p.read_bytes() for p in require(SHARED_FIXTURES).glob("*.xml")))
    return st.one_of(st.sampled_from(SHAPED), st.binary(max_size=300), recorded)


@st.composite
def challenges(draw: st.DrawFn) -> list[tuple[str, str]]:
    out = []
    for scheme in draw(st.lists(st.sampled_from(SCHEMES), max_size=3)):
        realm = draw(st.text(max_size=20).filter(lambda t: '"' not in t))
        params = draw(
            st.sampled_from(["", f' realm="{realm}"', f' realm="{realm}", nonce="abc", qop="auth"'])
        )
        out.append(("WWW-Authenticate", (scheme + params).strip()))
    if draw(st.booleans()):
        out.append(
            ("Server", draw(st.sampled_from(["App-webs/", "DNVRS-Webs", "lighttpd/1.4.59", "gSOAP/2.7"])))
        )
    return out


statuses = st.one_of(st.sampled_from([200, 204, 301, 302, 400, 401, 403, 404, 405, 500, 501, 502, 503]),
                     st.integers(100, 599))  # fmt: skip
drivers = st.sampled_from(sorted(DRIVERS.values(), key=lambda d: d.name))


def _reply(status: int, headers: list[tuple[str, str]], body: bytes, sent: str = "") -> HttpReply:
    return HttpReply(status, CIMultiDictProxy(CIMultiDict(headers)), body, "http://127.0.0.1/", sent)


@given(driver=drivers, status=statuses, headers=challenges(), body=_bodies(), credentials_sent=st.booleans())
@example(driver=DRIVERS["dahua"], status=403, headers=[], body=b"", credentials_sent=True)
@example(driver=DRIVERS["axis"], status=401, headers=[("WWW-Authenticate", 'Basic realm="IPyCam"')], body=b"",
         credentials_sent=False)  # fmt: skip
@example(driver=DRIVERS["hikvision"], status=200, headers=[], body=b"<html>", credentials_sent=True)
@FUZZ
def test_every_reply_is_present_absent_challenge_or_a_classified_error(
    driver: VendorDriver, status: int, headers: list[tuple[str, str]], body: bytes, credentials_sent: bool
) -> None:
    reply = _reply(status, headers, body, "digest" if credentials_sent else "")
    try:
        got = classify(driver, status, reply.headers, body, credentials_sent=credentials_sent,
                       schemes=tuple(reply.schemes()))  # fmt: skip
    except (AuthFailed, Unreachable) as exc:  # LockedOut is an AuthFailed
        assert exc.message and exc.error_class in ("auth", "locked_out", "unreachable")
        if isinstance(exc, AuthFailed) and not isinstance(exc, LockedOut):
            # A refusal is read only where a credential went, and only from a 401.
            assert credentials_sent and status == 401
            assert "digest sent" in exc.message
        return
    assert isinstance(got, Classified) and got.reason
    assert got.verdict in ("present", "absent", "challenge")
    if got.verdict == "present":
        assert 200 <= status < 300 and driver.recognises(body)
    if got.verdict == "challenge":
        assert status == 401 and not credentials_sent and "digest" in reply.schemes()
    if status in (403, 404, 405) and b"lock" not in body.lower():
        assert got.verdict == "absent"  # "not here": evidence, never a failed login


@given(driver=drivers, status=statuses, headers=challenges(), body=_bodies())
@FUZZ
def test_nothing_sent_is_never_a_failed_login(
    driver: VendorDriver, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    reply = _reply(status, headers, body)
    try:
        classify(driver, status, reply.headers, body, credentials_sent=False, schemes=tuple(reply.schemes()))
    except AuthFailed as exc:
        assert isinstance(exc, LockedOut), exc  # a lock body is news; a refusal of nothing is not
    except Unreachable:
        pass


# ---- the same over a real socket: probe_api never raises anything but LockedOut -----------------------------
@pytest.fixture(scope="module")
def camera() -> object:
    with replay_camera() as cam:
        yield cam


@pytest.mark.integration
@given(driver=drivers, status=statuses, headers=challenges(), body=_bodies(),
       mode=st.sampled_from(["full", "full", "full", "truncated", "reset"]))  # fmt: skip
@settings(FUZZ, max_examples=min(FUZZ.max_examples, 120))
def test_probe_over_http_ends_in_an_api_status(
    camera: ReplayCamera, driver: VendorDriver, status: int, headers: list[tuple[str, str]], body: bytes,
    mode: str,
) -> None:  # fmt: skip
    camera.plan = Plan(Reply(status, body, tuple(headers), mode))
    # Evidence that points at this driver's maker, so the credentialed leg can happen too.
    brand = {"hikvision": "HIKVISION", "dahua": "Dahua", "axis": "AXIS"}[driver.name]

    async def run() -> object:
        pool = HttpPool(concurrency=2)
        http = CameraHttp(
            "127.0.0.1", camera.port, Credentials("admin", "pw"), timeout=2.0, attempts=1, pool=pool
        )
        try:
            return await probe_api(http, driver, Observation(onvif_manufacturer=brand), None)
        except LockedOut as exc:
            return exc
        finally:
            await http.close()
            await pool.close()

    got = asyncio.run(asyncio.wait_for(run(), timeout=30))
    if isinstance(got, CameraError):
        assert isinstance(got, LockedOut)
        return
    assert got.status in ("present", "absent", "refused", "unavailable", "not_probed"), got
    assert got.reason
    if got.status == "refused":
        assert got.credentials_sent
