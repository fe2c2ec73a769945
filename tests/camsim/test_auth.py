"""camsim authentication: HTTP Digest (MD5/SHA-256, stale nonces) and WS-Security UsernameToken, lockout, skew."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import zeep.exceptions
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from camsim import auth
from tests.camsim.conftest import run_sim
from tests.camsim.onvif_helpers import (
    PASSWORD,
    call,
    camera,
    device,
    envelope,
    fault_code,
    fault_of,
    post,
    subcodes,
    wsse_header,
)

pytestmark = pytest.mark.integration

GET_INFO = "<tds:GetDeviceInformation/>"


def digest_authorization(
    challenge: str, user: str, password: str, uri: str, *, algorithm: str = "MD5"
) -> str:
    """A client-side RFC 7616 response (qop=auth) to one WWW-Authenticate challenge."""
    params = auth.parse_digest_header(challenge)
    assert params is not None
    h = hashlib.sha256 if algorithm == "SHA-256" else hashlib.md5

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    cnonce, nc = os.urandom(8).hex(), "00000001"
    ha1 = hx(f"{user}:{params['realm']}:{password}")
    ha2 = hx(f"POST:{uri}")
    resp = hx(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", uri="{uri}", '
        f'algorithm={algorithm}, response="{resp}", qop=auth, nc={nc}, cnonce="{cnonce}"'
    )


def failures(cam: object) -> int:
    return sum(getattr(cam, "auth_failures").values())  # noqa: B009 - tiny helper keeps asserts short


# ---- WS-Security through onvif-zeep-async --------------------------------------------------------------
async def test_wsse_success_and_wrong_password() -> None:
    cam = camera("hikvision")
    async with run_sim([cam]):
        async with device(cam) as dm:
            assert (await call(dm, "GetDeviceInformation")).SerialNumber == cam.identity.serial
        async with device(cam, password="wrong-one") as dm:
            with pytest.raises(zeep.exceptions.Fault) as err:
                await call(dm, "GetDeviceInformation")
            assert fault_code(err.value) == "Sender" and subcodes(err.value) == ["NotAuthorized"]
    assert failures(cam) == 1


async def test_wsse_lockout_after_threshold_refuses_even_the_right_password() -> None:
    cam = camera("dahua")
    cam.auth.lockout_threshold = 5
    async with run_sim([cam]):
        async with device(cam, password="nope") as bad:
            for _ in range(cam.auth.lockout_threshold):
                with pytest.raises(zeep.exceptions.Fault):
                    await call(bad, "GetDeviceInformation")
        (ip,) = cam.auth_failures
        assert cam.is_locked(ip)
        async with device(cam) as good:
            with pytest.raises(zeep.exceptions.Fault) as err:
                await call(good, "GetUsers")
            assert subcodes(err.value) == ["NotAuthorized"]
        # Locked clients are refused without their credentials being checked or counted.
        assert cam.auth_failures[ip] == cam.auth.lockout_threshold


async def test_success_resets_the_failure_count() -> None:
    cam = camera("hikvision")
    async with run_sim([cam]):
        async with device(cam, password="nope") as bad:
            for _ in range(cam.auth.lockout_threshold - 1):
                with pytest.raises(zeep.exceptions.Fault):
                    await call(bad, "GetDeviceInformation")
        async with device(cam) as good:
            await call(good, "GetDeviceInformation")
    assert failures(cam) == 0 and not cam.locked_until


@pytest.mark.parametrize("skew", [3600.0, -3600.0])
async def test_skewed_camera_clock_needs_adjust_time(skew: float) -> None:
    cam = camera("hikvision", clock_skew_s=skew)
    async with run_sim([cam]):
        async with device(cam) as dm:  # update_xaddrs works: GetServices is PRE_AUTH
            with pytest.raises(zeep.exceptions.Fault) as err:
                await call(dm, "GetDeviceInformation")
            assert subcodes(err.value) == ["NotAuthorized"]
        async with device(cam, adjust_time=True) as dm:
            assert (await call(dm, "GetDeviceInformation")).Model == cam.identity.model
    assert failures(cam) == 0  # a stale timestamp is not a wrong password


async def test_wsse_nonce_replay_and_missing_nonce_rejected() -> None:
    cam = camera("axis")
    nonce = os.urandom(16)
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        req = envelope(GET_INFO, wsse_header("admin", PASSWORD, nonce=nonce))
        status, _, _ = await post(s, cam, req)
        assert status == 200
        status, body, _ = await post(s, cam, req)
        assert status == 400 and fault_of(body) == ("Sender", ["NotAuthorized"])
        no_nonce = (
            wsse_header("admin", PASSWORD)
            .replace("<wsse:Nonce", "<wsse:Ignored")
            .replace("</wsse:Nonce>", "</wsse:Ignored>")
        )
        status, body, _ = await post(s, cam, envelope(GET_INFO, no_nonce))
        assert status == 400 and fault_of(body) == ("Sender", ["NotAuthorized"])
        old = datetime.now(UTC) - timedelta(seconds=cam.auth.freshness_s + 30)
        status, body, _ = await post(s, cam, envelope(GET_INFO, wsse_header("admin", PASSWORD, created=old)))
        assert status == 400 and fault_of(body) == ("Sender", ["NotAuthorized"])
    assert failures(cam) == 0


async def test_freshness_is_measured_against_the_camera_clock() -> None:
    cam = camera("generic", clock_skew_s=-1800.0)
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        cam_now = datetime.now(UTC) - timedelta(seconds=1800)
        status, _, _ = await post(s, cam, envelope(GET_INFO, wsse_header("admin", PASSWORD, created=cam_now)))
        assert status == 200
        status, _, _ = await post(s, cam, envelope(GET_INFO, wsse_header("admin", PASSWORD)))
        assert status == 400


# ---- HTTP Digest ---------------------------------------------------------------------------------------
async def test_digest_success_with_aiohttp_middleware() -> None:
    cam = camera("hikvision")
    cam.auth.modes = ["digest"]
    mw = aiohttp.DigestAuthMiddleware("admin", PASSWORD)
    async with run_sim([cam]), aiohttp.ClientSession(middlewares=(mw,)) as s:
        for _ in range(3):  # preemptive reuse of the server nonce works too
            status, body, _ = await post(s, cam, envelope(GET_INFO))
            assert status == 200 and cam.identity.serial.encode() in body
    assert failures(cam) == 0


async def test_digest_challenge_offers_md5_and_sha256_and_both_verify() -> None:
    cam = camera("dahua")
    uri = "/onvif/device_service"
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, _, r = await post(s, cam, envelope(GET_INFO))
        assert status == 401
        challenges = r.headers.getall("WWW-Authenticate")
        assert [auth.parse_digest_header(c)["algorithm"] for c in challenges] == ["MD5", "SHA-256"]  # type: ignore[index]
        assert all(f'realm="{cam.auth.realm}"' in c and 'qop="auth"' in c for c in challenges)
        for alg, ch in zip(["MD5", "SHA-256"], challenges, strict=True):
            hdr = digest_authorization(ch, "admin", PASSWORD, uri, algorithm=alg)
            status, body, _ = await post(s, cam, envelope(GET_INFO), headers={"Authorization": hdr})
            assert status == 200, body
        bad = digest_authorization(challenges[1], "admin", "wrong", uri, algorithm="SHA-256")
        status, _, r = await post(s, cam, envelope(GET_INFO), headers={"Authorization": bad})
        assert status == 401 and "stale" not in r.headers["WWW-Authenticate"]
    assert failures(cam) == 1


async def test_digest_stale_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "NONCE_TTL_S", 0.2)
    cam = camera("hikvision")
    uri = "/onvif/device_service"
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        _, _, r = await post(s, cam, envelope(GET_INFO))
        challenge = r.headers["WWW-Authenticate"]
        await asyncio.sleep(
            0.3
        )  # the nonce's 0.2 s lifetime passes (a longer pause under load changes nothing)
        hdr = digest_authorization(challenge, "admin", PASSWORD, uri)
        status, _, r = await post(s, cam, envelope(GET_INFO), headers={"Authorization": hdr})
        assert status == 401 and "stale=true" in r.headers["WWW-Authenticate"]
        # A fresh nonce from the stale challenge works at once.
        hdr = digest_authorization(r.headers["WWW-Authenticate"], "admin", PASSWORD, uri)
        status, _, _ = await post(s, cam, envelope(GET_INFO), headers={"Authorization": hdr})
        assert status == 200
    assert failures(cam) == 0  # right password with an old nonce is not a failure


async def test_digest_wrong_password_counts_and_locks() -> None:
    cam = camera("dahua")
    cam.auth.lockout_threshold = 3
    mw = aiohttp.DigestAuthMiddleware("admin", "bad-password")
    async with run_sim([cam]):
        async with aiohttp.ClientSession(middlewares=(mw,)) as s:
            for _ in range(3):
                status, _, _ = await post(s, cam, envelope(GET_INFO))
                assert status == 401
        (ip,) = cam.auth_failures
        assert cam.is_locked(ip)
        async with aiohttp.ClientSession(middlewares=(aiohttp.DigestAuthMiddleware("admin", PASSWORD),)) as s:
            status, _, _ = await post(s, cam, envelope(GET_INFO))
            assert status == 401
        assert cam.auth_failures[ip] == 3


async def test_http_credentials_are_validated_before_wsse() -> None:
    cam = camera("axis")
    uri = "/onvif/device_service"
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        _, _, r = await post(s, cam, envelope(GET_INFO))
        ch = r.headers["WWW-Authenticate"]
        good_http = {"Authorization": digest_authorization(ch, "admin", PASSWORD, uri)}
        status, _, _ = await post(
            s, cam, envelope(GET_INFO, wsse_header("admin", "wrong")), headers=good_http
        )
        assert status == 200  # WS credentials are not looked at once HTTP auth succeeded
        bad_http = {"Authorization": digest_authorization(ch, "admin", "wrong", uri)}
        status, _, _ = await post(
            s, cam, envelope(GET_INFO, wsse_header("admin", PASSWORD)), headers=bad_http
        )
        assert status == 401
    assert failures(cam) == 1


# ---- single-mode cameras --------------------------------------------------------------------------------
async def test_wsse_only_camera() -> None:
    cam = camera("hikvision")
    cam.auth.modes = ["wsse"]
    async with run_sim([cam]):
        async with aiohttp.ClientSession() as s:
            # Core: a UsernameToken-only device answers HTTP 400 + env:Sender/ter:NotAuthorized.
            status, body, r = await post(s, cam, envelope(GET_INFO))
            assert status == 400 and "WWW-Authenticate" not in r.headers
            assert fault_of(body) == ("Sender", ["NotAuthorized"])
        async with aiohttp.ClientSession(middlewares=(aiohttp.DigestAuthMiddleware("admin", PASSWORD),)) as s:
            status, _, _ = await post(s, cam, envelope(GET_INFO))
            assert status == 400
        async with device(cam) as dm:
            sc = await call(dm, "GetServiceCapabilities")
            assert (sc.Security.UsernameToken, sc.Security.HttpDigest) == (True, False)
            assert (await call(dm, "GetDeviceInformation")).Model == cam.identity.model
    assert failures(cam) == 0


async def test_digest_only_camera_ignores_wsse() -> None:
    cam = camera("dahua")
    cam.auth.modes = ["digest"]
    async with run_sim([cam]):
        async with aiohttp.ClientSession() as s:
            status, _, r = await post(s, cam, envelope(GET_INFO, wsse_header("admin", PASSWORD)))
            assert status == 401 and r.headers["WWW-Authenticate"].startswith("Digest ")
        async with device(cam) as dm:
            sc = await call(dm, "GetServiceCapabilities")  # PRE_AUTH: works without credentials
            assert (sc.Security.UsernameToken, sc.Security.HttpDigest) == (False, True)
            with pytest.raises(Exception):  # noqa: B017 - zeep cannot answer a digest challenge
                await call(dm, "GetDeviceInformation")
        async with aiohttp.ClientSession(middlewares=(aiohttp.DigestAuthMiddleware("admin", PASSWORD),)) as s:
            status, _, _ = await post(s, cam, envelope(GET_INFO))
            assert status == 200
    assert failures(cam) == 0


async def test_get_system_date_and_time_is_pre_auth_and_shows_the_skewed_clock() -> None:
    cam = camera("axis", clock_skew_s=7200.0)
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        status, body, _ = await post(s, cam, envelope("<tds:GetSystemDateAndTime/>"))
        assert status == 200
        root = etree.fromstring(body)

        def num(tag: str) -> int:
            return int(root.findtext(f".//{{http://www.onvif.org/ver10/schema}}UTCDateTime//{{*}}{tag}"))

        reported = datetime(
            num("Year"), num("Month"), num("Day"), num("Hour"), num("Minute"), num("Second"), tzinfo=UTC
        )
        assert abs((reported - datetime.now(UTC)).total_seconds() - 7200) < 5


async def test_passwords_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cam = camera("hikvision")
    secret = "Very-Secret-Guess-42"
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        await post(s, cam, envelope(GET_INFO, wsse_header("admin", secret)))
        async with aiohttp.ClientSession(middlewares=(aiohttp.DigestAuthMiddleware("admin", secret),)) as s2:
            await post(s2, cam, envelope(GET_INFO))
    assert failures(cam) == 2
    assert any("auth failed" in r.getMessage() for r in caplog.records)
    assert not any(secret in r.getMessage() or PASSWORD in r.getMessage() for r in caplog.records)


def test_parse_digest_header() -> None:
    p = auth.parse_digest_header('Digest username="ad\\"min", realm="Login to X1", nc=00000001, qop=auth')
    assert p == {"username": 'ad\\"min', "realm": "Login to X1", "nc": "00000001", "qop": "auth"}
    assert auth.parse_digest_header("Basic YWRtaW46eA==") is None


def test_wsse_digest_formula() -> None:
    # Base64(SHA-1(nonce + Created + password)), checked against an independent computation.
    nonce, created = b"0123456789abcdef", "2026-01-01T00:00:00Z"
    want = base64.b64encode(hashlib.sha1(nonce + created.encode() + b"pw").digest()).decode()
    assert auth.wsse_digest(nonce, created, "pw") == want


async def test_vendor_paths_use_the_same_digest_check() -> None:
    """SimServer guards ISAPI/CGI/VAPIX with auth.check_http_digest; locked clients stay locked there too."""
    cam = camera("hikvision")
    cam.auth.lockout_threshold = 2
    url = f"http://{cam.network.address}:{{port}}/ISAPI/System/deviceInfo"
    timeout = aiohttp.ClientTimeout(total=10)
    async with run_sim([cam]):
        u = url.format(port=cam.port)
        async with aiohttp.ClientSession() as s, s.get(u, timeout=timeout) as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"].startswith('Digest realm="IP Camera"')
        mw = aiohttp.DigestAuthMiddleware("admin", PASSWORD)
        async with aiohttp.ClientSession(middlewares=(mw,)) as s, s.get(u, timeout=timeout) as r:
            assert r.status == 200
        bad = aiohttp.DigestAuthMiddleware("admin", "guess")
        for _ in range(2):
            async with aiohttp.ClientSession(middlewares=(bad,)) as s, s.get(u, timeout=timeout) as r:
                assert r.status == 401
        async with aiohttp.ClientSession(middlewares=(mw,)) as s, s.get(u, timeout=timeout) as r:
            assert r.status == 401  # locked: refused without checking
    assert failures(cam) == 2


async def test_digest_for_another_uri_is_refused() -> None:
    cam = camera("dahua")
    async with run_sim([cam]), aiohttp.ClientSession() as s:
        _, _, r = await post(s, cam, envelope(GET_INFO))
        hdr = digest_authorization(r.headers["WWW-Authenticate"], "admin", PASSWORD, "/cgi-bin/other.cgi")
        status, _, _ = await post(s, cam, envelope(GET_INFO), headers={"Authorization": hdr})
        assert status == 401
    assert failures(cam) == 0


def test_seen_nonces_stay_bounded() -> None:
    from camsim import soap

    cam = camera("generic")
    for _ in range(auth.MAX_SEEN_NONCES + 50):
        req = soap.parse_request(envelope(GET_INFO, wsse_header("admin", PASSWORD)))
        assert req.token is not None
        assert auth.check_wsse(cam, req.token, "127.0.0.9") == "admin"
    assert len(cam.seen_nonces) == auth.MAX_SEEN_NONCES
    # The newest nonce is still remembered, so replaying it fails.
    req = soap.parse_request(envelope(GET_INFO, wsse_header("admin", PASSWORD)))
    assert req.token is not None
    auth.check_wsse(cam, req.token, "127.0.0.9")
    with pytest.raises(soap.SoapError):
        auth.check_wsse(cam, req.token, "127.0.0.9")
