"""OnvifSession against camsim over real HTTP/SOAP: auth choice, lockout safety, clock skew, faults, limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from agent.credentials import Credentials
from agent.errors import AuthFailed, LockedOut, ProtocolError, Timeout, Unreachable, Unsupported
from agent.http import CameraHttp, HttpPool
from agent.http11 import ConnectFailed
from agent.onvif_session import DEVICE_NS, OnvifSession
from agent.onvif_xaddr import rebase_xaddr
from tests.agent.conftest import PASSWORD, CameraTarget, Fleet, make_test_camera, run_fleet
from tests.camsim.conftest import find_free_port
from tests.fixtures import SHARED_FIXTURES
from tests.timing import scaled, until

pytestmark = pytest.mark.integration

FIXTURES = SHARED_FIXTURES / "onvif_agsh_v0.8.2"
AGENT_IP = "127.0.0.1"  # the source address camsim sees for the agent


def session(t: CameraTarget, pool: HttpPool, password: str | None = None, **kw: float) -> OnvifSession:
    creds = t.credentials if password is None else Credentials(t.credentials.username, password)
    return OnvifSession(t.host, t.port, creds, pool=pool, timeout=kw.pop("timeout", 3.0), **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def one_camera(**kw: object) -> AsyncIterator[tuple[Fleet, CameraTarget]]:
    personality = str(kw.pop("personality", "hikvision"))
    cam = make_test_camera(personality, address="127.0.3.1")
    for key, value in kw.items():
        if key == "modes":
            cam.auth.modes = value  # type: ignore[assignment]
        elif key == "skew":
            cam.clock_skew_s = float(value)  # type: ignore[arg-type]
        else:
            setattr(cam.faults, key, value)
    async with run_fleet([cam]) as fleet:
        yield fleet, fleet.targets[0]


# ---- authentication schemes -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("personality", "modes", "scheme"),
    [
        ("hikvision", ["digest", "wsse"], "digest"),  # both offered: prefer digest (DESIGN §4)
        ("dahua", ["wsse"], "wsse"),  # UsernameToken-only legacy device
        ("axis", ["digest"], "digest"),  # digest-only (Axis authenticates every request)
    ],
)
async def test_auth_scheme_chosen_and_calls_work(
    http_pool: HttpPool, personality: str, modes: list[str], scheme: str
) -> None:
    async with one_camera(personality=personality, modes=modes) as (_fleet, t):
        async with session(t, http_pool) as s:
            info = await s.call("GetDeviceInformation")
            assert s.auth_scheme == scheme
            assert info.Manufacturer == t.camera.identity.manufacturer
            assert info.SerialNumber == t.camera.identity.serial
            assert s.clock_source == "GetSystemDateAndTime"
            assert abs(s.clock_offset_s or 99) < 2.0
        assert t.camera.auth_failures == {}, "scheme probing must not count as a failed login"


async def test_session_from_fixture_fleet_each_personality(camsim_fleet: Fleet, http_pool: HttpPool) -> None:
    for t in camsim_fleet.targets:
        async with session(t, http_pool) as s:
            info = await s.call("GetDeviceInformation")
            assert info.Model == t.camera.identity.model
            caps = await s.capabilities()
            assert caps.supports("Network.IPFilter") is True
            assert caps.supports("Security.HttpDigest") is True
        assert t.camera.auth_failures == {}


# ---- wrong password: exactly one failed login, then silence ---------------------------------------------
@pytest.mark.parametrize("modes", [["digest", "wsse"], ["wsse"], ["digest"]])
async def test_wrong_password_one_failure_then_no_contact(http_pool: HttpPool, modes: list[str]) -> None:
    async with one_camera(modes=modes) as (fleet, t):
        s = session(t, http_pool, password="wrong-password")
        with pytest.raises(AuthFailed) as first:
            await s.call("GetDeviceInformation")
        assert "wrong-password" not in str(first.value) and "wrong-password" not in repr(first.value)
        assert t.camera.auth_failures == {AGENT_IP: 1}
        requests_before = fleet.server.requests
        for op in ("GetDeviceInformation", "GetDNS", "GetUsers"):
            with pytest.raises(AuthFailed):
                await s.call(op)
        assert fleet.server.requests == requests_before, "a remembered auth failure must not touch the camera"
        assert t.camera.auth_failures == {AGENT_IP: 1}
        # Same credentials again: still refused locally; new credentials lift it.
        await s.set_credentials(Credentials("admin", "wrong-password"))
        with pytest.raises(AuthFailed):
            await s.call("GetDeviceInformation")
        assert fleet.server.requests == requests_before
        await s.set_credentials(Credentials("admin", PASSWORD))
        info = await s.call("GetDeviceInformation")
        assert info.Manufacturer == t.camera.identity.manufacturer
        await s.close()


# ---- clock skew ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("skew", [3600.0, -3600.0])
async def test_wsse_with_clock_skew(http_pool: HttpPool, skew: float) -> None:
    async with one_camera(personality="dahua", modes=["wsse"], skew=skew) as (_fleet, t):
        async with session(t, http_pool) as s:
            info = await s.call("GetDeviceInformation")
            assert info.Manufacturer == "Dahua"
            assert s.auth_scheme == "wsse"
            assert s.clock_offset_s is not None and abs(s.clock_offset_s - skew) < 2.0
        assert t.camera.auth_failures == {}


class AuthRequiredForTimeProxy:
    """A camera front that demands auth for GetSystemDateAndTime (seen on real firmware, DESIGN §4).

    Anonymous GetSystemDateAndTime is forwarded to camsim as GetDeviceInformation, so the refusal (401
    digest challenge or 400 NotAuthorized) and its Date header are camsim's real ones. Everything else is
    forwarded unchanged. Listening on another address also makes camsim advertise XAddrs of a host the
    agent did not reach, which exercises rebasing.
    """

    def __init__(self, upstream: CameraTarget, address: str = "127.0.2.1") -> None:
        self.upstream = upstream
        self.address = address
        self.port = find_free_port()
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AuthRequiredForTimeProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address, self.port).start()
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._client is not None and self._runner is not None
        await self._client.close()
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._client is not None
        self.requests += 1
        body = await request.read()
        anonymous = "Authorization" not in request.headers and b"UsernameToken" not in body
        if anonymous and b"GetSystemDateAndTime" in body:
            body = body.replace(b"GetSystemDateAndTime", b"GetDeviceInformation")
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        url = f"http://{self.upstream.host}:{self.upstream.port}{request.path_qs}"
        async with self._client.request(request.method, url, data=body, headers=headers) as up:
            data = await up.read()
            out = web.Response(status=up.status, body=data)
            for k, v in up.headers.items():
                if k.lower() in ("content-type", "www-authenticate", "date"):
                    out.headers.add(k, v)
            return out


@pytest.mark.parametrize(("modes", "skew"), [(["wsse"], 3600.0), (["digest"], -3600.0)])
async def test_clock_from_date_header_when_time_needs_auth(
    http_pool: HttpPool, modes: list[str], skew: float
) -> None:
    async with one_camera(personality="generic", modes=modes, skew=skew) as (_fleet, t):
        async with AuthRequiredForTimeProxy(t) as proxy:
            s = OnvifSession(proxy.address, proxy.port, t.credentials, pool=http_pool, timeout=3.0)
            info = await s.call("GetDeviceInformation")
            assert info.SerialNumber == t.camera.identity.serial
            assert s.clock_source == "http-date"
            assert s.clock_offset_s is not None and abs(s.clock_offset_s - skew) < 2.5
            assert s.auth_scheme == ("wsse" if modes == ["wsse"] else "digest")
            # XAddrs advertised by camsim name 127.0.3.1 (the upstream); they must point at what we reached.
            caps = await s.capabilities()
            assert caps.services[DEVICE_NS] == f"http://{proxy.address}:{proxy.port}/onvif/device_service"
            assert all(x.startswith(f"http://{proxy.address}:{proxy.port}/") for x in caps.services.values())
            assert len(caps.services) >= 4
            await s.close()
        assert t.camera.auth_failures == {}


# ---- unsupported / faults ------------------------------------------------------------------------------
async def test_action_not_supported_is_unsupported(http_pool: HttpPool) -> None:
    async with one_camera() as (_fleet, t):
        t.camera.capabilities = []  # no IPFilter/DynDNS/...: camsim answers env:Receiver/ter:ActionNotSupported
        async with session(t, http_pool) as s:
            with pytest.raises(Unsupported) as exc:
                await s.call("GetIPAddressFilter")
            assert "ActionNotSupported" in str(exc.value)
            with pytest.raises(Unsupported):
                await s.call("GetSystemLog", LogType="System")  # not implemented at all by camsim
            with pytest.raises(Unsupported):
                await s.call("NoSuchOperationInTheWsdl")
            caps = await s.capabilities()
            assert caps.supports("Network.IPFilter") is False
            assert (await s.call("GetHostname")).Name  # the session is still usable
            assert s.auth_failed is None


async def test_malformed_reply_is_protocol_error_with_raw(http_pool: HttpPool) -> None:
    async with one_camera(personality="hikvision") as (_fleet, t), session(t, http_pool) as s:
        await s.connect()
        t.camera.faults.malformed_rate = 1.0
        with pytest.raises(ProtocolError) as exc:
            await s.call("GetDeviceInformation")
        assert exc.value.raw is not None and exc.value.raw.endswith(b"<<&\x00")
        assert exc.value.__cause__ is not None
        assert "GetDeviceInformation" in exc.value.fixture_line()


@pytest.mark.parametrize("fault", ["truncated_rate", "http500_rate", "drop_rate"])
async def test_transport_faults_are_unreachable(http_pool: HttpPool, fault: str) -> None:
    async with one_camera(personality="hikvision") as (_fleet, t), session(t, http_pool, attempts=2) as s:
        await s.connect()
        setattr(t.camera.faults, fault, 1.0)
        with pytest.raises(Unreachable) as exc:
            await s.call("GetDeviceInformation")
        assert not isinstance(exc.value, AuthFailed)
        assert exc.value.__cause__ is not None or "HTTP" in exc.value.message
        setattr(t.camera.faults, fault, 0.0)
        assert (await s.call("GetDeviceInformation")).Model == "TEST-1"


async def test_malformed_during_setup_never_raw(http_pool: HttpPool) -> None:
    async with one_camera(personality="axis", malformed_rate=1.0) as (_fleet, t):
        async with session(t, http_pool) as s:
            with pytest.raises(ProtocolError):
                await s.call("GetDeviceInformation")
        assert t.camera.auth_failures == {}


async def test_hang_times_out_within_budget(http_pool: HttpPool) -> None:
    # camsim's hang never answers, so returning at all shows the timeout fired; the bound is only a
    # deadline for a broken test (wall time on a loaded machine says nothing more). The budget itself is
    # checked by counting the attempts the camera saw.
    async with one_camera(hang=True) as (fleet, t):
        s = session(t, http_pool, timeout=0.5, attempts=1)
        started = time.monotonic()
        with pytest.raises(Timeout):
            await asyncio.wait_for(s.call("GetDeviceInformation"), scaled(20))
        assert time.monotonic() - started >= 0.5 * 0.9
        s2 = session(t, http_pool, timeout=0.3, attempts=2)
        before = fleet.server.requests
        with pytest.raises(Timeout):
            await asyncio.wait_for(s2.call("GetDeviceInformation"), scaled(20))
        assert fleet.server.requests - before == 2  # two attempts, then the classified timeout
        await s.close()
        await s2.close()


async def test_unreachable_port(http_pool: HttpPool) -> None:
    s = OnvifSession("127.0.3.9", find_free_port(), Credentials("admin", "x"), pool=http_pool, attempts=2)
    with pytest.raises(Unreachable) as exc:
        await s.call("GetDeviceInformation")
    assert not isinstance(exc.value, Timeout)
    assert isinstance(exc.value.__cause__, ConnectFailed)  # never reached the camera: even a write may retry
    await s.close()


# ---- connection limits ---------------------------------------------------------------------------------
async def test_one_connection_per_camera(http_pool: HttpPool) -> None:
    """camsim refuses (503) past connection_limit=1 concurrent requests; limit_per_host=1 plus the per-camera
    lock keep the agent under it even with many concurrent calls from several sessions."""
    async with one_camera(latency_ms=20.0) as (fleet, t):
        t.camera.auth.connection_limit = 1
        sessions = [session(t, http_pool) for _ in range(3)]
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, fleet.server.inflight(t.id))
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        try:
            results = await asyncio.gather(
                *(s.call("GetHostname") for s in sessions for _ in range(4)), return_exceptions=True
            )
        finally:
            watcher.cancel()
        assert all(not isinstance(r, BaseException) for r in results), results
        assert peak == 1
        for s in sessions:
            await s.close()


async def test_global_concurrency_cap() -> None:
    cams = [make_test_camera("generic", address=f"127.0.3.{i + 10}") for i in range(6)]
    for c in cams:
        c.faults.latency_ms = 80.0
    pool = HttpPool(concurrency=2)
    try:
        async with run_fleet(cams) as fleet:
            sessions = [session(t, pool) for t in fleet.targets]
            await asyncio.gather(*(s.connect() for s in sessions))
            peak = 0

            async def watch() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, sum(fleet.server.inflight(c.id) for c in cams))
                    await asyncio.sleep(0.002)

            watcher = asyncio.create_task(watch())
            started = time.monotonic()
            try:
                await asyncio.gather(*(s.call("GetHostname") for s in sessions))
            finally:
                watcher.cancel()
            assert peak <= 2
            assert time.monotonic() - started >= 3 * 0.08 * 0.9  # 6 calls, 2 at a time
            for s in sessions:
                await s.close()
    finally:
        await pool.close()


# ---- XAddr rebasing ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("advertised", "expected"),
    [
        ("http://192.168.1.64/onvif/Media", "http://127.0.0.9:8080/onvif/Media"),
        ("http://192.168.1.64:80:80/onvif/Events", "http://127.0.0.9:8080/onvif/Events"),  # doubled port
        ("http://10.0.0.5", "http://127.0.0.9:8080/onvif/device_service"),  # host without a path
        ("192.168.1.64/onvif/PTZ", "http://127.0.0.9:8080/onvif/PTZ"),
        ("", "http://127.0.0.9:8080/onvif/device_service"),
        (None, "http://127.0.0.9:8080/onvif/device_service"),
        ("http://[fe80::1/onvif/x", "http://127.0.0.9:8080/onvif/device_service"),  # unparsable
        ("https://evil.example.com/onvif/services?x=1", "http://127.0.0.9:8080/onvif/services?x=1"),
    ],
)
def test_rebase_xaddr(advertised: str | None, expected: str) -> None:
    assert rebase_xaddr(advertised, "http://127.0.0.9:8080") == expected


# ---- broken recordings from real cameras ---------------------------------------------------------------
@asynccontextmanager
async def recording_server(replies: Mapping[str, tuple[int, bytes]]) -> AsyncIterator[tuple[str, int]]:
    """A tiny SOAP endpoint answering each operation with a recorded body (anonymous, like a lax camera)."""
    time_reply = (FIXTURES / "GetSystemDateAndTime.xml").read_bytes()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        for op, (status, data) in replies.items():
            if f"{op}".encode() in body:
                return web.Response(status=status, body=data, content_type="application/soap+xml")
        if b"GetSystemDateAndTime" in body:
            return web.Response(body=time_reply, content_type="application/soap+xml")
        return web.Response(status=500, text="no recording")

    app = web.Application()
    app.router.add_post("/onvif/device_service", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = find_free_port()
    await web.TCPSite(runner, "127.0.3.50", port).start()
    try:
        yield "127.0.3.50", port
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("op", "fixture", "status"),
    [
        ("GetDNS", "device.GetDNS.xml", 200),  # undeclared prefix in the body
        ("GetCapabilities", "GetCapabilitiesEncoder.xml", 200),  # claims utf-16, is not
        ("GetDeviceInformation", "Error.xml", 500),  # fault with an undeclared SOAP-ENV prefix, curly quotes
        ("GetHostname", "Error.xml", 200),
    ],
)
async def test_broken_recordings_are_protocol_errors(
    http_pool: HttpPool, op: str, fixture: str, status: int
) -> None:
    raw = (FIXTURES / fixture).read_bytes()
    async with recording_server({op: (status, raw)}) as (host, port):
        s = OnvifSession(host, port, Credentials("admin", "pw"), pool=http_pool, scheme="digest", timeout=3.0)
        with pytest.raises(ProtocolError) as exc:
            await s.call(op)
        assert exc.value.raw == raw[: len(exc.value.raw or b"")] and exc.value.raw
        assert exc.value.__cause__ is not None
        assert exc.value.operation == op
        assert s.auth_failed is None
        await s.close()


async def test_empty_body_and_non_xml_are_protocol_errors(http_pool: HttpPool) -> None:
    empty_body = b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
    replies = {"GetDNS": (200, b""), "GetNTP": (200, b"<html>login</html>"), "GetHostname": (200, empty_body)}
    async with recording_server(replies) as (host, port):
        s = OnvifSession(host, port, Credentials("admin", "pw"), pool=http_pool, scheme="digest", timeout=3.0)
        for op in ("GetDNS", "GetNTP"):
            with pytest.raises(ProtocolError):
                await s.call(op)
        # An empty <Body/> parses to None under zeep's lenient rules: not an exception, just no data.
        try:
            result = await s.call("GetHostname")
        except ProtocolError:
            result = None
        assert result is None
        await s.close()


# ---- CameraHttp (shared by the vendor drivers) -----------------------------------------------------------
async def test_stale_nonce_is_retried_not_a_failed_login(
    http_pool: HttpPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import camsim.auth

    async with one_camera(personality="hikvision", modes=["digest"]) as (fleet, t):
        async with session(t, http_pool) as s:
            await s.call("GetHostname")
            monkeypatch.setattr(camsim.auth, "NONCE_TTL_S", 0.2)  # camsim now calls our nonce stale quickly
            await asyncio.sleep(0.3)
            before = fleet.server.requests
            assert (await s.call("GetHostname")).Name
            # preemptive digest with the old nonce -> 401 stale=true -> one resend with the new nonce
            assert fleet.server.requests - before == 2
        assert t.camera.auth_failures == {}


async def test_vendor_http_digest_and_date_header(http_pool: HttpPool) -> None:
    async with one_camera(personality="hikvision", skew=-3600.0) as (_fleet, t):
        http = CameraHttp(t.host, t.port, t.credentials, pool=http_pool, timeout=3.0)
        # Anonymous request: a 401 challenge, yet its Date header already gives the camera clock.
        reply = await http.exchange("GET", "/ISAPI/System/deviceInfo", authenticate=False)
        assert reply.status == 401 and reply.offers_digest() and not reply.is_stale_challenge()
        assert http.clock.offset_s is not None and abs(http.clock.offset_s + 3600) < 2.0
        ok = await http.request("GET", "/ISAPI/System/deviceInfo")
        assert ok.status == 200 and t.camera.identity.serial.encode() in ok.body
        await http.close()
        bad = CameraHttp(t.host, t.port, Credentials("admin", "nope"), pool=http_pool, timeout=3.0)
        before = _fleet.server.requests
        with pytest.raises(AuthFailed):
            await bad.request("GET", "/ISAPI/System/deviceInfo")
        assert _fleet.server.requests - before == 2  # challenge + one wrong digest, never retried
        assert t.camera.auth_failures == {AGENT_IP: 1}
        await bad.close()


@pytest.mark.parametrize(
    ("personality", "path"), [("dahua", "/cgi-bin/magicBox.cgi"), ("hikvision", "/ISAPI/System/deviceInfo")]
)
async def test_connection_limit_replies_are_unreachable(
    http_pool: HttpPool, personality: str, path: str
) -> None:
    """Dahua answers 401 "Too many connections" and Hikvision 503 when their slots are used up (DESIGN §4):
    retry later, and never remember it as an auth failure."""
    async with one_camera(personality=personality) as (_fleet, t):
        t.camera.auth.connection_limit = 0
        http = CameraHttp(t.host, t.port, t.credentials, pool=http_pool, timeout=3.0, attempts=2)
        with pytest.raises(Unreachable) as exc:
            await http.request("GET", path, params={"action": "getSystemInfo"})
        assert not isinstance(exc.value, AuthFailed)
        await http.close()
        async with session(t, http_pool, attempts=1) as s:
            with pytest.raises(Unreachable):
                await s.call("GetDeviceInformation")
            assert s.auth_failed is None
        assert t.camera.auth_failures == {}


async def test_lock_reply_is_locked_out(http_pool: HttpPool) -> None:
    """Hikvision's userCheck body names the lock (VENDORS.md §3); the session remembers it."""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><userCheck><statusValue>401</statusValue>'
        b"<statusString>Unauthorized</statusString><lockStatus>lock</lockStatus><unlockTime>1795</unlockTime>"
        b"<retryLoginTime>0</retryLoginTime></userCheck>"
    )
    async with recording_server({"GetDeviceInformation": (401, body)}) as (host, port):
        s = OnvifSession(host, port, Credentials("admin", "pw"), pool=http_pool, scheme="digest", timeout=3.0)
        with pytest.raises(LockedOut):
            await s.call("GetDeviceInformation")
        with pytest.raises(LockedOut):
            await s.call("GetHostname")  # remembered: not sent
        await s.close()


