"""Cheap checks between full reads: which cameras need a re-read, and that they never send a credential."""

from __future__ import annotations

import asyncio

from agent.credentials import Credentials
from agent.fleet import CameraFleet, camera_id_of
from agent.liveness import Checker, Sign, read_sign, reply_complete
from agent.targets import Target
from tests.agent.conftest import make_test_camera, run_fleet
from tests.timing import scaled


async def test_check_flags_reachability_and_identity_changes_only() -> None:
    cams = [
        make_test_camera(p, address=f"127.0.19.{i + 1}")
        for i, p in enumerate(("hikvision", "dahua", "generic"))
    ]
    async with run_fleet(cams) as fleet_sim:
        targets = [Target(t.host, t.port, t.credentials) for t in fleet_sim.targets]
        ids = [camera_id_of(t.host, t.port) for t in targets]
        async with CameraFleet(targets, concurrency=4, timeout=3.0) as fleet:
            records = await fleet.inventory()
            assert all(r.reachable for r in records)
            requests = {c.id: fleet_sim.server.traffic[c.id]["requests"] for c in cams}
            assert await fleet.check() == []  # learns each camera's sign
            assert await fleet.check() == []  # nothing changed
            # One request per camera per check, and no login attempt among them.
            assert {c.id: fleet_sim.server.traffic[c.id]["requests"] - requests[c.id] for c in cams} == {
                c.id: 2 for c in cams
            }
            assert all(c.auth_failures == {} or not any(c.auth_failures.values()) for c in cams)

            # A camera that stops answering, then one whose web stack presents itself differently (another
            # device at its address: here a Hikvision web server where a Dahua one was), each need a full read.
            cams[0].faults.drop_rate = 1.0
            assert await fleet.check() == [ids[0]]
            await fleet.inventory([ids[0]])  # the daemon re-reads it: now recorded as unreachable
            assert await fleet.check() == []
            cams[0].faults.drop_rate = 0.0
            cams[1].identity.personality = "hikvision"
            assert sorted(await fleet.check()) == sorted([ids[0], ids[1]])
            await fleet.inventory([ids[0], ids[1]])
            # The check itself never carries credentials: wrong ones change nothing.
            await fleet.set_credentials(ids[2], Credentials("admin", "wrong-password"))
            assert await fleet.check() == []
            assert not any(getattr(cams[2], "auth_failures", {}).values())


def test_sign_of_odd_replies() -> None:
    ok = read_sign(
        b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\n\r\n<s:Envelope xmlns:s='urn:s' xmlns:hik='urn:h'/>"
    )
    assert ok == Sign(True, 200, "App-webs/", "", frozenset({"urn:s", "urn:h"}))
    challenge = read_sign(
        b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm="Login to 9F", nonce="1"\r\n\r\n'
    )
    assert challenge.reachable and challenge.realm == "Login to 9F"
    assert not read_sign(b"HTTP/1.1 403 Forbidden\r\n\r\n").reachable  # our address is filtered out
    assert not read_sign(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").reachable
    assert read_sign(b"\x00\x01garbage").reachable  # something answers: a device is there
    assert read_sign(b"HTTP/1.1 200 OK\r\n\r\n<cut").namespaces == frozenset()


def test_reply_framing() -> None:
    assert reply_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    assert not reply_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab")
    assert reply_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert not reply_complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert not reply_complete(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil the socket closes")
    assert not reply_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n")


async def test_a_server_that_keeps_the_connection_open_still_answers_a_check() -> None:
    """Connection: close ignored: the check ends at Content-Length (waiting for the socket to close would end in
    the check's timeout, which reads as unreachable)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"</s:Envelope>")
        body = b"<s:Envelope xmlns:s='urn:s'/>"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        await asyncio.sleep(scaled(60))  # never closes on its own

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sign = await Checker(asyncio.Semaphore(1), timeout=scaled(10)).sign("127.0.0.1", port)
        assert sign.reachable and sign.namespaces == frozenset({"urn:s"})
    finally:
        server.close()
