"""Hypothesis strategies for what a broken camera answers to a SOAP POST, and a loopback server replaying them."""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from tests.fixtures import SHARED_FIXTURES, require

#: Recorded replies of one real ONVIF server (found by the suite's one fixture locator).
FIXTURES = SHARED_FIXTURES / "onvif_agsh_v0.8.2"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
_OP_RE = re.compile(rb"<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?([A-Za-z]\w*)")
#: Device-service operations the session and the inventory send.
OPS = (
    "GetSystemDateAndTime", "GetServiceCapabilities", "GetDeviceInformation", "GetServices", "GetScopes",
    "GetNetworkInterfaces", "GetNetworkProtocols", "GetDNS", "GetNTP", "GetNetworkDefaultGateway",
    "GetZeroConfiguration", "GetHostname", "GetDiscoveryMode", "GetRemoteDiscoveryMode", "GetUsers",
    "GetIPAddressFilter", "GetDynamicDNS", "GetCapabilities",
)  # fmt: skip


@dataclass(frozen=True)
class Reply:
    """One HTTP answer. mode: "full" (as is), "truncated" (Content-Length promises more, then the socket
    closes) or "reset" (the socket closes before any reply)."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    mode: str = "full"


@dataclass
class Plan:
    """The replies for one example: `target` ops (or every op with "*") get `reply`, the rest the baseline."""

    reply: Reply
    target: str = "*"
    seen: list[str] = field(default_factory=list)


def fixture_reply(op: str) -> Reply:
    """What a camera of the fixtures says (some are broken the way real cameras are; README), else a fault."""
    for name in (f"{op}.xml", f"device.{op}.xml"):
        path = require(FIXTURES) / name
        if path.exists():
            return Reply(200, path.read_bytes(), (("Content-Type", "application/soap+xml; charset=utf-8"),))
    return Reply(500, fault12("Receiver", "ActionNotSupported", "not implemented"), SOAP_CT)


SOAP_CT = (("Content-Type", "application/soap+xml; charset=utf-8"),)


@functools.cache
def fixture_bodies() -> list[bytes]:
    """Every recorded reply; a missing folder skips (fails under CI), and an empty one is a failure."""
    bodies = sorted(p.read_bytes() for p in require(FIXTURES).glob("*.xml"))
    assert bodies, f"no recorded replies in {FIXTURES}"
    return bodies


def fault12(code: str, subcode: str, reason: str) -> bytes:
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"s": SOAP12, "ter": TER})
    f = etree.SubElement(etree.SubElement(env, f"{{{SOAP12}}}Body"), f"{{{SOAP12}}}Fault")
    c = etree.SubElement(f, f"{{{SOAP12}}}Code")
    etree.SubElement(c, f"{{{SOAP12}}}Value").text = f"s:{code}"
    etree.SubElement(
        etree.SubElement(c, f"{{{SOAP12}}}Subcode"), f"{{{SOAP12}}}Value"
    ).text = f"ter:{subcode}"
    etree.SubElement(etree.SubElement(f, f"{{{SOAP12}}}Reason"), f"{{{SOAP12}}}Text").text = reason
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def fault11(code: str, detail: str, reason: str) -> bytes:
    env = etree.Element(f"{{{SOAP11}}}Envelope", nsmap={"SOAP-ENV": SOAP11})
    f = etree.SubElement(etree.SubElement(env, f"{{{SOAP11}}}Body"), f"{{{SOAP11}}}Fault")
    etree.SubElement(f, "faultcode").text = f"SOAP-ENV:{code}"
    etree.SubElement(f, "faultstring").text = reason
    etree.SubElement(f, "detail").text = detail
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


# ---- strategies ------------------------------------------------------------------------------------
XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")), max_size=40)
#: Names zeep will try to bind (real schema names, so garbage lands inside typed fields) plus random ones.
NAMES = st.sampled_from(
    ["Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "UTCDateTime", "Date", "Time", "Year", "Hour",
     "Service", "Namespace", "XAddr", "Version", "Major", "Capabilities", "Security", "Network", "IPFilter",
     "HttpDigest", "UsernameToken", "Scopes", "ScopeItem", "NetworkInterfaces", "Info", "HwAddress", "IPv4",
     "Config", "Manual", "Address", "Enabled", "Port", "Name", "FromDHCP", "DNSManual", "NTPManual",
     "IPv4Address", "Type", "DNSname", "MTU", "PrefixLength", "Capabilities"]
) | st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}", fullmatch=True)  # fmt: skip
NAMESPACES = st.sampled_from([TDS, TT, "", "urn:x-garbage"])


@st.composite
def xml_tree(draw: st.DrawFn, depth: int = 3) -> etree._Element:
    ns = draw(NAMESPACES)
    el = etree.Element(f"{{{ns}}}{draw(NAMES)}" if ns else draw(NAMES))
    if draw(st.booleans()):
        el.set(draw(NAMES), draw(XML_TEXT))
    if depth > 0 and draw(st.booleans()):
        for _ in range(draw(st.integers(0, 3))):
            el.append(draw(xml_tree(depth - 1)))
    else:
        el.text = draw(XML_TEXT | st.sampled_from(["true", "1", "-1", "2024", "99999999999", "NaN", "", " "]))
    return el


@st.composite
def envelope_with_garbage(draw: st.DrawFn) -> bytes:
    """A valid SOAP 1.1/1.2 envelope whose Body holds a response element of a real or made-up name with
    random content (zeep then meets missing fields, wrong types, unknown children)."""
    soap = draw(st.sampled_from([SOAP12, SOAP11]))
    env = etree.Element(f"{{{soap}}}Envelope", nsmap={"s": soap, "tds": TDS, "tt": TT})
    if draw(st.booleans()):
        etree.SubElement(env, f"{{{soap}}}Header").append(draw(xml_tree(1)))
    body = etree.SubElement(env, f"{{{soap}}}Body")
    if draw(st.booleans()):
        resp = etree.SubElement(body, f"{{{TDS}}}{draw(st.sampled_from(OPS))}Response")
        for _ in range(draw(st.integers(0, 4))):
            resp.append(draw(xml_tree()))
    else:
        for _ in range(draw(st.integers(0, 2))):
            body.append(draw(xml_tree()))
    encoding = draw(st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1"]))
    return bytes(etree.tostring(env, xml_declaration=draw(st.booleans()), encoding=encoding))


FAULTS = st.one_of(
    st.builds(fault12, st.sampled_from(["Sender", "Receiver", "VersionMismatch", "x"]),
              st.sampled_from(["NotAuthorized", "ActionNotSupported", "InvalidArgs", "OperationProhibited",
                               "InvalidArgVal", "Garbage"]) | st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
              XML_TEXT | st.sampled_from(["Sender not Authorized", "locked out", "Method not implemented"])),
    st.builds(fault11, st.sampled_from(["Client", "Server"]), XML_TEXT | st.just("ter:NotAuthorized"), XML_TEXT),
)  # fmt: skip


@st.composite
def mangled_fixture(draw: st.DrawFn) -> bytes:
    """A real camera reply, truncated or with a slice overwritten by random bytes."""
    raw = draw(st.sampled_from(fixture_bodies()))
    cut = draw(st.integers(0, len(raw)))
    if draw(st.booleans()):
        return raw[:cut]
    return raw[:cut] + draw(st.binary(max_size=16)) + raw[cut + draw(st.integers(0, 16)) :]


BODIES = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=256).map(str.encode),
    st.sampled_from(
        [b"", b"<", b"<html><body>401 Unauthorized</body></html>", b'{"error": 1}', b"\xff\xfe<\x00"]
    ),
    envelope_with_garbage(),
    FAULTS,
    mangled_fixture(),
)
HEADERS = st.tuples(
    st.sampled_from(
        [("Content-Type", "application/soap+xml; charset=utf-8"), ("Content-Type", "text/xml"),
         ("Content-Type", "text/html"), ("Content-Type", "application/soap+xml; charset=utf-16"),
         ("Content-Type", "garbage/;;;"), ("X-Nothing", "1")]
    ),
    st.sampled_from(
        [("X-Nothing", "2"), ("WWW-Authenticate", 'Digest realm="cam", nonce="abc", qop="auth"'),
         ("WWW-Authenticate", 'Digest realm="cam", nonce="n", stale=true'), ("WWW-Authenticate", "Basic realm=x"),
         ("WWW-Authenticate", "Digest ,,,=")]
    ),
    st.sampled_from([("X-Nothing", "3"), ("Date", "Tue, 15 Nov 1994 08:12:31 GMT"), ("Date", "yesterday")]),
)  # fmt: skip
REPLIES = st.builds(
    Reply,
    status=st.sampled_from([200, 200, 200, 400, 401, 403, 404, 405, 500, 502, 503]),
    body=BODIES,
    headers=HEADERS,
    mode=st.sampled_from(["full", "full", "full", "truncated", "reset"]),
)
PLANS = st.builds(Plan, reply=REPLIES, target=st.sampled_from(["*", *OPS]))


# ---- the camera --------------------------------------------------------------------------------------
class ReplayCamera:
    """An aiohttp app on 127.0.0.1 (own thread and loop) answering every request from the current Plan."""

    def __init__(self) -> None:
        self.plan = Plan(Reply())
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        m = _OP_RE.search(data)
        op = m.group(1).decode() if m else "?"
        self.plan.seen.append(op)
        reply = self.plan.reply if self.plan.target in ("*", op) else fixture_reply(op)
        transport = request.transport
        if reply.mode == "reset" and transport is not None:
            transport.close()
            raise asyncio.CancelledError  # aiohttp drops the connection without writing anything
        resp = web.StreamResponse(status=reply.status)
        for name, value in reply.headers:
            resp.headers.add(name, value)
        if reply.mode == "truncated":
            resp.content_length = len(reply.body) + 64
            await resp.prepare(request)
            await resp.write(reply.body)
            if transport is not None:
                transport.close()
            return resp
        resp.content_length = len(reply.body)
        await resp.prepare(request)
        await resp.write(reply.body)
        await resp.write_eof()
        return resp


@contextmanager
def replay_camera() -> Iterator[ReplayCamera]:
    cam = ReplayCamera()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", cam.handle)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handle_signals=False)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    cam.port = int(runner.addresses[0][1])
    thread = threading.Thread(target=loop.run_forever, name="fuzz-onvif", daemon=True)
    thread.start()
    try:
        yield cam
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
