"""Range sweep against a running camsim on 127.0.6.x: ONVIF vs open port vs unreachable, and the guard rails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from aiohttp import web

from agent.sweep import (
    GET_SYSTEM_DATE_AND_TIME,
    HARD_MAX_ADDRESSES,
    Kind,
    PortResult,
    SweepError,
    SweepResult,
    classify,
    sweep,
)
from agent.targets import RangeAllowList
from camsim.fleet import generate_fleet
from camsim.model import IPFilter
from tests.camsim.conftest import find_free_port, run_sim

pytestmark = pytest.mark.integration

# 127.0.6.0/24 is this module's (and test_discovery's); the sweep is only ever allowed there.
ALLOW = RangeAllowList.from_config(["127.0.6.0/24"])


@pytest.fixture
async def site() -> AsyncIterator[int]:
    """A small site on one shared port P:

    127.0.6.49-51  camsim cameras (hikvision, dahua, axis), .51 with its clock one hour ahead
    127.0.6.52     plain web server (HTML 404 on the ONVIF path)
    127.0.6.53     TCP service that is not HTTP (banner, then close)
    127.0.6.54     web server answering 401 Digest to everything
    127.0.6.55     camsim camera that fences us out with its IP filter (HTTP 403)
    everything else in .48/28: nothing listening
    """
    port = find_free_port()
    cams = generate_fleet(3, {"hikvision": 1, "dahua": 1, "axis": 1}, seed=11, base_address="127.0.6.49")
    cams[2].clock_skew_s = 3600.0
    fenced = generate_fleet(1, {"hikvision": 1}, seed=12, base_address="127.0.6.55")[0]
    fenced.id = "cam-fenced"
    fenced.network.ip_filter = IPFilter("Allow", [("127.0.6.250", 32)])
    for cam in [*cams, fenced]:
        cam.port = port

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")

    async def digest_wall(request: web.Request) -> web.Response:
        return web.Response(
            status=401,
            headers={"WWW-Authenticate": 'Digest realm="IP Camera", nonce="abc", qop="auth"'},
        )

    runners = []
    for address, handler in (("127.0.6.52", not_found), ("127.0.6.54", digest_wall)):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, address, port).start()
        runners.append(runner)

    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-dropbear_2019.78\r\n")
        await writer.drain()
        writer.close()

    banner_server = await asyncio.start_server(banner, "127.0.6.53", port)
    try:
        async with run_sim([*cams, fenced]):
            yield port
    finally:
        banner_server.close()
        await banner_server.wait_closed()
        for runner in runners:
            await runner.cleanup()


async def test_sweep_classifies_a_site(site: int) -> None:
    seen: list[SweepResult] = []
    t0 = time.monotonic()
    # A 30 s connect timeout: finishing well inside it shows closed ports were refused, not waited for.
    results = await sweep(
        ["127.0.6.48/28"], allow=ALLOW, ports=[site], on_result=seen.append, connect_timeout_s=30.0
    )
    elapsed = time.monotonic() - t0
    by_addr = {r.address: r for r in results}
    assert [r.address for r in results] == [f"127.0.6.{i}" for i in range(49, 63)]
    assert sorted(r.address for r in seen) == sorted(by_addr), "progress callback once per address"

    for a in ("127.0.6.49", "127.0.6.50", "127.0.6.51"):
        (p,) = by_addr[a].ports
        assert (p.kind, p.confirmed, p.http_status, p.detail) == (
            Kind.ONVIF,
            True,
            200,
            "GetSystemDateAndTime answered",
        ), a
        assert by_addr[a].onvif_ports == (site,)
    offsets = [by_addr[a].ports[0].clock_offset_s for a in ("127.0.6.49", "127.0.6.51")]
    assert offsets[0] is not None and abs(offsets[0]) < 2
    assert offsets[1] is not None and abs(offsets[1] - 3600) < 2, "camera clock one hour ahead"

    assert by_addr["127.0.6.52"].kind is Kind.OPEN
    assert by_addr["127.0.6.52"].ports[0].detail == "HTTP 404: not an ONVIF reply"
    assert by_addr["127.0.6.53"].kind is Kind.OPEN
    assert by_addr["127.0.6.53"].ports[0].detail.startswith("port open, not HTTP")
    digest = by_addr["127.0.6.54"].ports[0]
    assert (digest.kind, digest.confirmed, digest.http_status) == (Kind.ONVIF, False, 401)
    fenced = by_addr["127.0.6.55"].ports[0]
    assert (fenced.kind, fenced.http_status) == (Kind.OPEN, 403)
    for i in range(56, 63):
        (p,) = by_addr[f"127.0.6.{i}"].ports
        assert (p.kind, p.detail) == (Kind.UNREACHABLE, "connection refused")
    assert elapsed < 15, "closed loopback ports are refused at once, not waited for"


async def test_several_ports_per_address(site: int) -> None:
    closed = find_free_port()
    (result,) = await sweep(["127.0.6.49"], allow=ALLOW, ports=[closed, site, site])
    assert [p.port for p in result.ports] == [closed, site], "duplicate ports are swept once"
    assert [p.kind for p in result.ports] == [Kind.UNREACHABLE, Kind.ONVIF]
    assert result.kind is Kind.ONVIF
    assert result.onvif_ports == (site,)


async def test_silent_listener_is_open_after_the_http_timeout_and_concurrency_is_bounded() -> None:
    port = find_free_port()
    hosts = [f"127.0.6.{i}" for i in range(70, 76)]
    open_now = 0
    peak = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            open_now -= 1
            writer.close()

    server = await asyncio.start_server(silent, hosts, port)
    try:
        t0 = time.monotonic()
        results = await sweep(
            ["127.0.6.70-127.0.6.75"], allow=ALLOW, ports=[port], concurrency=2, http_timeout_s=0.2
        )
        elapsed = time.monotonic() - t0
    finally:
        server.close()
        await server.wait_closed()
    for r in results:
        (p,) = r.ports
        assert (p.kind, p.detail) == (Kind.OPEN, "port open, no HTTP answer within 0.2s")
    assert peak <= 2, "never more probes in flight than the concurrency bound"
    assert elapsed > 0.5, "six 0.2 s timeouts, two at a time (six at once would take 0.2 s)"


@pytest.mark.parametrize(
    ("ranges", "kw", "message"),
    [
        (["127.0.5.0/28"], {}, "not inside any range allowed"),
        (["127.0.6.0/23"], {}, "not inside any range allowed"),
        (["10.0.0.1"], {}, "not inside any range allowed"),
        (["127.0.6.0/24"], {"max_addresses": 100}, "the limit is 100"),
        (["127.0.6.1"], {"max_addresses": HARD_MAX_ADDRESSES + 1}, "max_addresses must be"),
        (["127.0.6.1"], {"ports": [0]}, "ports must be"),
        (["127.0.6.1"], {"ports": []}, "ports must be"),
        (["127.0.6.1"], {"concurrency": 0}, "must be positive"),
        ([], {}, "no range given"),
    ],
)
async def test_refused_before_any_traffic(ranges: list[str], kw: dict[str, object], message: str) -> None:
    with pytest.raises(SweepError, match=message):
        await sweep(ranges, allow=ALLOW, **kw)  # type: ignore[arg-type]


async def test_empty_allow_list_sweeps_nothing() -> None:
    with pytest.raises(SweepError, match="not inside any range allowed"):
        await sweep(["127.0.6.1"], allow=RangeAllowList())


# ---- classification of replies (the parser, without a network) ---------------------------------------

SOAP = "http://www.w3.org/2003/05/soap-envelope"


def test_classify_soap_fault_and_odd_replies() -> None:
    fault = (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:ter="http://www.onvif.org/ver10/error"><s:Body><s:Fault>'
        "<s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value></s:Subcode>"
        '</s:Code><s:Reason><s:Text xml:lang="en">Sender not Authorized</s:Text></s:Reason>'
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()
    now = time.time()
    date = formatdate(now + 120, usegmt=True)
    r = classify(400, fault, date, now)
    assert (r.kind, r.confirmed, r.detail) == (Kind.ONVIF, True, "SOAP fault ter:NotAuthorized")
    assert r.clock_offset_s is not None and abs(r.clock_offset_s - 120) < 1.5, "offset from the Date header"
    soap11 = (
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>'
        b"<faultcode>e:Client</faultcode><faultstring>no</faultstring></e:Fault></e:Body></e:Envelope>"
    )
    assert classify(500, soap11, None, now).detail == "SOAP fault e:Client"
    other_soap = f'<s:Envelope xmlns:s="{SOAP}"><s:Body><x/></s:Body></s:Envelope>'.encode()
    assert classify(200, other_soap, None, now).kind is Kind.OPEN
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    assert classify(200, xxe, None, now).kind is Kind.OPEN
    assert classify(200, b"<html>", None, now) == PortResult(
        0, Kind.OPEN, "HTTP 200: not an ONVIF reply", 200
    )
    assert classify(200, GET_SYSTEM_DATE_AND_TIME, None, now).kind is Kind.OPEN, "a request is not a reply"


def test_classify_reads_utc_date_time() -> None:
    body = (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
        ' xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><tds:GetSystemDateAndTimeResponse>'
        "<tds:SystemDateAndTime><tt:UTCDateTime><tt:Time><tt:Hour>10</tt:Hour><tt:Minute>0</tt:Minute>"
        "<tt:Second>60</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>1</tt:Month>"
        "<tt:Day>2</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
        "</tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"
    ).encode()
    at = datetime(2026, 1, 2, 9, 0, 59, tzinfo=UTC).timestamp()
    r = classify(200, body, None, at)
    assert r.kind is Kind.ONVIF and r.clock_offset_s == 3600.0
    broken = body.replace(b"<tt:Month>1<", b"<tt:Month>13<")
    r = classify(200, broken, formatdate(at, usegmt=True), at)
    assert r.kind is Kind.ONVIF and r.clock_offset_s == 0.0, "bad UTCDateTime falls back to Date"
