"""The zeep-free read path converts every reply the zeep path converts: the same CameraError class or the same value.

Two levels: the reply interpreters side by side on recorded and generated replies (thousands of cases per second,
no network), and both OnvifSession read paths against the replaying camera (statuses, digest challenges, truncated
and reset replies, retries).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from multidict import CIMultiDict, CIMultiDictProxy

from agent import onvif_read
from agent.errors import CameraError
from agent.http import Banner, CameraHttp, HttpPool, HttpReply
from agent.onvif_decode import Obj
from agent.onvif_faults import convert
from agent.onvif_session import DEVICE_BINDING, OnvifSession, device_document
from agent.onvif_transport import _to_requests, check_reply, parse_reply
from tests.fuzz.soap_replies import (
    BODIES,
    HEADERS,
    PLANS,
    SOAP_CT,
    Plan,
    ReplayCamera,
    Reply,
    fault11,
    fault12,
    fixture_bodies,
    replay_camera,
)
from tests.fuzz.test_onvif_replies import CREDS, FUZZ

pytestmark = pytest.mark.integration

#: Read operations the session sends on the fast path (every one of agent.onvif_read.READ_OPS).
READ_OPS = sorted(onvif_read.READ_OPS)


def plain(value: Any) -> Any:
    """A comparable form of what either path returns (value objects, lists, leftover lxml elements)."""
    from zeep.xsd import CompoundValue

    if isinstance(value, Obj):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, CompoundValue):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, list | tuple | deque):
        return [plain(v) for v in value]
    if isinstance(value, etree._Element):
        return etree.tostring(value)
    if isinstance(value, etree.QName):
        return value.text
    return value


def outcome(fn: Any) -> Any:
    try:
        return ("value", plain(fn()))
    except CameraError as exc:
        return ("error", exc.error_class, type(exc).__name__, exc.operation)


class _Http:
    """What check_reply needs of a CameraHttp (status mapping only uses the host)."""

    host = "127.0.0.1"
    check = CameraHttp.check

    def __init__(self) -> None:
        self.banner = Banner()


@functools.cache
def _zeep() -> tuple[Any, Any, onvif_read.ReadPath]:
    from onvif.client import ZeepAsyncClient
    from onvif.settings import DEFAULT_SETTINGS

    async def load() -> tuple[Any, Any, onvif_read.ReadPath]:
        document = await device_document()
        client = ZeepAsyncClient(wsdl=document, settings=DEFAULT_SETTINGS)
        return client, document.bindings[DEVICE_BINDING], await onvif_read.read_path()

    return asyncio.run(load())


def both(
    op: str, status: int, body: bytes, headers: tuple[tuple[str, str], ...], optional: bool
) -> tuple[Any, Any]:
    client, binding, path = _zeep()
    reply = HttpReply(
        status, CIMultiDictProxy(CIMultiDict(headers)), body, "http://127.0.0.1/onvif/device_service"
    )

    def old() -> Any:
        # What CameraTransport hands zeep: the reply, or its SOAP 1.2 rewrite when the camera spoke SOAP 1.1.
        _root, body12 = parse_reply(_Http(), reply, operation=op, authenticate=True)  # type: ignore[arg-type]
        seen = reply if body12 is reply.body else dataclasses.replace(reply, body=body12)
        try:
            return binding.process_reply(client, binding.get(op), _to_requests(seen))
        except Exception as exc:
            raise convert(exc, host="127.0.0.1", operation=op, optional=optional, raw=body) from exc

    def new() -> Any:
        root = check_reply(_Http(), reply, operation=op, authenticate=True)  # type: ignore[arg-type]
        return path.interpret(op, reply, root, host="127.0.0.1", optional=optional)

    return outcome(old), outcome(new)


@functools.cache
def _wellformed_fixtures() -> list[tuple[str, bytes]]:
    """(operation, body) of every recorded reply that parses, named after the operation it answers."""
    from agent.xmlsafe import SOAP_PARSER
    from tests.fuzz.soap_replies import FIXTURES

    out = []
    for p in sorted(FIXTURES.glob("*.xml")):
        op = p.stem.removeprefix("device.")
        try:
            etree.fromstring(p.read_bytes(), SOAP_PARSER)
        except etree.XMLSyntaxError:
            continue
        out.append((op if op in onvif_read.READ_OPS else "GetDeviceInformation", p.read_bytes()))
    assert out
    return out


GARBAGE = st.sampled_from(["", " ", "NaN", "-1", "2024", "99999999999", " true ", "TRUE", "1", "0", "x\ty", "1e3",
                           "http://x/ y", "Discoverable", "NoUpdate", "Administrator"])  # fmt: skip


@st.composite
def mutated_reply(draw: st.DrawFn) -> tuple[str, bytes]:
    """A recorded reply with its tree edited where zeep's lenient reading matters: a leaf's text replaced, an
    element removed, repeated, moved last, preceded by an unknown sibling, emptied or given an attribute."""
    from agent.xmlsafe import SOAP_PARSER

    op, body = draw(st.sampled_from(_wellformed_fixtures()))
    root = etree.fromstring(body, SOAP_PARSER)
    for _ in range(draw(st.integers(1, 3))):
        elements = [e for e in root.iter() if isinstance(e.tag, str) and e is not root]
        if not elements:
            break
        el = draw(st.sampled_from(elements))
        parent = el.getparent()
        how = draw(st.sampled_from(["text", "text", "remove", "repeat", "last", "unknown", "empty", "attr"]))
        if how == "text":
            leaves = [e for e in elements if len(e) == 0]
            draw(st.sampled_from(leaves or elements)).text = draw(GARBAGE)
        elif how == "remove" and parent is not None:
            parent.remove(el)
        elif how == "repeat" and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif how == "last" and parent is not None:
            parent.append(el)
        elif how == "unknown" and parent is not None:
            ns = draw(st.sampled_from(["", etree.QName(el).namespace or ""]))
            parent.insert(parent.index(el), etree.Element(f"{{{ns}}}Vendor" if ns else "Vendor"))
        elif how == "empty":
            for child in list(el):
                el.remove(child)
            el.text = None
        else:
            el.set(draw(st.sampled_from(["token", "Type", "HttpDigest", "NTP", "x"])), draw(GARBAGE))
    return draw(st.sampled_from([op, op, *READ_OPS])), bytes(etree.tostring(root, xml_declaration=True,
                                                                             encoding="UTF-8"))  # fmt: skip


STATUSES = st.sampled_from([200, 200, 200, 201, 202, 400, 401, 403, 404, 500, 503])


@pytest.mark.parametrize("op", READ_OPS)
def test_recorded_replies_read_the_same(op: str) -> None:
    """Every recorded reply (some broken the way real cameras are), as the answer to every read operation."""
    for body in fixture_bodies():
        for status in (200, 400, 500):
            old, new = both(op, status, body, SOAP_CT, optional=True)
            assert new == old, (op, status, body[:200])


@given(op=st.sampled_from(READ_OPS), status=STATUSES, body=BODIES, headers=HEADERS, optional=st.booleans())
@example(op="GetScopes", status=200, body=fault12("Sender", "NotAuthorized", "x"), headers=(), optional=True)
@example(
    op="GetUsers", status=500, body=fault11("Client", "ter:NotAuthorized", "no"), headers=(), optional=False
)
@example(op="GetNTP", status=200, body=b"  \n", headers=(), optional=True)
@example(op="GetDNS", status=202, body=b"", headers=(), optional=True)
@FUZZ
def test_generated_replies_read_the_same(
    op: str, status: int, body: bytes, headers: tuple[tuple[str, str], ...], optional: bool
) -> None:
    old, new = both(op, status, body, headers, optional)
    assert new == old


@given(reply=mutated_reply(), optional=st.booleans())
@settings(FUZZ, max_examples=FUZZ.max_examples * 5)  # no network: 500 cases take a few seconds
def test_edited_recorded_replies_read_the_same(reply: tuple[str, bytes], optional: bool) -> None:
    op, body = reply
    old, new = both(op, 200, body, SOAP_CT, optional)
    assert new == old


# ---- both sessions against the replaying camera -------------------------------------------------------
@pytest.fixture(scope="module")
def camera() -> Iterator[ReplayCamera]:
    with replay_camera() as cam:
        yield cam


async def _drive(cam: ReplayCamera, path: str) -> list[Any]:
    pool = HttpPool(concurrency=4)
    out: list[Any] = []
    try:
        s = OnvifSession("127.0.0.1", cam.port, CREDS, timeout=2.0, attempts=1, pool=pool, read_path=path)  # type: ignore[arg-type]
        async with s:
            for op in ("connect", *READ_OPS):
                try:
                    if op == "connect":
                        await s.connect()
                        out.append(("connected", s.auth_scheme, s.clock_source))
                    else:
                        params = {"IncludeCapability": False} if op == "GetServices" else {}
                        value = await s.call(op, optional=op != "GetDeviceInformation", **params)
                        out.append(("value", plain(value)))
                except CameraError as exc:
                    out.append(("error", exc.error_class, type(exc).__name__, exc.operation))
    finally:
        await pool.close()
    return out


@given(plan=PLANS)
@example(plan=Plan(Reply(200, b"", mode="truncated")))
@example(plan=Plan(Reply(401, b"", (("WWW-Authenticate", 'Digest realm="x", nonce="1", qop="auth"'),))))
@FUZZ
def test_sessions_on_both_paths_end_the_same(camera: ReplayCamera, plan: Plan) -> None:
    results = []
    for path in ("zeep", "fast"):
        camera.plan = Plan(plan.reply, plan.target)
        results.append(asyncio.run(asyncio.wait_for(_drive(camera, path), timeout=60)))
    assert results[1] == results[0]
