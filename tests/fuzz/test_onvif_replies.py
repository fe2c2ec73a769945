"""Hypothesis on the agent's ONVIF reply path: whatever a camera answers, a value or a CameraError comes out."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.actions.conn import CameraConn
from agent.credentials import Credentials
from agent.errors import CameraError, ProtocolError
from agent.http import HttpPool
from agent.inventory import ERROR_CLASSES, Inventory
from agent.onvif_session import OnvifSession
from protos.camfleet.v1 import camfleet_pb2 as pb
from tests.fuzz.soap_replies import PLANS, Plan, ReplayCamera, Reply, fault12, replay_camera

pytestmark = pytest.mark.integration

FUZZ = settings(
    # CAMFLEET_FUZZ_EXAMPLES raises the bound for a longer hunt (e.g. 2000 nightly); 100 keeps CI fast.
    max_examples=int(os.environ.get("CAMFLEET_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)
CREDS = Credentials("admin", "not-the-password")
#: Calls a sweep makes after connect(); every one must return or raise a CameraError.
CALLS = ("GetDeviceInformation", "GetScopes", "GetNetworkInterfaces", "GetDNS", "GetNTP", "GetHostname")


@pytest.fixture(scope="module")
def camera() -> Iterator[ReplayCamera]:
    with replay_camera() as cam:
        yield cam


def session(cam: ReplayCamera, pool: HttpPool) -> OnvifSession:
    # attempts=1: retries only repeat the same reply here; a short timeout bounds the truncated replies.
    return OnvifSession("127.0.0.1", cam.port, CREDS, timeout=2.0, attempts=1, pool=pool)


async def drive_session(cam: ReplayCamera) -> list[Any]:
    """connect(), then each call and capabilities(); collect what came out (values or CameraErrors)."""
    pool = HttpPool(concurrency=4)
    out: list[Any] = []
    try:
        async with session(cam, pool) as s:
            try:
                await s.connect()
            except CameraError as exc:
                out.append(exc)
            for op in CALLS:
                try:
                    out.append(await s.call(op, optional=op != "GetDeviceInformation"))
                except CameraError as exc:
                    out.append(exc)
            try:
                out.append(await s.capabilities())
            except CameraError as exc:
                out.append(exc)
    finally:
        await pool.close()
    return out


async def drive_inventory(cam: ReplayCamera) -> pb.CameraRecord:
    pool = HttpPool(concurrency=4)
    try:
        async with session(cam, pool) as s:
            conn = CameraConn(camera_id="fuzz-cam", host="127.0.0.1", port=cam.port, session=s)
            result = await Inventory(conn, agent_id="fuzz", vendor_apis=False).run()
    finally:
        await pool.close()
    return result.record


def run_with(cam: ReplayCamera, plan: Plan, coro: Any) -> Any:
    cam.plan = plan
    return asyncio.run(asyncio.wait_for(coro(cam), timeout=60))


@given(plan=PLANS)
@example(plan=Plan(Reply(200, b"")))
@example(plan=Plan(Reply(200, b"<s:Envelope", mode="truncated")))
@example(plan=Plan(Reply(200, b"", mode="reset"), target="GetDeviceInformation"))
@example(plan=Plan(Reply(500, fault12("Sender", "NotAuthorized", "Sender not Authorized"))))
@example(plan=Plan(Reply(401, b"", (("WWW-Authenticate", 'Digest realm="x", nonce="1", qop="auth"'),))))
@FUZZ
def test_session_ends_in_a_value_or_a_camera_error(camera: ReplayCamera, plan: Plan) -> None:
    out = run_with(camera, plan, drive_session)
    assert plan.seen, "the session never asked the camera"
    assert len(out) >= len(CALLS) + 1
    for item in out:
        if isinstance(item, CameraError):
            # classified: one of DESIGN.md's classes, with a message and where it happened
            assert item.error_class in ERROR_CLASSES and item.message and item.host == "127.0.0.1"


@given(plan=PLANS)
@example(plan=Plan(Reply(200, b"<html>login</html>", (("Content-Type", "text/html"),))))
@FUZZ
def test_inventory_records_every_reply_as_data_or_a_classified_error(
    camera: ReplayCamera, plan: Plan
) -> None:
    rec = run_with(camera, plan, drive_inventory)
    assert rec.camera_id == "fuzz-cam"
    for err in rec.errors:
        assert err.error_class != pb.ERROR_CLASS_UNSPECIFIED and err.operation


@given(junk=st.binary(max_size=200))
@settings(FUZZ, max_examples=30)
def test_non_xml_reply_is_a_protocol_error_with_the_raw_body(camera: ReplayCamera, junk: bytes) -> None:
    """A camera answering GetDeviceInformation with 200 and non-XML is a protocol error for that call,
    carrying the raw reply for the fixture line; the session stays usable. (A non-XML 500 is the web server
    failing -> Unreachable, and a non-XML 400/401 to a login -> AuthFailed: agent/onvif_transport.py.)"""
    body = b"not xml \x00" + junk
    plan = Plan(Reply(200, body, (("Content-Type", "text/xml"),)), target="GetDeviceInformation")

    async def one(cam: ReplayCamera) -> tuple[BaseException | None, Any]:
        pool = HttpPool(concurrency=2)
        try:
            async with session(cam, pool) as s:
                await s.connect()
                try:
                    await s.call("GetDeviceInformation")
                except CameraError as exc:
                    err: BaseException | None = exc
                else:
                    err = None
                return err, await s.call("GetHostname")
        finally:
            await pool.close()

    err, hostname = run_with(camera, plan, one)
    assert isinstance(err, ProtocolError) and err.operation == "GetDeviceInformation", err
    assert err.raw == body
    assert hostname is not None  # the next call on the same session still works