async def test_slow_camera_does_not_starve_others() -> None:
    """Calls queued behind one slow camera wait on that camera's lock, not on global slots."""
    slow, fast = (
        make_test_camera("generic", address="127.0.3.20"),
        make_test_camera("generic", address="127.0.3.21"),
    )
    slow.faults.latency_ms = 150.0
    pool = HttpPool(concurrency=2)
    try:
        async with run_fleet([slow, fast]) as fleet:
            t_slow, t_fast = fleet.targets
            h_slow = CameraHttp(t_slow.host, t_slow.port, t_slow.credentials, pool=pool, timeout=3.0)
            h_fast = CameraHttp(t_fast.host, t_fast.port, t_fast.credentials, pool=pool, timeout=3.0)
            queued = [asyncio.create_task(h_slow.request("GET", "/slow")) for _ in range(5)]
            await until(lambda: fleet.server.inflight(slow.id) > 0, 10, "the slow camera's first request")
            assert (await h_fast.request("GET", "/fast")).status == 404
            # The five slow requests run one at a time (150 ms each): the fast camera was answered while
            # most of them were still queued, instead of after them.
            assert sum(not q.done() for q in queued) >= 3
            assert all(r.status == 404 for r in await asyncio.gather(*queued))
            await h_slow.close()
            await h_fast.close()
    finally:
        await pool.close()
